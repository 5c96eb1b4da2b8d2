"""The two multi-language steps of a turn (``ENABLE_MULTI_LANGUAGE_SUPPORT``), as QnABot runs
them: the question is matched in the knowledge base's language, the answer comes back in the
user's.

1. :meth:`MultiLanguage.prepare` (before matching): detect the question's language, choose the
   turn's language (:func:`fulfillment.languages.choose_locale`: the user's ``setLang``
   preference, else the detected language when confident, else ``BACKUP_LANGUAGE``), and, when
   it is not ``NATIVE_LANGUAGE``, translate the question into it. ``QID::`` questions and
   ``PROTECTED_UTTERANCES`` are never translated.
2. :meth:`MultiLanguage.localize` (after the templates, so ``{{#ifLang 'es'}}`` branches have
   been chosen): an answer not already in the user's language is translated: text, markdown,
   SSML (tags kept), the card's title and button labels (not their values, which are sent back
   as the user's reply).

The turn's language is kept in ``qnabotcontext`` as QnABot keeps it (``userLocale``,
``userDetectedLocale``, ``userDetectedLocaleConfidence``) so templates and the next turn see it.
Without a translator (none configured locally and no LLM), nothing is translated: the question
is matched as asked and the answer is given as written, and the turn's debug record says why.

Example:
    >>> step = MultiLanguage(detector=FixedDetector("es"), translator=None)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fulfillment.languages import (
    LanguageDetector,
    LanguageError,
    Translator,
    choose_locale,
    language_code,
    translate_markup,
)
from fulfillment.model import Answer, CardButton

log = logging.getLogger(__name__)

NO_TRANSLATOR = ("no translator is configured (Amazon Translate in AWS, or an LLM locally): "
                 "the question was matched as asked and the answer is given as written")


@dataclass
class MultiLanguage:
    """Language detection and translation for the turns of one process."""

    detector: LanguageDetector
    translator: Translator | None = None

    def prepare(self, state: Any) -> None:
        """Choose the turn's language and put the question in the knowledge base's."""
        settings = state.settings
        if not settings.get("ENABLE_MULTI_LANGUAGE_SUPPORT") or not state.question.strip():
            return
        native = language_code(settings.get("NATIVE_LANGUAGE"))
        context = state.request.context
        preferred = str(context.get("userPreferredLocale") or "")
        try:
            found = self.detector.detect(state.question)
        except LanguageError as exc:
            state.debug.degraded.append(f"language not detected: {exc}")
            log.warning("language detection failed, answering in %s: %s", native, exc)
            found = []
        choice = choose_locale(found, preferred=preferred, native=native,
                               minimum_confidence=float(settings.get("MINIMUM_CONFIDENCE_SCORE")),
                               backup=language_code(settings.get("BACKUP_LANGUAGE")))
        state.locale = choice.locale
        state.locale_context = {"userLocale": choice.locale,
                                "userDetectedLocale": choice.detected,
                                "userDetectedLocaleConfidence": round(choice.confidence, 4)}
        if preferred:
            state.locale_context["userPreferredLocale"] = preferred
        state.debug.language = choice.locale
        if choice.locale == native or _untranslatable(state.question, settings):
            return
        translated = self._translate(state, state.question, choice.locale, native)
        if translated is not None:
            state.debug.translated_question = translated
            state.question = translated

    def localize(self, state: Any, answer: Answer) -> Answer:
        """``answer`` in the turn's language, and the language kept in ``qnabotcontext``."""
        locale = getattr(state, "locale", "")
        if not locale:
            return answer
        answer = replace(answer, context={**state.locale_context, **answer.context})
        native = language_code(state.settings.get("NATIVE_LANGUAGE"))
        text = answer.text or answer.markdown
        source = self._language_of(text, native)
        if source == locale or not text.strip():
            return answer
        done: dict[str, str | None] = {}  # markdown is often the text again: translate once

        def translate(part: str) -> str | None:
            if part not in done:
                done[part] = self._translate(state, part, source, locale)
            return done[part]
        return _translated_answer(answer, translate)

    def _language_of(self, text: str, fallback: str) -> str:
        """The language an answer is written in (a curated ``ifLang`` branch may already be in
        the user's); the native language when detection fails."""
        try:
            found = self.detector.detect(text)
        except LanguageError:
            return fallback
        return found[0].code if found and found[0].score >= 0.5 else fallback

    def _translate(self, state: Any, text: str, source: str, target: str) -> str | None:
        if self.translator is None:
            if NO_TRANSLATOR not in state.debug.degraded:
                state.debug.degraded.append(NO_TRANSLATOR)
            return None
        try:
            return self.translator.translate(text, source, target, state.settings)
        except LanguageError as exc:
            state.debug.degraded.append(f"not translated from {source} to {target}: {exc}")
            log.warning("translation failed, keeping the original text: %s", exc)
            return None


def _untranslatable(question: str, settings: Any) -> bool:
    """``QID::`` questions and QnABot's protected utterances are never translated."""
    folded = " ".join(question.lower().split())
    protected = {p.strip().lower() for p in settings.get("PROTECTED_UTTERANCES") or []}
    return folded.startswith("qid::") or folded in protected


def _translated_answer(answer: Answer, translate: Callable[[str], str | None]) -> Answer:
    """Every field a user reads, translated; a field whose translation failed stays as it was."""
    def each(text: str, markup: bool = False) -> str:
        if not text.strip():
            return text
        if markup:
            return translate_markup(text, lambda part: translate(part) or part)
        return translate(text) or text

    card = answer.card
    if card is not None:
        card = replace(card, title=each(card.title), buttons=tuple(
            CardButton(each(button.text), button.value) for button in card.buttons))
    return replace(answer, text=each(answer.text), markdown=each(answer.markdown),
                   ssml=each(answer.ssml, markup=True), card=card)


def open_languages(llm: Any) -> MultiLanguage:
    """The adapters the environment asks for (``QNABOT_LANGUAGES`` = ``aws`` or ``local``).

    In Lambda (or with ``aws``): Amazon Comprehend and Amazon Translate. Locally: the fastText
    detector, and the configured LLM as translator when there is one. Nothing is loaded until
    a turn with ``ENABLE_MULTI_LANGUAGE_SUPPORT`` needs it.
    """
    import os

    from fulfillment.languages import (
        AmazonTranslator,
        ComprehendDetector,
        FastTextDetector,
        LLMTranslator,
    )

    choice = os.environ.get("QNABOT_LANGUAGES", "").strip().lower()
    if choice == "aws" or (not choice and os.environ.get("AWS_LAMBDA_FUNCTION_NAME")):
        return MultiLanguage(ComprehendDetector(), AmazonTranslator())
    translator = LLMTranslator(llm) if getattr(llm, "enabled", False) else None
    return MultiLanguage(FastTextDetector(), translator)
