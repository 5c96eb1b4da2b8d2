"""A finished turn -> the Amazon Lex V2 code-hook response, as Lex and QnABot's clients read it.

* ``sessionState.dialogAction.type`` is ``Close`` and the intent is ``Fulfilled`` (while an
  elicited response or a specialty bot awaits the reply: ``ElicitIntent``, ``QnaIntent``
  in progress, as QnABot answers);
* ``messages``: the answer as ``PlainText`` (or ``SSML`` when the client accepts it), cut into
  messages of at most 1000 characters (Lex's limit), then an ``ImageResponseCard``;
* ``sessionAttributes`` (every value a string): the incoming ones, the item's ``sa``,
  ``qnabot_qid``, ``qnabot_gotanswer``, ``qnabotcontext`` (previous qid and question, topic),
  ``topic``, and ``appContext`` (markdown, SSML and the response card for the Lex web UI).

While Lex elicits a QID intent's slots (a dialog code hook call), :func:`build_dialog_response`
answers ``ElicitSlot`` or ``Delegate`` instead, with no messages (:mod:`fulfillment.qid_slots`).

Example:
    >>> from fulfillment.model import Answer, Request, TurnDebug, TurnResult
    >>> turn = TurnResult(Request("s1", "Hello"), Answer("Hi!", "qna", qid="Hi.1"), TurnDebug())
    >>> response = build_response(turn)
    >>> response["sessionState"]["dialogAction"], response["messages"][0]["content"]
    ({'type': 'Close'}, 'Hi!')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fulfillment.lex_event import lex_slot
from fulfillment.model import Answer, Request, ResponseCard, TurnResult
from fulfillment.qid_slots import CACHE_KEY, SlotFill, cached_values, filled_values
from fulfillment.session import attribute_object

MAX_MESSAGE_CHARS = 1000
#: The intent QnABot's bot has for every question (``bot.definition.QNA_INTENT``).
QNA_INTENT = "QnaIntent"
#: Session attributes the bot owns; incoming values are replaced, never trusted.
OWN_ATTRIBUTES = ("qnabot_qid", "qnabot_gotanswer", "qnabotcontext", "topic", "appContext")


def split_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters: after a sentence where
    possible, else at a space.

    >>> split_message("one two three", 8)
    ['one two', 'three']
    >>> split_message("One two. Three four five.", 20)
    ['One two.', 'Three four five.']
    """
    text = text.strip()
    pieces = []
    while len(text) > limit:
        sentence_end = max(text.rfind(mark, 0, limit + 1) for mark in (". ", "! ", "? "))
        cut = sentence_end + 1 if sentence_end > limit // 4 else text.rfind(" ", 0, limit + 1)
        cut = cut if cut > limit // 4 else limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces or ["..."]


def lex_card(card: ResponseCard) -> dict[str, Any]:
    """Lex V2's ``imageResponseCard`` (empty optional fields left out, as Lex requires)."""
    body: dict[str, Any] = {"title": card.title}
    if card.subtitle:
        body["subtitle"] = card.subtitle
    if card.image_url:
        body["imageUrl"] = card.image_url
    if card.buttons:
        body["buttons"] = [{"text": b.text, "value": b.value} for b in card.buttons]
    return body


def web_ui_card(card: ResponseCard) -> dict[str, Any]:
    """The generic-attachment card the Lex web UI reads from ``appContext.responseCard``."""
    return {
        "version": "1",
        "contentType": "application/vnd.amazonaws.card.generic",
        "genericAttachments": [{
            "title": card.title,
            "subTitle": card.subtitle,
            "imageUrl": card.image_url,
            "buttons": [{"text": b.text, "value": b.value} for b in card.buttons],
        }],
    }


def _messages(request: Request, answer: Answer) -> list[dict[str, Any]]:
    if request.accepts_ssml:
        messages = [{"contentType": "SSML", "content": answer.ssml}]
        if len(answer.ssml) > MAX_MESSAGE_CHARS:  # never cut SSML mid-tag: speak the text
            messages = [{"contentType": "PlainText", "content": piece}
                        for piece in split_message(answer.text)]
    else:
        messages = [{"contentType": "PlainText", "content": piece}
                    for piece in split_message(answer.text)]
    if answer.card is not None:
        messages.append({"contentType": "ImageResponseCard",
                         "imageResponseCard": lex_card(answer.card)})
    return messages


def _previous_qids(request: Request) -> list[str]:
    """QnABot's navigation stack: the qids answered before this turn, latest last (at most 10)."""
    context = request.context
    navigation = context.get("navigation") if isinstance(context.get("navigation"), dict) else {}
    previous_qids = navigation.get("previous")
    stack = [q for q in previous_qids if isinstance(q, str)] \
        if isinstance(previous_qids, list) else []
    previous = context.get("previous") if isinstance(context.get("previous"), dict) else {}
    if isinstance(previous.get("qid"), str) and previous["qid"]:
        stack.append(previous["qid"])
    return stack[-10:]


#: ``qnabotcontext`` entries that carry over from turn to turn: the user's language.
LANGUAGE_KEYS = ("userPreferredLocale", "userLocale")


def _language(context: Mapping[str, Any]) -> dict[str, Any]:
    return {key: context[key] for key in LANGUAGE_KEYS if isinstance(context.get(key), str)}


def _slot_cache(context: Mapping[str, Any]) -> dict[str, Any]:
    cache = cached_values(context)
    return {CACHE_KEY: cache} if cache else {}


def session_attributes(turn: TurnResult) -> dict[str, str]:
    """Every session attribute of the response, as strings."""
    request, answer = turn.request, turn.answer
    attributes = {k: v for k, v in request.raw_session_attributes.items()
                  if k not in OWN_ATTRIBUTES}
    attributes.update({k: str(v) for k, v in answer.session_attributes.items()})
    context = {
        **_language(request.context),  # the user's language lasts the session
        **_slot_cache(request.context),  # so do the slot values QID intents cache
        "previous": {"qid": answer.qid or "", "q": request.transcript},
        "navigation": {"next": answer.next_qid, "previous": _previous_qids(request)},
        "topic": turn.topic,
        **answer.context,
        # a template's setLang or resetLang on this turn has the last word
        **_language(attribute_object(answer.session_attributes.get("qnabotcontext"))),
    }
    app_context: dict[str, Any] = {"altMessages": {"markdown": answer.markdown,
                                                   "ssml": answer.ssml}}
    if answer.card is not None:
        app_context["responseCard"] = web_ui_card(answer.card)
    attributes.update({
        "qnabot_qid": answer.qid or "",
        "qnabot_gotanswer": "true" if answer.got_hits else "false",
        "qnabotcontext": json.dumps(context, ensure_ascii=False),
        "topic": turn.topic,
        "appContext": json.dumps(app_context, ensure_ascii=False),
    })
    return attributes


def waits_for_reply(answer: Answer) -> bool:
    """True when the answer asks for a reply another bot reads (an elicited response or a
    specialty bot): QnABot then keeps the dialog open with ``ElicitIntent``."""
    elicit = answer.context.get("elicitResponse")
    return bool(isinstance(elicit, dict) and elicit.get("responsebot") or
                answer.context.get("specialtyBot"))


def build_response(turn: TurnResult) -> dict[str, Any]:
    """The Lex V2 response: it closes the turn with the answer, or (while a reply is awaited)
    elicits the next utterance, as QnABot does, so voice channels keep listening."""
    request = turn.request
    if waits_for_reply(turn.answer):
        dialog = {"type": "ElicitIntent"}
        intent = {"name": QNA_INTENT, "slots": {}, "state": "InProgress",
                  "confirmationState": "None"}
    else:
        dialog = {"type": "Close"}
        intent = {"name": request.intent_name, "slots": dict(request.slots),
                  "state": "Fulfilled", "confirmationState": "None"}
    return {
        "sessionState": {
            "sessionAttributes": session_attributes(turn),
            "dialogAction": dialog,
            "intent": intent,
        },
        "messages": _messages(request, turn.answer),
        "requestAttributes": dict(request.request_attributes),
    }


def _dialog_slots(request: Request, fill: SlotFill) -> dict[str, Any]:
    """Lex's slots, with every slot of the item present and the cached values filled in (a
    slot Lex sent goes back as Lex sent it)."""
    slots = dict(request.slots)
    filled_by_lex = filled_values(request.slots)
    for name, value in fill.values.items():
        if value is not None and name not in filled_by_lex:
            slots[name] = lex_slot(value)
        else:
            slots.setdefault(name, None)
    return slots


def build_dialog_response(request: Request, fill: SlotFill | None) -> dict[str, Any]:
    """The Lex V2 response to a dialog code hook call: ``ElicitSlot`` for the required slot
    still empty (Lex speaks the slot's own prompt), else ``Delegate`` (Lex goes on to
    fulfillment). The session keeps its attributes, with the slot cache in ``qnabotcontext``.
    Without a ``fill`` (no QID intent of an item) the intent is delegated unchanged.

    >>> build_dialog_response(Request("s1", "hi", intent_name="Other"), None)["sessionState"][
    ...     "dialogAction"]
    {'type': 'Delegate'}
    """
    attributes = dict(request.raw_session_attributes)
    intent = {"name": request.intent_name, "slots": dict(request.slots),
              "state": "InProgress", "confirmationState": "None"}
    dialog: dict[str, Any] = {"type": "Delegate"}
    if fill is not None:
        intent["slots"] = _dialog_slots(request, fill)
        if fill.next_slot:
            dialog = {"type": "ElicitSlot", "slotToElicit": fill.next_slot}
        else:
            intent["state"] = "ReadyForFulfillment"
        context = dict(request.context)
        if fill.cache:
            context[CACHE_KEY] = fill.cache
        attributes["qnabotcontext"] = json.dumps(context, ensure_ascii=False)
        attributes["qnabot_qid"] = fill.qid
    return {
        "sessionState": {"sessionAttributes": attributes, "dialogAction": dialog,
                         "intent": intent},
        "requestAttributes": dict(request.request_attributes),
    }
