"""Amazon Lex V2 code-hook events -> :class:`~fulfillment.model.Request`, and back for clients.

:func:`parse_event` reads what QnABot reads from a Lex V2 event (``sessionId``,
``inputTranscript``, ``inputMode``, ``bot.localeId``, ``sessionState.intent``,
``sessionState.sessionAttributes``, ``requestAttributes``) and tolerates everything else being
missing. A ``QID-INTENT-<qid>`` intent (``_dot_`` standing for ``.``) asks for one item.

:func:`make_event` builds the event Lex would send for a typed or spoken question; the CLI and
the content designer's chat use it to call the Lambda handler exactly as Lex does.

Example:
    >>> req = parse_event(make_event("What is Amazon Lex?", session_id="s1"))
    >>> req.transcript, req.channel
    ('What is Amazon Lex?', 'text')
    >>> parse_event(make_event("x", intent="QID-INTENT-Alexa_dot_001")).qid
    'Alexa.001'
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from fulfillment.model import Request
from knowledge.json_limits import check_nesting

#: Longest transcript considered; Lex itself accepts at most 1024 characters of text input.
MAX_TRANSCRIPT_CHARS = 1024
#: Session attribute values longer than this are kept as strings, never parsed as JSON.
MAX_JSON_ATTRIBUTE_CHARS = 100_000
QID_INTENT_PREFIX = "QID-INTENT-"
ACCEPT_CONTENT_TYPES = "x-amz-lex:accept-content-types"
_INPUT_MODES = {"text": "Text", "speech": "Speech", "dtmf": "DTMF"}


class MalformedEventError(ValueError):
    """The event is not a Lex V2 code-hook event; the message says which field is wrong."""


def qid_from_intent(intent_name: str) -> str:
    """The qid a ``QID-INTENT-`` intent asks for ('' for any other intent).

    >>> qid_from_intent("QID-INTENT-Admin_dot_001")
    'Admin.001'
    """
    if not intent_name.startswith(QID_INTENT_PREFIX):
        return ""
    return intent_name[len(QID_INTENT_PREFIX):].replace("_dot_", ".")


def intent_for_qid(qid: str) -> str:
    """The Lex intent name QnABot generates for an item with ``enableQidIntent``."""
    return QID_INTENT_PREFIX + qid.replace(".", "_dot_")


def clean_text(text: str, limit: int = MAX_TRANSCRIPT_CHARS) -> str:
    """User text made safe to process: valid Unicode, no control characters, one line of at
    most ``limit`` characters, trimmed.

    >>> clean_text("  Hi\\x00 there\\n ")
    'Hi there'
    """
    text = _valid_unicode(text)
    text = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in text
        if ch in "\t\r\n" or unicodedata.category(ch)[0] != "C"
    )
    return " ".join(text.split())[:limit].strip()


def parse_attribute_values(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Session attributes with JSON object/array values parsed (others stay strings)."""
    parsed: dict[str, Any] = {}
    for name, value in attributes.items():
        if isinstance(value, str) and value[:1] in "{[" and len(value) <= MAX_JSON_ATTRIBUTE_CHARS:
            try:
                check_nesting(value, what=f"session attribute {name}")
                parsed[name] = json.loads(value)
                continue
            except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
                pass
        parsed[name] = value
    return parsed


def _valid_unicode(text: str) -> str:
    """``text`` with lone surrogates replaced, so that it can be sent back as UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _string_map(value: Any) -> dict[str, str]:
    """A mapping of strings, dropping anything else (Lex only ever sends strings).

    Names and values are made valid Unicode: they are echoed back to Lex.
    """
    if not isinstance(value, Mapping):
        return {}
    return {_valid_unicode(str(k)): _valid_unicode(v) for k, v in value.items()
            if isinstance(v, str)}


def parse_event(event: Any) -> Request:
    """Read a Lex V2 code-hook event; raises :class:`MalformedEventError` if it is not one."""
    if not isinstance(event, Mapping):
        raise MalformedEventError(f"expected a JSON object, got {type(event).__name__}")
    session_id = event.get("sessionId")
    if not isinstance(session_id, str) or not session_id.strip():
        raise MalformedEventError("sessionId is missing or not a non-empty string")
    transcript = event.get("inputTranscript", "")
    if transcript is None:
        transcript = ""
    if not isinstance(transcript, str):
        raise MalformedEventError(
            f"inputTranscript must be a string, got {type(transcript).__name__}")
    state = event.get("sessionState") or {}
    if not isinstance(state, Mapping):
        raise MalformedEventError("sessionState must be an object")
    intent = state.get("intent") or {}
    if not isinstance(intent, Mapping):
        intent = {}
    intent_name = _valid_unicode(intent["name"]) if isinstance(intent.get("name"), str) else ""
    bot = event.get("bot") if isinstance(event.get("bot"), Mapping) else {}
    raw_attributes = _string_map(state.get("sessionAttributes"))
    request_attributes = _string_map(event.get("requestAttributes"))
    accepts = request_attributes.get(ACCEPT_CONTENT_TYPES, "")
    mode = str(event.get("inputMode") or "Text")
    return Request(
        session_id=clean_text(session_id, 200) or "anonymous",
        transcript=clean_text(transcript),
        input_mode=_INPUT_MODES.get(mode.lower(), "Text"),  # type: ignore[arg-type]
        locale=str(bot.get("localeId") or "en_US"),
        intent_name=intent_name or "FallbackIntent",
        invocation_source=str(event.get("invocationSource") or "FulfillmentCodeHook"),
        qid=qid_from_intent(intent_name or ""),
        accepts_ssml="SSML" in accepts.upper(),
        session_attributes=parse_attribute_values(raw_attributes),
        raw_session_attributes=raw_attributes,
        request_attributes=request_attributes,
        slots=intent.get("slots") if isinstance(intent.get("slots"), Mapping) else {},
        bot_name=str(bot.get("name") or ""),
    )


def lex_slot(value: str) -> dict[str, Any]:
    """A Lex V2 slot holding ``value``, as Lex sends a filled scalar slot.

    >>> lex_slot("Paris")["value"]["interpretedValue"]
    'Paris'
    """
    return {"shape": "Scalar",
            "value": {"originalValue": value, "interpretedValue": value,
                      "resolvedValues": [value]}}


def make_event(text: str, *, session_id: str = "local-session", channel: str = "text",
               session_attributes: Mapping[str, str] | None = None,
               request_attributes: Mapping[str, str] | None = None,
               intent: str = "FallbackIntent", locale: str = "en_US",
               slots: Mapping[str, str | None] | None = None,
               invocation_source: str = "FulfillmentCodeHook") -> dict[str, Any]:
    """The Lex V2 event for one question, as Lex sends it to the fulfillment code hook.

    ``channel="voice"`` builds a spoken turn from Amazon Connect (SSML accepted).
    ``request_attributes`` are the client's, as RecognizeText's ``requestAttributes`` pass them
    (e.g. the chat page's welcome mark, :data:`fulfillment.metrics.WELCOME_ATTRIBUTE`).
    ``slots`` are the intent's (None for an empty slot); ``invocation_source="DialogCodeHook"``
    builds the call Lex makes while it elicits them.
    """
    voice = channel == "voice"
    lex_slots = {name: None if value is None else lex_slot(value)
                 for name, value in (slots or {}).items()}
    request_attributes = {
        **(request_attributes or {}),
        **({ACCEPT_CONTENT_TYPES: "PlainText,SSML", "x-amz-lex:channels:platform": "Connect"}
           if voice else {}),
    }
    return {
        "messageVersion": "1.0",
        "invocationSource": invocation_source,
        "inputMode": "Speech" if voice else "Text",
        "responseContentType": "text/plain; charset=utf-8",
        "sessionId": session_id,
        "inputTranscript": text,
        "bot": {"id": "LOCALBOT00", "name": "QnABot", "aliasId": "TSTALIASID",
                "aliasName": "TestBotAlias", "localeId": locale, "version": "DRAFT"},
        "interpretations": [{"intent": {"name": intent, "slots": dict(lex_slots),
                                        "state": "InProgress",
                                        "confirmationState": "None"}}],
        "requestAttributes": request_attributes,
        "sessionState": {
            "sessionAttributes": dict(session_attributes or {}),
            "activeContexts": [],
            "intent": {"name": intent, "slots": dict(lex_slots), "state": "InProgress",
                       "confirmationState": "None"},
            "originatingRequestId": "00000000-0000-0000-0000-000000000000",
        },
        "transcriptions": [{"transcription": text, "transcriptionConfidence": 1.0}],
    }
