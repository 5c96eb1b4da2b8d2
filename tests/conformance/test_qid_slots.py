"""QID intents with slots (``tests/conformance/content/qid-slots.json``): Lex calls the dialog
code hook while it elicits the slots, and a slot with ``slotValueCached`` is asked once per
session, whichever intent needs it next."""

from __future__ import annotations

import json

from tests.fulfillment.lex_events import slot

from .conftest import context, said

GREET = "QID-INTENT-SlotDemo_dot_Greet"
FAREWELL = "QID-INTENT-SlotDemo_dot_Farewell"


def dialog(response: dict) -> dict:
    return response["sessionState"]["dialogAction"]


def slot_values(response: dict) -> dict:
    """The slots of the response's intent: name -> interpreted value (None when empty)."""
    return {name: value["value"]["interpretedValue"] if value else None
            for name, value in response["sessionState"]["intent"]["slots"].items()}


def greet_as_jane_from_paris(chat) -> list[dict]:
    """The greeting intent's slots elicited one by one, then fulfilled, as Lex plays it."""
    return [
        chat.elicit("Greet me by name", intent=GREET, slots={"firstname": None, "city": None}),
        chat.elicit("Jane", intent=GREET, slots={"firstname": "Jane", "city": None}),
        chat.elicit("Paris", intent=GREET, slots={"firstname": "Jane", "city": "Paris"}),
        chat.ask("Paris", intent=GREET, slots={"firstname": "Jane", "city": "Paris"}),
    ]


def test_the_first_qid_intent_elicits_its_slots_and_answers_with_their_values(conversation):
    asked, named, located, answered = greet_as_jane_from_paris(conversation())

    assert dialog(asked) == {"type": "ElicitSlot", "slotToElicit": "firstname"}
    assert dialog(named) == {"type": "ElicitSlot", "slotToElicit": "city"}
    assert dialog(located) == {"type": "Delegate"}
    assert located["sessionState"]["intent"]["state"] == "ReadyForFulfillment"
    for elicitation in (asked, named, located):  # Lex speaks the slot's prompt, never an answer
        assert "messages" not in elicitation
    assert said(answered) == "Hello Jane from Paris."
    assert dialog(answered) == {"type": "Close"}


def test_a_cached_slot_is_kept_in_the_session_and_a_non_cached_one_is_not(conversation):
    *_, located, answered = greet_as_jane_from_paris(conversation())

    for response in (located, answered):
        assert context(response)["slot"] == {"firstname": "Jane"}


def test_another_qid_intent_gets_the_cached_value_without_asking_again(conversation):
    chat = conversation()
    greet_as_jane_from_paris(chat)
    chat.ask("What does a slot cache keep")  # an ordinary question between the two

    filled = chat.elicit("Say goodbye to me", intent=FAREWELL,
                         slots={"firstname": None, "city": None})
    answered = chat.ask("Say goodbye to me", intent=FAREWELL,
                        slots={"firstname": "Jane", "city": None})

    assert dialog(filled) == {"type": "Delegate"}
    assert slot_values(filled) == {"firstname": "Jane", "city": None}  # city is not cached
    assert said(answered) == "Goodbye Jane. (cached: Jane)"


def test_a_required_slot_that_is_not_cached_is_asked_again_by_the_next_intent(conversation):
    chat = conversation()
    greet_as_jane_from_paris(chat)

    again = chat.elicit("Greet me by name", intent=GREET, slots={"firstname": None, "city": None})

    assert dialog(again) == {"type": "ElicitSlot", "slotToElicit": "city"}
    assert slot_values(again) == {"firstname": "Jane", "city": None}


def test_with_nothing_cached_the_intent_is_delegated_as_lex_filled_it(conversation):
    chat = conversation()
    event_slots = {"firstname": "Bob", "city": None}

    response = chat.elicit("Say goodbye to me", intent=FAREWELL, slots=event_slots)

    assert dialog(response) == {"type": "Delegate"}
    assert response["sessionState"]["intent"]["slots"] == {
        name: slot(value) for name, value in event_slots.items()}
    assert context(response)["slot"] == {"firstname": "Bob"}


def test_a_value_the_user_gives_replaces_the_cached_one(conversation):
    chat = conversation()
    greet_as_jane_from_paris(chat)

    response = chat.elicit("Say goodbye to me", intent=FAREWELL,
                           slots={"firstname": "Joan", "city": None})

    assert slot_values(response)["firstname"] == "Joan"
    assert context(response)["slot"] == {"firstname": "Joan"}


def test_a_dialog_hook_call_for_an_intent_of_no_item_is_delegated_unchanged(conversation):
    chat = conversation()
    chat.attributes = {"topic": "ferries", "custom": "kept"}

    response = chat.elicit("Book a table", intent="BookTable", slots={"people": "4"})

    assert dialog(response) == {"type": "Delegate"}
    assert response["sessionState"]["intent"]["name"] == "BookTable"
    assert response["sessionState"]["intent"]["slots"] == {"people": slot("4")}
    assert response["sessionState"]["sessionAttributes"] == {"topic": "ferries",
                                                             "custom": "kept"}


def test_a_cached_value_that_is_not_text_is_ignored(conversation):
    chat = conversation()
    chat.attributes = {"qnabotcontext": json.dumps({"slot": {"firstname": {"x": 1}}})}

    response = chat.elicit("Greet me by name", intent=GREET,
                           slots={"firstname": None, "city": None})

    assert dialog(response) == {"type": "ElicitSlot", "slotToElicit": "firstname"}


def test_a_fulfilled_turn_caches_too_when_lex_did_not_call_the_dialog_hook(conversation):
    """A bot built before its QID intents had the dialog code hook still remembers values."""
    chat = conversation()

    answered = chat.ask("Jane", intent=FAREWELL, slots={"firstname": "Jane", "city": None})

    assert said(answered) == "Goodbye Jane. (cached: )"  # cached from this turn on
    assert context(answered)["slot"] == {"firstname": "Jane"}
