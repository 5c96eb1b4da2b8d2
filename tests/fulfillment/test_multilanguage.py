"""Multi-language turns: a question in Spanish is matched in English and answered in Spanish,
the user's language lasts the session, and curated ifLang branches are not translated again."""

from __future__ import annotations

import json

from fulfillment.handler import lambda_handler
from fulfillment.languages import Detected, FastTextDetector, LanguageError
from fulfillment.multilanguage import NO_TRANSLATOR, MultiLanguage

from .conftest import MemorySettingsRepo, build_kb, make_pipeline, make_services
from .lex_events import first_text, text_event

ON = {"ENABLE_MULTI_LANGUAGE_SUPPORT": True}
SPANISH = {"¿Qué es un Amazon Echo Show?": "What is an Amazon Echo Show"}


class DictTranslator:
    """Knows a few questions; translates anything else into English by marking it."""

    def __init__(self, error=None):
        self.calls, self.error = [], error

    def translate(self, text, source, target, settings):
        self.calls.append((text, source, target))
        if self.error:
            raise self.error
        if text in SPANISH:
            return SPANISH[text]
        return f"[{target}] {text}"


class CountingDetector:
    def __init__(self, found=()):
        self.found, self.texts = list(found), []

    def detect(self, text):
        self.texts.append(text)
        return self.found


def _ask(kb, use_service, languages, text, attributes=None, **settings):
    services = make_services(kb)
    services.languages = languages
    from fulfillment.pipeline import TurnPipeline

    use_service(TurnPipeline(services), MemorySettingsRepo(**ON, **settings))
    return lambda_handler(text_event(text, session_attributes=attributes), None)


def _context(response) -> dict:
    return json.loads(response["sessionState"]["sessionAttributes"]["qnabotcontext"])


def test_a_spanish_question_is_matched_in_english_and_answered_in_spanish(kb, use_service):
    translator = DictTranslator()
    response = _ask(kb, use_service, MultiLanguage(FastTextDetector(), translator),
                    "¿Qué es un Amazon Echo Show?")
    attributes = response["sessionState"]["sessionAttributes"]
    assert attributes["qnabot_qid"] == "Alexa.001"
    assert first_text(response).startswith("[es] ")
    assert ("¿Qué es un Amazon Echo Show?", "es", "en") in translator.calls
    context = _context(response)
    assert context["userLocale"] == "es" and context["userDetectedLocale"] == "es"


def test_with_the_setting_off_nothing_is_detected_or_translated(kb, settings):
    detector, translator = CountingDetector([Detected("es", 0.99)]), DictTranslator()
    pipeline = make_pipeline(kb)
    pipeline.services.languages = MultiLanguage(detector, translator)
    from fulfillment.model import Request

    turn = pipeline.run(Request("s1", "What is an Amazon Echo Show"), settings)
    assert turn.answer.qid == "Alexa.001"
    assert detector.texts == [] and translator.calls == []


def test_an_english_question_costs_no_translation(kb, use_service):
    translator = DictTranslator()
    response = _ask(kb, use_service, MultiLanguage(FastTextDetector(), translator),
                    "What is an Amazon Echo Show")
    assert "Echo Show" in first_text(response) and translator.calls == []
    assert _context(response)["userLocale"] == "en"


def test_a_curated_iflang_branch_is_given_as_written(tmp_path, use_service):
    kb = build_kb(tmp_path / "k.sqlite", [{
        "qid": "Hours.001", "q": ["What are your opening hours?"],
        "a": "{{#ifLang 'es'}}Abrimos todos los días de nueve de la mañana a cinco de la tarde."
             "{{/ifLang}}{{#defaultLang}}We are open every day from 9 to 5.{{/defaultLang}}"}],
        fixtures=False)
    translator = DictTranslator()
    SPANISH["¿Cuál es su horario de apertura?"] = "What are your opening hours?"
    response = _ask(kb, use_service, MultiLanguage(FastTextDetector(), translator),
                    "¿Cuál es su horario de apertura?")
    assert first_text(response) == \
        "Abrimos todos los días de nueve de la mañana a cinco de la tarde."
    assert all(target == "en" for _text, _source, target in translator.calls)


def test_without_a_translator_the_question_is_matched_as_asked_and_the_turn_says_why(
        kb, settings):
    from fulfillment.model import Request

    pipeline = make_pipeline(kb)
    pipeline.services.languages = MultiLanguage(CountingDetector([Detected("de", 0.98)]))
    turn = pipeline.run(Request("s1", "Was ist ein Amazon Echo Show"),
                        settings.with_overrides(**ON))
    assert NO_TRANSLATOR in turn.debug.degraded
    assert turn.debug.language == "de"
    assert kb.searches[0][0] == "Was ist ein Amazon Echo Show"


def test_the_users_preferred_language_lasts_the_session(kb, use_service):
    translator = DictTranslator()
    attributes = {"qnabotcontext": json.dumps({"userPreferredLocale": "fr"})}
    response = _ask(kb, use_service, MultiLanguage(FastTextDetector(), translator),
                    "What is an Amazon Echo Show", attributes)
    assert first_text(response).startswith("[fr] ")
    context = _context(response)
    assert (context["userPreferredLocale"], context["userLocale"]) == ("fr", "fr")


def test_protected_utterances_and_qid_questions_are_not_translated(kb, settings):
    from fulfillment.model import Request

    translator = DictTranslator()
    pipeline = make_pipeline(kb)
    pipeline.services.languages = MultiLanguage(CountingDetector([Detected("es", 0.9)]),
                                                translator)
    for question in ("thumbs up", "QID::Alexa.001"):
        pipeline.run(Request("s1", question), settings.with_overrides(**ON))
    assert [c for c in translator.calls if c[2] == "en"] == []


def test_a_failing_translation_keeps_the_original_words(kb, settings):
    from fulfillment.model import Request

    pipeline = make_pipeline(kb)
    pipeline.services.languages = MultiLanguage(
        CountingDetector([Detected("es", 0.95)]),
        DictTranslator(error=LanguageError("Amazon Translate could not translate: throttled")))
    turn = pipeline.run(Request("s1", "What is an Amazon Echo Show"),
                        settings.with_overrides(**ON))
    assert turn.answer.qid == "Alexa.001"
    assert any("throttled" in d for d in turn.debug.degraded)
