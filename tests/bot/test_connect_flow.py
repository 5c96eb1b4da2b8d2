"""The Amazon Connect contact flow: a loop of Lex turns on the live alias, in flow language."""

from __future__ import annotations

import pytest

from bot.connect_flow import ContactFlowError, bot_alias_arn, contact_flow

ALIAS = bot_alias_arn("us-east-1", "123456789012", "BOT1234567", "ALIAS12345")


def actions_by_id(flow):
    return {action["Identifier"]: action for action in flow["Actions"]}


def test_every_transition_leads_to_an_action_of_the_flow():
    flow = contact_flow(ALIAS)
    actions = actions_by_id(flow)
    assert flow["Version"] == "2019-10-30" and flow["StartAction"] in actions
    for action in flow["Actions"]:
        transitions = action["Transitions"]
        targets = [transitions.get("NextAction")] + [
            e["NextAction"] for e in transitions.get("Errors", ())]
        assert all(t in actions for t in targets if t), action["Identifier"]


def test_the_caller_greets_then_keeps_asking_with_the_bots_next_prompt():
    actions = actions_by_id(contact_flow(ALIAS, next_prompt_varname="my_prompt"))
    greeting, loop = actions["greeting"], actions["next-question"]
    assert greeting["Parameters"]["LexV2Bot"] == {"AliasArn": ALIAS}
    assert greeting["Transitions"]["NextAction"] == "next-question"
    assert loop["Parameters"]["SSML"] == "$.Lex.SessionAttributes.my_prompt"
    assert loop["Transitions"]["NextAction"] == "next-question"
    # Not understood twice in a row: say goodbye and hang up.
    assert actions["retry"]["Transitions"]["Errors"][0]["NextAction"] == "goodbye"
    assert actions["goodbye"]["Transitions"]["NextAction"] == "disconnect"


def test_a_bad_alias_or_prompt_variable_is_refused_with_what_to_fix():
    with pytest.raises(ContactFlowError, match="not a Lex V2 bot alias ARN"):
        contact_flow("arn:aws:lex:us-east-1:123456789012:bot/BOT1234567")
    with pytest.raises(ContactFlowError, match="CONNECT_NEXT_PROMPT_VARNAME"):
        contact_flow(ALIAS, next_prompt_varname="not a name")
