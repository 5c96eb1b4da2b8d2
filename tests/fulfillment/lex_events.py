"""Realistic Amazon Lex V2 code-hook events for tests, written from Lex's documented format
(independently of ``fulfillment.lex_event.make_event``, so a mistake there is caught here).

``LexConversation`` plays Lex's part in a conversation: it sends each question with the session
attributes of the previous response, as Lex does within a session.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

_BOT = {"id": "ABCDEFGHIJ", "name": "QnaBot_dev", "aliasId": "TSTALIASID",
        "aliasName": "TestBotAlias", "localeId": "en_US", "version": "DRAFT"}


def text_event(text: str, *, session_id: str = "us-east-1:1234-abcd",
               session_attributes: dict[str, str] | None = None,
               intent: str = "FallbackIntent",
               invocation_source: str = "FulfillmentCodeHook",
               request_attributes: dict[str, str] | None = None,
               slots: dict[str, str | None] | None = None) -> dict[str, Any]:
    """A typed question from the Lex web UI (the FallbackIntent, as QnABot's bot routes it).

    ``slots`` are the intent's as Lex has filled them (None: not filled yet)."""
    dialog = invocation_source == "DialogCodeHook"
    intent_state = {"name": intent, "slots": {name: slot(value) for name, value
                                              in (slots or {}).items()},
                    "state": "InProgress" if dialog else "ReadyForFulfillment",
                    "confirmationState": "None"}
    return {
        "sessionId": session_id,
        "inputTranscript": text,
        "interpretations": [
            {"intent": copy.deepcopy(intent_state), "interpretationSource": "Lex"},
            {"intent": {"name": "QnaIntent", "slots": {"qnaslot": None}, "state": "InProgress",
                        "confirmationState": "None"}, "nluConfidence": 0.42,
             "interpretationSource": "Lex"},
        ],
        "bot": dict(_BOT),
        "responseContentType": "text/plain; charset=utf-8",
        "proposedNextState": None,
        "sessionState": {
            "originatingRequestId": "4a0c4a3f-1f2b-4f5e-9e1c-3b8f2a1d9c7e",
            "sessionAttributes": dict(session_attributes or {}),
            "activeContexts": [],
            "intent": intent_state,
        },
        "messageVersion": "1.0",
        "invocationSource": invocation_source,
        "inputMode": "Text",
        "requestAttributes": dict(request_attributes or {}),
        "transcriptions": [{"transcription": text, "transcriptionConfidence": 1,
                            "resolvedContext": {"intent": intent}, "resolvedSlots": {}}],
    }


def slot(value: str | None) -> dict[str, Any] | None:
    """A filled Lex V2 slot as Lex sends it (the user's words resolved to one value)."""
    if value is None:
        return None
    return {"shape": "Scalar", "value": {"originalValue": value.lower(),
                                         "interpretedValue": value,
                                         "resolvedValues": [value]}}


def dialog_event(text: str, *, intent: str, slots: dict[str, str | None],
                 **kwargs: Any) -> dict[str, Any]:
    """Lex's call while it elicits the slots of ``intent`` (its dialog code hook is on)."""
    event = text_event(text, intent=intent, slots=slots, invocation_source="DialogCodeHook",
                       **kwargs)
    empty = [name for name, value in slots.items() if value is None]
    event["proposedNextState"] = {
        "dialogAction": {"type": "ElicitSlot", "slotToElicit": empty[0]} if empty else
        {"type": "Delegate"},
        "intent": copy.deepcopy(event["sessionState"]["intent"])}
    return event


def connect_voice_event(text: str, **kwargs: Any) -> dict[str, Any]:
    """A spoken question from an Amazon Connect contact flow (accepts SSML)."""
    event = text_event(text, **kwargs)
    event["inputMode"] = "Speech"
    event["responseContentType"] = "audio/pcm"
    event["requestAttributes"] = {
        "x-amz-lex:accept-content-types": "PlainText,SSML",
        "x-amz-lex:channels:platform": "Connect",
        **event["requestAttributes"],
    }
    event["transcriptions"][0]["transcriptionConfidence"] = 0.91
    return event


def dtmf_event(digits: str, **kwargs: Any) -> dict[str, Any]:
    event = connect_voice_event(digits, **kwargs)
    event["inputMode"] = "DTMF"
    return event


def qid_intent_event(qid: str, utterance: str, **kwargs: Any) -> dict[str, Any]:
    """An utterance matched by the Lex intent QnABot builds for an item (``enableQidIntent``)."""
    return text_event(utterance, intent="QID-INTENT-" + qid.replace(".", "_dot_"), **kwargs)


class LexConversation:
    """Sends questions through ``handler`` carrying session attributes between turns."""

    def __init__(self, handler: Callable[[dict, Any], dict], session_id: str = "conv-1",
                 builder: Callable[..., dict] = text_event):
        self.handler = handler
        self.session_id = session_id
        self.builder = builder
        self.attributes: dict[str, str] = {}
        self.responses: list[dict] = []

    def ask(self, text: str, **kwargs: Any) -> dict:
        """Send a question for the fulfillment code hook."""
        return self._send(self.builder, text, kwargs)

    def elicit(self, text: str, **kwargs: Any) -> dict:
        """Send Lex's dialog code hook call while it elicits an intent's slots."""
        return self._send(dialog_event, text, kwargs)

    def _send(self, builder: Callable[..., dict], text: str, kwargs: dict[str, Any]) -> dict:
        event = builder(text, session_id=self.session_id,
                        session_attributes=dict(self.attributes), **kwargs)
        response = self.handler(event, None)
        self.attributes = dict(response["sessionState"]["sessionAttributes"])
        self.responses.append(response)
        return response


def first_text(response: dict) -> str:
    """The content of the first PlainText or SSML message."""
    return next(m["content"] for m in response["messages"]
                if m["contentType"] in ("PlainText", "SSML"))
