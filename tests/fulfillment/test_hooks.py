"""Lambda hooks: only items name them, only with the allowed prefix, QnABot's {req, res}."""

from __future__ import annotations

import io
import json

from botocore.stub import Stubber

from fulfillment.hooks import HookError, LambdaHookInvoker, function_name, hook_decision
from fulfillment.model import Request

from .conftest import build_kb, make_pipeline

HOOKED = {"qid": "Weather.1", "q": ["What is the weather today"], "a": "Let me check.",
          "l": "qna-weather", "args": ["Seattle"], "t": "Weather"}


class FakeInvoker:
    """Records hook invocations and replies like a hook that rewrites the message."""

    def __init__(self, reply=None, error=None):
        self.invocations = []
        self.reply = reply
        self.error = error

    def invoke(self, function_name, payload):
        self.invocations.append((function_name, payload))
        if self.error:
            raise self.error
        if self.reply is not None:
            return self.reply
        payload = json.loads(json.dumps(payload))
        payload["res"]["message"] = f"Sunny in {payload['res']['result']['args'][0]}."
        payload["res"]["session"]["forecast"] = {"high": 21}
        payload["res"]["card"] = {"send": True, "title": "Forecast",
                                  "buttons": [{"text": "Tomorrow", "value": "weather tomorrow"}]}
        return payload


def run(tmp_path, settings, item, invoker, text="What is the weather today", **request):
    kb = build_kb(tmp_path / "k.sqlite", [item], fixtures=False)
    return make_pipeline(kb, hooks=invoker).run(
        Request(session_id="s1", transcript=text, **request), settings)


def test_an_allowed_hook_gets_qnabots_req_res_event_and_changes_the_answer(tmp_path, settings):
    invoker = FakeInvoker()
    turn = run(tmp_path, settings, HOOKED, invoker)
    name, payload = invoker.invocations[0]
    assert name == "qna-weather"
    assert payload["req"]["question"] == "What is the weather today"
    assert payload["req"]["_type"] == "LEX"
    assert payload["res"]["result"]["qid"] == "Weather.1"
    assert payload["res"]["message"] == "Let me check."
    assert turn.answer.text == "Sunny in Seattle."
    assert turn.answer.session_attributes["forecast"] == '{"high": 21}'
    assert turn.answer.card.title == "Forecast"
    assert turn.debug.hook == "ran qna-weather"


def test_a_hook_outside_the_allowed_prefix_is_not_invoked(tmp_path, settings):
    invoker = FakeInvoker()
    turn = run(tmp_path, settings, {**HOOKED, "l": "arn:aws:lambda:us-east-1:1:function:rm-rf"},
               invoker)
    assert invoker.invocations == []
    assert turn.answer.text == "Let me check."
    assert "does not start with the allowed prefix" in turn.debug.hook


def test_qnabot_greeting_hook_runs_in_process_without_invoking_a_lambda(kb, settings):
    invoker = FakeInvoker()
    turn = make_pipeline(kb, hooks=invoker).run(
        Request(session_id="s1", transcript="What are lambda hooks"), settings)
    assert turn.answer.qid == "GreetingHookExample"
    assert turn.answer.text.split(", ", 1)[0] in ("good morning", "good afternoon",
                                                   "good evening")
    assert turn.answer.text.endswith("Lambda Hooks allow you to extend QnABot by returning "
                                     "dynamic answers.")
    assert invoker.invocations == []
    assert turn.debug.hook == "ran built-in QNA:ExampleJSLambdahook"


def test_a_qnabot_hook_that_needs_aws_is_skipped_and_the_item_answers(tmp_path, settings):
    invoker = FakeInvoker()
    turn = run(tmp_path, settings, {**HOOKED, "l": "QNA:ExamplePYTHONLambdaConnectCallback"},
               invoker)
    assert turn.answer.text == "Let me check."
    assert invoker.invocations == []
    assert "built-in hook QNA:ExamplePYTHONLambdaConnectCallback" in turn.debug.hook


def test_session_attributes_cannot_name_a_function_to_call(tmp_path, settings):
    invoker = FakeInvoker()
    plain = {"qid": "Plain.1", "q": ["What is the weather today"], "a": "No hook here."}
    run(tmp_path, settings, plain, invoker, session_attributes={
        "l": "qna-evil", "lambdahook": "qna-evil", "qnabotcontext": {"l": "qna-evil"}})
    assert invoker.invocations == []


def test_a_failing_hook_leaves_the_items_own_answer(tmp_path, settings):
    turn = run(tmp_path, settings, HOOKED, FakeInvoker(error=HookError("timed out")))
    assert turn.answer.text == "Let me check."
    assert "timed out" in turn.debug.hook


def test_a_hook_reply_that_is_not_req_res_leaves_the_items_answer(tmp_path, settings):
    turn = run(tmp_path, settings, HOOKED, FakeInvoker(reply="not an object"))
    assert turn.answer.text == "Let me check."


def test_the_prefix_is_checked_on_the_function_name_of_an_arn():
    assert function_name("arn:aws:lambda:eu-west-1:123456789012:function:qna-x:live") == "qna-x"
    assert not hook_decision("arn:aws:lambda:eu-west-1:1:function:other-qna-x", "qna-").invoke
    assert not hook_decision("qna-anything", "").invoke


def test_the_lambda_invoker_reports_a_function_error_clearly():
    import boto3

    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("invoke", {
            "StatusCode": 200, "FunctionError": "Unhandled",
            "Payload": io.BytesIO(b'{"errorMessage": "KeyError: city"}')})
        try:
            LambdaHookInvoker(client).invoke("qna-weather", {"req": {}, "res": {}})
        except HookError as exc:
            assert "qna-weather raised: KeyError: city" in str(exc)
        else:
            raise AssertionError("expected HookError")
