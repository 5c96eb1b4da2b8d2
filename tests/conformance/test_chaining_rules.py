"""Conditional chaining rules as QnABot evaluates them: expressions over the session, user
and slots, QID:: targets, Lambda rules, a bound on chain length, and unsafe rules refused."""

from __future__ import annotations

import json

from .conftest import context, markdown, said


def test_a_rule_reads_session_attributes_and_user_info(conversation):
    vip = conversation()
    vip.attributes["vip"] = "true"
    answer = vip.ask("Which greeting do I get")
    assert said(answer) == "Let me see. Welcome back, valued member."
    assert answer["sessionState"]["sessionAttributes"]["qnabot_qid"] == "Rules.Vip"
    # the first item has no markdown: the chained item's markdown is shown (QnABot's merge)
    assert markdown(answer) == "Welcome back, **valued member**."
    assert said(conversation().ask("Which greeting do I get")) == "Let me see. Hello there."


def test_chaining_stops_after_ten_chained_items(conversation):
    answer = conversation().ask("Start the loop")
    assert said(answer) == "a" + "ba" * 5
    assert context(answer)["previous"]["qid"] in ("Rules.Loop", "Rules.LoopAgain")


def test_a_lambda_rule_names_the_next_question(conversation, lambdas):
    answer = conversation().ask("Ask the rule function")
    assert said(answer) == "One moment. The function chose me."
    name, payload = lambdas.calls[0]
    assert name == "qna-chaining-rule"
    assert payload["req"]["question"] == "Ask the rule function"
    assert payload["res"]["result"]["qid"] == "Rules.Lambda"


def test_a_lambda_rule_outside_the_hook_prefix_is_not_called(conversation, lambdas,
                                                              settings_repo):
    settings_repo.save({"LAMBDA_HOOK_FUNCTION_PREFIX": "corp-"})
    answer = conversation().ask("Ask the rule function")
    assert said(answer) == "One moment."
    assert lambdas.calls == []


def test_a_rule_outside_the_safe_subset_is_refused_and_the_item_answers(conversation):
    answer = conversation().ask("Run unsafe rule")
    assert said(answer) == "Unsafe rule item."


def test_a_rule_reading_below_a_missing_attribute_leaves_the_item_answer(conversation):
    answer = conversation().ask("Rule with missing attribute")
    assert said(answer) == "Missing attribute item."


def test_chained_session_and_context_are_plain_lex_strings(conversation):
    answer = conversation().ask("Which greeting do I get")
    attributes = answer["sessionState"]["sessionAttributes"]
    assert all(isinstance(v, str) for v in attributes.values())
    assert json.loads(attributes["qnabotcontext"])["previous"]["qid"] == "Rules.Standard"


def test_each_chained_items_hook_runs_in_order_on_the_joined_answer(conversation, lambdas):
    answer = conversation().ask("Chain with hooks")
    assert [name for name, _ in lambdas.calls] == ["qna-upper", "qna-suffix"]
    assert lambdas.calls[0][1]["res"]["message"] == "first. second."
    assert said(answer) == "FIRST. SECOND. (two)"
