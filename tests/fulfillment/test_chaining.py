"""Conditional chaining in the pipeline: slots in rules, QnABot's answer merge, and the
rule's sandbox."""

from __future__ import annotations

from fulfillment.chaining import merge_answers
from fulfillment.model import Answer, Request

from .conftest import build_kb, make_pipeline

ITEMS = [
    {"qid": "Pick", "q": ["Pick by color"], "a": "Colors: ",
     "conditionalChaining": "Slots.color ? Slots.color.toLowerCase() + ' color' : 'no color'"},
    {"qid": "Red", "q": ["red color"], "a": "Red is for ferries.",
     "sa": [{"text": "picked", "value": "red"}]},
    {"qid": "None", "q": ["no color"], "a": "No color was given."},
    {"qid": "Welcome", "q": ["Welcome me"], "a": "Hi {{SessionAttributes.picked}}. ",
     "conditionalChaining": "PreviousQuestion ? 'QID::Red' : 'no color'"},
]


def test_a_rule_reads_lex_slots_by_their_interpreted_value(tmp_path, settings):
    pipeline = make_pipeline(build_kb(tmp_path / "k.sqlite", ITEMS, fixtures=False))
    slots = {"color": {"shape": "Scalar", "value": {"originalValue": "RED",
                                                    "interpretedValue": "RED"}}}
    turn = pipeline.run(Request("s1", "Pick by color", slots=slots), settings)
    assert turn.answer.text == "Colors: Red is for ferries."
    assert turn.answer.qid == "Red"
    assert turn.answer.session_attributes == {"picked": "red"}
    assert turn.debug.chained == ["Red"]
    turn = pipeline.run(Request("s2", "Pick by color"), settings)
    assert turn.answer.text == "Colors: No color was given."


def test_qid_targets_and_the_previous_question_work(tmp_path, settings):
    pipeline = make_pipeline(build_kb(tmp_path / "k.sqlite", ITEMS, fixtures=False))
    first = pipeline.run(Request("s1", "Welcome me"), settings)
    assert first.answer.text == "Hi . No color was given."
    again = pipeline.run(Request("s1", "Welcome me", session_attributes={
        "qnabotcontext": {"previous": {"qid": "Red", "q": "Pick by color"}}}), settings)
    assert again.answer.qid == "Red"


def test_merge_joins_text_as_written_and_alternatives_only_when_both_have_them():
    first = Answer("A. ", "qna", qid="A", markdown="**A.**", ssml="<speak>A.</speak>")
    second = Answer("B.", "qna", qid="B", markdown="*B.*", ssml="<speak>B.</speak>",
                    topic="b")
    merged = merge_answers(first, second)
    assert (merged.text, merged.markdown, merged.ssml) == ("A. B.", "**A.**\n*B.*",
                                                           "<speak>A. B.</speak>")
    assert (merged.qid, merged.topic) == ("B", "b")
    plain = merge_answers(Answer("A. ", "qna"), second)
    assert (plain.markdown, plain.ssml) == ("*B.*", "<speak>B.</speak>")


class RuleFunction:
    """A chaining-rule Lambda that answers with a bare question (a JSON string)."""

    def __init__(self):
        self.names = []

    def invoke(self, function_name, payload):
        self.names.append(function_name)
        return "red color"


def test_a_lambda_arn_rule_may_answer_with_just_the_question(tmp_path, settings):
    arn = "arn:aws:lambda:us-east-1:123456789012:function:qna-pick-color"
    items = [*ITEMS, {"qid": "ByFunction", "q": ["Let the function pick"], "a": "Picked: ",
                      "conditionalChaining": f"Lambda::{arn}"}]
    function = RuleFunction()
    pipeline = make_pipeline(build_kb(tmp_path / "k.sqlite", items, fixtures=False),
                             hooks=function)
    turn = pipeline.run(Request("s1", "Let the function pick"), settings)
    assert function.names == [arn]
    assert turn.answer.text == "Picked: Red is for ferries."
