""""Did you mean" buttons: a question nothing answers alone offers its likeliest items, and a
tap answers the one chosen, through the Lex handler as the web UI and Connect use it."""

from __future__ import annotations

import json

import pytest

from fulfillment.handler import lambda_handler
from fulfillment.model import Request
from knowledge.matching import Hit, MatchParams, SearchResult
from knowledge.store import SearchField

from .conftest import build_kb, make_pipeline
from .lex_events import LexConversation, connect_voice_event, first_text

ITEMS = [
    {"qid": "Fares.Cash", "q": ["Can I pay with cash on the bus?", "How much does it cost?"],
     "a": "Yes, buses take cash with exact change.", "t": "fares"},
    {"qid": "Ferry.Fare", "q": ["What is the ferry fare?", "How much does it cost?"],
     "a": "The ferry costs $3.", "t": "ferry"},
    {"qid": "Fares.EvasionPenalties", "type": "text",
     "passage": "Fare inspectors check tickets on every line, at any hour of the day. A first "
                "violation is fined $75 and a second violation $150. Inspectors wear blue "
                "uniforms and carry a photo badge.",
     "refMarkdown": "[Fare Evasion Penalty Schedule](https://example.org/fare-evasion)"},
    {"qid": "CustomNoMatches", "q": ["no_hits"], "a": "Sorry, I don't know that.",
     "r": {"title": "Contact", "buttons": [{"text": "Call us", "value": "What is the phone number?"}]}},
]

#: The question no item answers alone, and the candidates' confidences the matcher gave it.
UNSURE = "what is the fine for a first violation"
CONFIDENCES = {"Fares.EvasionPenalties": 0.45, "Fares.Cash": 0.3, "Ferry.Fare": 0.12,
               "CustomNoMatches": 0.2}


class UnsureKB:
    """The knowledge base, except that :data:`UNSURE` gets :data:`CONFIDENCES` with no
    candidate passing (the matcher's own tests cover how confidences are computed)."""

    def __init__(self, kb):
        self.kb, self.store, self.embeddings = kb, kb.store, kb.kb.embeddings

    def search(self, query, settings, **kwargs):
        if query != UNSURE:
            return self.kb.search(query, settings, **kwargs)
        hits = []
        for qid, confidence in CONFIDENCES.items():
            item = self.store.get(qid)
            stage = SearchField.PASSAGES if item.kind == "text" else SearchField.QUESTIONS
            hits.append(Hit(item, stage, 0.4, 0.4, 0.2, 0.0,
                            item.passage if item.kind == "text" else item.questions[-1],
                            0.9, confidence=confidence))
        return SearchResult(query, "hybrid", hits, params=MatchParams.from_settings(settings))


@pytest.fixture
def kb(tmp_path):
    return UnsureKB(build_kb(tmp_path / "k.sqlite", ITEMS, fixtures=False))


def buttons(response):
    cards = [m["imageResponseCard"] for m in response["messages"]
             if m["contentType"] == "ImageResponseCard"]
    return cards[0] if cards else None


def test_no_answer_offers_the_likeliest_items_as_buttons_after_the_no_hits_answer(kb,
                                                                                use_service):
    use_service(make_pipeline(kb))
    reply = LexConversation(lambda_handler).ask(UNSURE)
    assert first_text(reply) == "Sorry, I don't know that."
    card = buttons(reply)
    assert card["title"] == "Did you mean one of these?"
    assert card["buttons"] == [
        {"text": "Fare Evasion Penalty Schedule", "value": "QID::Fares.EvasionPenalties"},
        {"text": "Can I pay with cash on the bus?", "value": "Can I pay with cash on the bus?"},
        {"text": "What is the ferry fare?", "value": "What is the ferry fare?"},
        {"text": "Call us", "value": "What is the phone number?"},  # the no_hits item's own
    ]
    app_context = json.loads(reply["sessionState"]["sessionAttributes"]["appContext"])
    assert [b["value"] for b in app_context["responseCard"]["genericAttachments"][0]["buttons"]] \
        == [b["value"] for b in card["buttons"]]  # the Lex web UI's copy of the card


def test_tapping_a_suggestion_answers_that_item(kb, use_service):
    use_service(make_pipeline(kb))
    conversation = LexConversation(lambda_handler)
    conversation.ask(UNSURE)
    reply = conversation.ask("Can I pay with cash on the bus?")
    assert first_text(reply) == "Yes, buses take cash with exact change."
    assert reply["sessionState"]["sessionAttributes"]["qnabot_qid"] == "Fares.Cash"


def test_tapping_a_passage_answers_its_sentences_for_the_question_asked_before(kb, use_service):
    use_service(make_pipeline(kb))
    conversation = LexConversation(lambda_handler)
    conversation.ask(UNSURE)
    reply = conversation.ask("QID::Fares.EvasionPenalties")
    text = first_text(reply)
    assert "$75" in text and "blue uniforms" not in text
    assert "https://example.org/fare-evasion" in json.dumps(reply)  # the link to the passage


def test_a_passage_asked_for_by_qid_without_a_question_before_is_answered_whole(kb, settings):
    turn = make_pipeline(kb).run(Request("s", "QID::Fares.EvasionPenalties"), settings)
    assert turn.answer.text == ITEMS[2]["passage"] and turn.answer.source == "text"


def test_voice_callers_get_no_suggestions(kb, use_service):
    use_service(make_pipeline(kb))
    reply = lambda_handler(connect_voice_event(UNSURE), None)
    assert "Sorry, I don't know that." in first_text(reply)
    assert buttons(reply) == {"title": "Contact", "buttons": [  # the no_hits item's own card
        {"text": "Call us", "value": "What is the phone number?"}]}


@pytest.mark.parametrize("overrides", [{"NO_HITS_SUGGESTIONS": 0},
                                       {"NO_HITS_SUGGESTION_MIN_CONFIDENCE": 0.5}])
def test_the_settings_turn_suggestions_off_or_raise_their_bar(kb, settings, overrides):
    turn = make_pipeline(kb).run(Request("s", UNSURE), settings.with_overrides(**overrides))
    assert turn.answer.source == "no_hits"
    assert turn.debug.suggestions == []
    assert [b.text for b in turn.answer.card.buttons] == ["Call us"]


def test_the_number_of_suggestions_and_the_title_follow_the_settings(kb, settings):
    turn = make_pipeline(kb).run(Request("s", UNSURE), settings.with_overrides(
        NO_HITS_SUGGESTIONS=1, NO_HITS_SUGGESTIONS_TITLE="Perhaps:"))
    assert turn.debug.suggestions == ["Fares.EvasionPenalties"]
    assert turn.answer.card.title == "Perhaps:"


def test_the_metrics_record_says_which_items_were_offered(kb, settings):
    from fulfillment.metrics import turn_record

    turn = make_pipeline(kb).run(Request("s", UNSURE), settings)
    assert turn_record(turn, settings)["suggested"] == \
        "Fares.EvasionPenalties,Fares.Cash,Ferry.Fare"
    answered = make_pipeline(kb).run(Request("s", "What is the ferry fare?"), settings)
    assert turn_record(answered, settings)["suggested"] == ""
