"""Bot routing: hand the conversation to a specialty bot, and take it back.

An item with ``botRouting`` (``specialty_bot``: ``lexv2::BotId/AliasId/Locale``, a simple
name the environment maps to one, or ``Lambda::<function>``; ``specialty_bot_name``) hands the
following turns to that bot (:class:`RoutingStart`); :class:`RoutingStage` relays each turn
(:class:`SpecialtyBots`), passing the session attributes the item names
(``specialty_bot_session_attributes_to_merge``) and keeping the bot's own. The conversation
comes back (with ``BOT_ROUTER_WELCOME_BACK_MSG``) when the user says one of
``BOT_ROUTER_EXIT_MSGS``, when the bot sets ``QNABOT_END_ROUTING``, or when a Lex bot that is
not a QnABot fulfils its intent; the attributes named in
``specialty_bot_session_attributes_to_receive`` are then kept under
``specialty_bot_session_attributes_to_receive_namespace`` (default
``specialtyBotSessionAttributes``), and the item's ``conditionalChaining`` is followed.
``specialty_bot_start_up_text`` (``${utterance}``: the user's words) is sent to the bot at once.

A Lambda target receives QnABot's bot-router payload ``{"req": {"request": "message",
"inputText", "sessionAttributes", "userId"}}`` and returns ``{"message", "messageFormat",
"sessionAttributes", ...}``; like hooks, its name must start with
``LAMBDA_HOOK_FUNCTION_PREFIX``. :class:`StubBot` stands in for a bot in tests and demos.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from fulfillment.chaining import follow_rule
from fulfillment.hooks import HookError, HookInvoker, hook_decision
from fulfillment.lex_runtime import (
    LexRuntime,
    LexRuntimeError,
    bot_identity,
    dialog_state,
    slot_values,
)
from fulfillment.model import Answer, CardButton, ResponseCard
from fulfillment.pipeline import TurnState
from fulfillment.session import attribute_object, current_session, get_path, set_value

log = logging.getLogger(__name__)

DEFAULT_RECEIVE_NAMESPACE = "specialtyBotSessionAttributes"
_UTTERANCE = "${utterance}"
#: ``qnabotcontext`` entries of an open routing (QnABot's names).
_CONTEXT_KEYS = ("specialtyBot", "specialtyBotName", "specialtyBotMergeAttributes",
                 "sBChainingConfig", "sBAttributesToReceive", "sBAttributesToReceiveNamespace",
                 "specialtySessionAttributes")


class BotRoutingError(RuntimeError):
    """The specialty bot could not be reached, or is not allowed."""


@dataclass(frozen=True)
class BotReply:
    """A specialty bot's reply to one turn."""

    message: str
    dialog_state: str = ""
    session_attributes: dict[str, Any] = field(default_factory=dict)
    card: ResponseCard | None = None
    slots: dict[str, Any] = field(default_factory=dict)


class SpecialtyBot(Protocol):
    """Port: one bot that takes over the conversation."""

    def send(self, text: str, *, user_id: str,
             session_attributes: Mapping[str, Any]) -> BotReply:
        ...


class StubBot:
    """A bot in process, for tests and local demos: ``respond(text, attributes)`` answers."""

    def __init__(self, respond: Callable[[str, Mapping[str, Any]], BotReply]):
        self.respond = respond
        self.heard: list[str] = []

    def send(self, text: str, *, user_id: str,
             session_attributes: Mapping[str, Any]) -> BotReply:
        """The stub's reply (what it heard is kept in ``heard``)."""
        self.heard.append(text)
        return self.respond(text, session_attributes)


def _card(generic: Any) -> ResponseCard | None:
    if not isinstance(generic, Mapping) or not generic.get("title"):
        return None
    buttons = tuple(CardButton(str(b.get("text", "")), str(b.get("value", "")))
                    for b in generic.get("buttons") or () if isinstance(b, Mapping))
    return ResponseCard(str(generic["title"]), str(generic.get("subTitle") or ""),
                        str(generic.get("imageUrl") or ""), buttons)


class SpecialtyBots:
    """Reaches the bot a target names: a stub, a Lambda bot router, or a Lex V2 bot."""

    def __init__(self, *, lex: LexRuntime | None = None, hooks: HookInvoker | None = None,
                 stubs: Mapping[str, SpecialtyBot] | None = None,
                 environ: Mapping[str, str] | None = None):
        self.lex = lex or LexRuntime()
        self.hooks = hooks
        self.stubs = dict(stubs or {})
        self.environ = environ

    def send(self, target: str, text: str, *, user_id: str,
             session_attributes: Mapping[str, Any], prefix: str) -> BotReply:
        """The reply of ``target``; raises :class:`BotRoutingError` when it cannot answer."""
        if target in self.stubs:
            return self.stubs[target].send(text, user_id=user_id,
                                           session_attributes=session_attributes)
        if target.lower().startswith("lambda::"):
            return self._lambda(target.split("::", 1)[1].strip(), text, user_id,
                                session_attributes, prefix)
        identity = bot_identity(target, self.environ)
        if identity is None:
            raise BotRoutingError(f"specialty bot {target!r} is neither lexv2::BotId/AliasId "
                                  "nor Lambda::<function>")
        attributes = {k: v if isinstance(v, str) else json.dumps(v)
                      for k, v in session_attributes.items()}
        try:
            response = self.lex.recognize_text(identity, text, user_id, attributes)
        except LexRuntimeError as exc:
            raise BotRoutingError(str(exc)) from exc
        words, card = [], None
        for message in response.get("messages") or ():
            if message.get("contentType") == "ImageResponseCard":
                card = card or _card(message.get("imageResponseCard"))
            else:
                words.append(str(message.get("content") or ""))
        return BotReply(" ".join(words).strip(), dialog_state(response),
                        dict((response.get("sessionState") or {}).get("sessionAttributes")
                             or {}), card, slot_values(response))

    def _lambda(self, function: str, text: str, user_id: str,
                attributes: Mapping[str, Any], prefix: str) -> BotReply:
        decision = hook_decision(function, prefix)
        if not decision.invoke or self.hooks is None:
            raise BotRoutingError(decision.reason or "no Lambda invoker is configured")
        payload = {"req": {"request": "message", "inputText": text,
                           "sessionAttributes": dict(attributes), "userId": user_id[:100]}}
        try:
            reply = self.hooks.invoke(function, payload)
        except HookError as exc:
            raise BotRoutingError(str(exc)) from exc
        if not isinstance(reply, Mapping):
            raise BotRoutingError(f"bot router {function} did not return a JSON object")
        session = reply.get("sessionAttributes")
        attachments = get_path(reply, "responseCard.genericAttachments")
        card = _card(attachments[0]) if isinstance(attachments, list) and attachments else None
        return BotReply(str(reply.get("message") or ""), str(reply.get("dialogState") or ""),
                        dict(session) if isinstance(session, Mapping) else {}, card)


def _names(value: Any) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else []


class RoutingStage:
    """Relays a turn to the specialty bot while a routing is open."""

    name = "bot_routing"

    def __init__(self, bots: SpecialtyBots):
        self.bots = bots

    def answer(self, state: TurnState) -> Answer | None:
        """The specialty bot's reply (or the welcome back); None when no routing is open."""
        request = state.request
        routing = {k: request.context[k] for k in _CONTEXT_KEYS if k in request.context}
        target = routing.get("specialtyBot")
        if not isinstance(target, str) or not target:
            return None
        state.debug.dialog = f"bot routing ({routing.get('specialtyBotName') or target})"
        exits = [p.lower() for p in _names(state.settings.get("BOT_ROUTER_EXIT_MSGS"))]
        if state.question.strip().lower() in exits:
            return end_routing(state, Answer("", "bot_routing"), routing)
        answer = relay(self.bots, state, routing, state.question, Answer("", "bot_routing"))
        if answer is None:
            return None
        if answer.context.pop("_ended", False):
            return end_routing(state, answer, routing)
        return answer


def end_routing(state: TurnState, answer: Answer, routing: Mapping[str, Any]) -> Answer:
    """The conversation back: the welcome-back message after the bot's last words, then the
    routing item's ``conditionalChaining``."""
    welcome = state.settings.get("BOT_ROUTER_WELCOME_BACK_MSG")
    text = f"{answer.text} {welcome}" if answer.text else welcome
    markdown = f"{answer.markdown or answer.text}\n\n*{welcome}*".strip() if welcome \
        else answer.markdown
    answer.text, answer.markdown, answer.ssml = text, markdown, ""
    answer.context = {}
    chaining = routing.get("sBChainingConfig")
    if isinstance(chaining, str) and chaining:
        chained = follow_rule(state, answer, chaining)
        if chained is not None:
            return chained
    return answer


def relay(bots: SpecialtyBots, state: TurnState, routing: dict[str, Any], text: str,
          answer: Answer) -> Answer | None:
    """``answer`` followed by the bot's reply to ``text``; routing state in its context
    (``_ended`` set when the bot is done). None when the bot cannot be reached."""
    request = state.request
    session = current_session(request, answer)
    sent = dict(routing.get("specialtySessionAttributes") or {})
    for name in _names(routing.get("specialtyBotMergeAttributes")):
        value = get_path(session, name)
        if value not in (None, ""):
            sent[name] = value
    try:
        reply = bots.send(routing["specialtyBot"], text, user_id=request.user_id,
                          session_attributes=sent,
                          prefix=state.settings.get("LAMBDA_HOOK_FUNCTION_PREFIX"))
    except BotRoutingError as exc:
        state.debug.degraded.append(f"bot routing failed: {exc}")
        log.warning("specialty bot %s failed: %s", routing.get("specialtyBot"), exc)
        return None
    message = reply.message
    if reply.dialog_state == "ReadyForFulfillment":
        message = json.dumps(reply.slots, indent=2)
    if not message and reply.dialog_state != "ReadyForFulfillment":
        answer.context = {**routing}
        answer.text = answer.text or state.settings.get("ELICIT_RESPONSE_DEFAULT_MSG")
        return answer
    answer.text = f"{answer.text} {message}".strip() if answer.text else message
    alt = attribute_object(reply.session_attributes.get("appContext"))
    answer.markdown = _join(answer.markdown, get_path(alt, "altMessages.markdown", ""), " ")
    answer.ssml = _join(answer.ssml, get_path(alt, "altMessages.ssml", ""), "ssml")
    answer.card = reply.card or answer.card
    answer = _receive(routing, reply, request, answer)
    from_qnabot = "qnabot_gotanswer" in reply.session_attributes
    ended = bool(reply.session_attributes.get("QNABOT_END_ROUTING")) or \
        reply.dialog_state == "ReadyForFulfillment" or \
        (reply.dialog_state in ("Fulfilled", "Close") and not from_qnabot)
    answer.context = {**routing, "specialtySessionAttributes": reply.session_attributes}
    if ended:
        answer.context["_ended"] = True
    return answer


def _join(ours: str, theirs: Any, how: str) -> str:
    """The bot's markdown or SSML after ours, as QnABot joins them; empty (derived from the
    text) when the bot sends none."""
    if not isinstance(theirs, str) or not theirs:
        return ""
    if not ours:
        return theirs
    if how == "ssml":
        strip = lambda s: s.replace("<speak>", "").replace("</speak>", "")  # noqa: E731
        return f"<speak>{strip(ours)} {strip(theirs)}</speak>"
    return f"{ours}{how}{theirs}"


def _receive(routing: Mapping[str, Any], reply: BotReply, request, answer: Answer) -> Answer:
    """The bot's attributes named to receive, copied under the receiving namespace."""
    namespace = routing.get("sBAttributesToReceiveNamespace")
    namespace = DEFAULT_RECEIVE_NAMESPACE if namespace is None else str(namespace)
    if not namespace:
        return answer
    for name in _names(routing.get("sBAttributesToReceive")):
        for container in ("appContext", "qnabotcontext"):
            if name.startswith(f"{container}.") and container in reply.session_attributes:
                inner = name.split(".", 1)[1]
                value = get_path(attribute_object(reply.session_attributes[container]), inner)
                answer = set_value(request, answer, f"{namespace}.{inner}", value)
                break
        else:
            value = reply.session_attributes.get(name, "")
            if value not in (None, ""):
                answer = set_value(request, answer, f"{namespace}.{name}", value)
    return answer


class RoutingStart:
    """Opens a routing when the answered item has ``botRouting``."""

    name = "routing_start"

    def __init__(self, bots: SpecialtyBots):
        self.bots = bots

    def apply(self, state: TurnState, answer: Answer) -> Answer:
        """The item's answer, with the routing opened (and the start-up text relayed)."""
        item = state.item
        if item is None or answer.qid != item.qid:
            return answer
        spec = item.bot_routing
        target, name = spec.get("specialty_bot"), spec.get("specialty_bot_name")
        if not (isinstance(target, str) and target.strip() and isinstance(name, str) and
                name.strip()):
            return answer
        routing: dict[str, Any] = {
            "specialtyBot": target.strip(), "specialtyBotName": name.strip(),
            "specialtyBotMergeAttributes": spec.get(
                "specialty_bot_session_attributes_to_merge") or "",
            "sBChainingConfig": item.conditional_chaining or None,
            "sBAttributesToReceive": spec.get("specialty_bot_session_attributes_to_receive")
            or "",
            "sBAttributesToReceiveNamespace": spec.get(
                "specialty_bot_session_attributes_to_receive_namespace"),
        }
        answer.context.update(routing)
        start = spec.get("specialty_bot_start_up_text")
        if isinstance(start, str) and start.strip():
            text = state.question if start.strip() == _UTTERANCE else start.strip()
            relayed = relay(self.bots, state, routing, text, answer)
            if relayed is not None and relayed.context.pop("_ended", False):
                return end_routing(state, relayed, routing)
            if relayed is not None:
                return relayed
        return answer

