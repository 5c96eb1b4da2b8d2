"""Language detection, translation and the choice of a turn's language, as QnABot makes it."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from fulfillment.languages import (
    AmazonTranslator,
    ComprehendDetector,
    Detected,
    FastTextDetector,
    LanguageError,
    LLMTranslator,
    choose_locale,
    language_code,
    translate_markup,
)
from fulfillment.llm.base import Generation
from knowledge.settings import Settings


def _client(service: str):
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    return client, Stubber(client)


@pytest.mark.parametrize(("text", "code"), [
    ("¿Cuánto cuesta el pase mensual?", "es"),
    ("Wie viel kostet die Monatskarte?", "de"),
    ("Combien coûte le pass mensuel ?", "fr"),
    ("月額パスはいくらですか？", "ja"),
    ("How much is a monthly pass?", "en"),
])
def test_the_local_detector_finds_the_language_of_short_questions(text, code):
    found = FastTextDetector().detect(text)
    assert found[0].code == code and found[0].score > 0.6


def test_comprehend_is_asked_and_its_languages_come_best_first():
    client, stub = _client("comprehend")
    stub.add_response("detect_dominant_language",
                      {"Languages": [{"LanguageCode": "fr", "Score": 0.2},
                                     {"LanguageCode": "es", "Score": 0.75}]},
                      {"Text": "hola amigos"})
    with stub:
        assert ComprehendDetector(client).detect("hola amigos") == \
            [Detected("es", 0.75), Detected("fr", 0.2)]


def test_a_comprehend_failure_is_a_language_error():
    client, stub = _client("comprehend")
    stub.add_client_error("detect_dominant_language", "ThrottlingException")
    with stub, pytest.raises(LanguageError, match="Comprehend"):
        ComprehendDetector(client).detect("hola")


def test_amazon_translate_uses_the_native_languages_terminology():
    client, stub = _client("translate")
    stub.add_response("list_terminologies", {"TerminologyPropertiesList": [
        {"Name": "brand-es", "SourceLanguageCode": "es"},
        {"Name": "brand-en", "SourceLanguageCode": "en"}]}, {})
    stub.add_response("translate_text", {"TranslatedText": "¿Qué es QnABot?",
                                         "SourceLanguageCode": "en", "TargetLanguageCode": "es"},
                      {"Text": "What is QnABot?", "SourceLanguageCode": "en",
                       "TargetLanguageCode": "es", "TerminologyNames": ["brand-en"]})
    settings = {"ENABLE_CUSTOM_TERMINOLOGY": True, "NATIVE_LANGUAGE": "English"}
    with stub:
        assert AmazonTranslator(client).translate("What is QnABot?", "en", "es", settings) == \
            "¿Qué es QnABot?"
    stub.assert_no_pending_responses()


def test_the_same_language_is_not_sent_to_translate():
    client, stub = _client("translate")
    with stub:  # no response queued: any call would fail
        assert AmazonTranslator(client).translate("Hi", "en", "en", Settings.defaults()) == "Hi"


class EchoLLM:
    enabled, name = True, "echo"

    def __init__(self, reply="<text>Hola</text>", error=None):
        self.reply, self.error, self.prompts = reply, error, []

    def generate(self, prompt, *, timeout, settings):
        self.prompts.append(prompt)
        if self.error:
            raise self.error
        return Generation(self.reply)


def test_the_llm_translates_when_no_translation_service_is_configured():
    llm = EchoLLM()
    assert LLMTranslator(llm).translate("Hello", "en", "es", Settings.defaults()) == "Hola"
    assert "from English into Spanish" in llm.prompts[0].text


def test_an_empty_llm_translation_is_an_error_not_an_empty_answer():
    with pytest.raises(LanguageError, match="empty"):
        LLMTranslator(EchoLLM("  ")).translate("Hello", "en", "es", Settings.defaults())


def test_markup_keeps_its_tags_and_translates_the_text_between():
    said = translate_markup('<speak>Hello <break time="1s"/> world</speak>',
                            lambda text: text.upper())
    assert said == '<speak>HELLO <break time="1s"/> WORLD</speak>'


@pytest.mark.parametrize(("found", "preferred", "expected"), [
    ([Detected("es", 0.97)], "", ("es", "es")),             # confident: the user's language
    ([Detected("es", 0.40)], "", ("en", "es")),             # not confident: backup language
    ([Detected("en", 0.99)], "", ("en", "en")),             # native language
    ([Detected("en", 0.99)], "fr", ("fr", "en")),           # a preference wins
    ([Detected("de", 0.5), Detected("fr", 0.3)], "fr", ("fr", "fr")),
    ([], "", ("en", "en")),
])
def test_the_turns_language_is_chosen_as_qnabot_chooses_it(found, preferred, expected):
    choice = choose_locale(found, preferred=preferred, native="en", minimum_confidence=0.6,
                           backup="en")
    assert (choice.locale, choice.detected) == expected


def test_language_names_and_codes():
    assert language_code("Spanish") == "es"
    assert language_code("spanish") == "es"
    assert language_code("fr") == "fr"
    assert language_code("Klingon") == "en"
