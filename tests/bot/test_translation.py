"""Each Lex locale in another language is trained on the questions translated into it."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from bot.definition import QNA_INTENT, build_definition
from bot.translation import AmazonUtteranceTranslator, batches
from knowledge.items import parse_item

ITEMS = [parse_item(raw) for raw in (
    {"qid": "Ferry.001", "q": ["Where is the ferry?", "ferry terminal"], "a": "Pier 3."},
    {"qid": "Bike.001", "q": ["Can I bring my bike?"], "a": "Yes.", "enableQidIntent": True},
)]
SPANISH = {"Where is the ferry": "Dónde está el ferry", "ferry terminal": "terminal del ferry",
           "Can I bring my bike": "Puedo llevar mi bicicleta"}


def fake_translate(texts, source, target):
    assert (source, target) == ("en", "es")
    return [SPANISH[text] for text in texts]


def test_a_spanish_locale_is_trained_on_spanish_questions_and_english_stays_as_written():
    definition = build_definition(ITEMS, ["en_US", "es_US"], translate=fake_translate)
    english, spanish = definition.locales
    assert set(english.slot_values) == {"Where is the ferry", "ferry terminal",
                                        "Can I bring my bike"}
    assert set(spanish.slot_values) == set(SPANISH.values())
    bike = next(i for i in spanish.intents if i.qid == "Bike.001")
    assert bike.utterances == ("Puedo llevar mi bicicleta",)
    assert next(i for i in spanish.intents if i.name == QNA_INTENT).utterances == \
        english.intents[0].utterances


def test_without_a_translator_every_locale_gets_the_questions_as_written():
    english, spanish = build_definition(ITEMS, ["en_US", "es_US"]).locales
    assert spanish.slot_values == english.slot_values


def test_questions_go_to_translate_in_batches_of_lines():
    client = boto3.client("translate", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response("translate_text", {
        "TranslatedText": "Dónde está el ferry\nterminal del ferry",
        "SourceLanguageCode": "en", "TargetLanguageCode": "es"},
        {"Text": "Where is the ferry\nferry terminal", "SourceLanguageCode": "en",
         "TargetLanguageCode": "es"})
    with stub:
        got = AmazonUtteranceTranslator(client)(["Where is the ferry", "ferry terminal"],
                                                "en", "es")
    assert got == ["Dónde está el ferry", "terminal del ferry"]
    stub.assert_no_pending_responses()


def test_a_batch_whose_lines_do_not_match_is_translated_line_by_line():
    client = boto3.client("translate", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    stub = Stubber(client)
    for text, reply in (("a\nb", "ab"), ("a", "x"), ("b", "y")):
        stub.add_response("translate_text", {"TranslatedText": reply, "SourceLanguageCode": "en",
                                             "TargetLanguageCode": "fr"},
                          {"Text": text, "SourceLanguageCode": "en", "TargetLanguageCode": "fr"})
    with stub:
        assert AmazonUtteranceTranslator(client)(["a", "b"], "en", "fr") == ["x", "y"]


def test_batches_stay_under_translates_byte_limit():
    texts = [f"question number {n} about the ferry" for n in range(2000)]
    found = batches(texts)
    assert sum(len(b) for b in found) == 2000 and len(found) > 1
    assert all(len("\n".join(b).encode()) <= 9000 for b in found)
