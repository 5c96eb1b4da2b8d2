"""The Lex bot definition built from the knowledge base."""

from __future__ import annotations

import pytest

from bot.definition import (
    PLACEHOLDER_VALUE,
    BotDefinitionError,
    build_definition,
    clean_utterance,
    parse_locales,
    qid_intent_name,
)
from knowledge.items import parse_item


def qna(qid, *questions, **extra):
    return parse_item({"qid": qid, "q": list(questions), "a": f"Answer of {qid}", **extra})


def test_every_question_becomes_a_sample_value_of_the_question_slot_type():
    definition = build_definition([qna("A.1", "Where is the gate?", "where is the GATE"),
                                   qna("B.1", "What's the Echo Show?")])
    [locale] = definition.locales
    assert locale.slot_values == ("What's the Echo Show", "Where is the gate")
    names = [intent.name for intent in locale.intents]
    assert names == ["QnaIntent", "FallbackIntent"]
    assert locale.intents[0].utterances == ("{qnaslot}",)
    assert locale.intents[1].parent_signature == "AMAZON.FallbackIntent"


def test_items_with_enable_qid_intent_get_their_own_intent():
    definition = build_definition([
        qna("Alexa.001", "Tell me about Alexa", "What is Alexa?", enableQidIntent=True),
        qna("Other.1", "Something else")])
    intents = {intent.name: intent for intent in definition.locales[0].intents}
    assert intents["QID-INTENT-Alexa_dot_001"].utterances == ("Tell me about Alexa",
                                                             "What is Alexa")
    assert intents["QID-INTENT-Alexa_dot_001"].qid == "Alexa.001"
    assert "QID-INTENT-Other_dot_1" not in intents


def test_duplicate_utterances_across_intents_are_refused_naming_both_intents():
    with pytest.raises(BotDefinitionError) as error:
        build_definition([qna("A.1", "Open the door", enableQidIntent=True),
                          qna("B.1", "open the door!", enableQidIntent=True),
                          qna("C.1", "Something", enableQidIntent=True)])
    message = str(error.value)
    assert 'the utterance "open the door" is in 2 intents' in message
    assert "QID-INTENT-A_dot_1, QID-INTENT-B_dot_1" in message


def test_a_qid_that_cannot_name_an_intent_is_refused_with_the_fix():
    with pytest.raises(BotDefinitionError, match='qid "bad/qid".*enableQidIntent'):
        build_definition([qna("bad/qid", "Hello", enableQidIntent=True)])


def test_each_locale_gets_its_voice():
    definition = build_definition([qna("A.1", "Hi")], ["en_US", "fr_CA"])
    assert [(loc.locale_id, loc.voice_id, loc.voice_engine) for loc in definition.locales] == [
        ("en_US", "Joanna", "neural"), ("fr_CA", "Gabrielle", "neural")]


def test_an_unknown_locale_is_refused_listing_the_supported_ones():
    with pytest.raises(BotDefinitionError, match="unsupported Lex locale xx_XX; use one of"):
        parse_locales("en_US, xx_XX")
    assert parse_locales("") == ("en_US",)
    assert parse_locales("fr_CA, en_US,fr_CA") == ("fr_CA", "en_US")


def test_an_empty_knowledge_base_still_makes_a_valid_bot():
    assert build_definition([]).locales[0].slot_values == (PLACEHOLDER_VALUE,)


def test_utterances_lose_the_punctuation_lex_rejects():
    assert clean_utterance("How much is it? ($5)") == "How much is it 5"
    assert clean_utterance("今日の天気は？") == "今日の天気は"
    assert qid_intent_name("A.B.1") == "QID-INTENT-A_dot_B_dot_1"


def test_the_dry_run_summary_counts_utterances_per_intent():
    definition = build_definition([qna("A.1", "One", "Two", enableQidIntent=True)])
    assert definition.summary() == {"locales": [{
        "locale": "en_US", "voice": "Joanna", "slot_values": 2,
        "intents": {"QnaIntent": 1, "FallbackIntent": 0, "QID-INTENT-A_dot_1": 2}}]}


def test_slot_types_and_slots_of_qid_intents_are_defined_from_items():
    from bot.definition import qid_slot_type_name

    items = [
        parse_item({"qid": "Size.Type", "type": "slottype", "slotTypeValues": [
            {"samplevalue": "small", "synonyms": "tiny"}, {"samplevalue": "large"}]}),
        parse_item({"qid": "Order.1", "q": ["Order a {size} coffee", "Coffee please"],
                    "a": "Ok.", "enableQidIntent": True,
                    "slots": [{"slotName": "size", "slotType": "Size.Type",
                               "slotRequired": True, "slotPrompt": "What size?"}]}),
    ]
    locale = build_definition(items).locales[0]
    (slot_type,) = locale.slot_types
    assert slot_type.name == qid_slot_type_name("Size.Type") == "QID-SLOTTYPE-Size_dot_Type"
    # Synonyms only count when values are restricted, as in QnABot.
    assert [(v.value, v.synonyms) for v in slot_type.values] == [("small", ()), ("large", ())]
    assert slot_type.resolution_strategy == "OriginalValue"
    intent = next(i for i in locale.intents if i.qid == "Order.1")
    assert intent.utterances == ("Order a {size} coffee", "Coffee please")
    assert [(s.name, s.slot_type, s.required, s.prompt) for s in intent.slots] == [
        ("size", "QID-SLOTTYPE-Size_dot_Type", True, "What size?")]
    assert "Order a size coffee" not in locale.slot_values  # placeholders stay out of QnaSlotType


@pytest.mark.parametrize(("slots", "message"), [
    ([], 'names the slot size, which its slots do not define'),
    ([{"slotName": "size"}], "slot 1 needs a slotName and a slotType"),
    ([{"slotName": "a size", "slotType": "AMAZON.Number"}], '"a size" cannot name a Lex slot'),
    ([{"slotName": "size", "slotType": "AMAZON.Number"}] * 2, "defines the slot size more than"),
])
def test_bad_slots_are_refused_before_lex_sees_them(slots, message):
    item = parse_item({"qid": "Order.1", "q": ["Order a {size} coffee"], "a": "Ok.",
                       "enableQidIntent": True, "slots": slots})
    with pytest.raises(BotDefinitionError, match=message):
        build_definition([item])


def test_a_slot_type_without_values_is_refused():
    item = parse_item({"qid": "Empty", "type": "slottype"})
    with pytest.raises(BotDefinitionError, match='slot type "Empty" has no slotTypeValues'):
        build_definition([item])
