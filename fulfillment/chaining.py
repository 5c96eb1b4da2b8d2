"""Conditional chaining: an item's answer continues with another item, chosen by a rule.

An item's ``conditionalChaining`` is a JavaScript-style expression (see
:mod:`fulfillment.expressions`) or ``Lambda::<function>``. Its value is a question; the item
that question finds (``QID::<qid>``, an item asking exactly that, else the best match) is
answered next, its answer joined to the first as QnABot joins them (:func:`merge_answers`),
and its own rule followed in turn, at most :data:`MAX_CHAINED_ITEMS` times. An item that
elicits a response or routes to a bot chains only when that dialog is over
(:mod:`fulfillment.elicit`, :mod:`fulfillment.routing`).

The rule sees what QnABot's rules see: ``SessionAttributes``, ``Slots``, ``UserInfo``,
``Settings``, ``Question``, ``OrigQuestion``, ``PreviousQuestion``, ``LexOrAlexa`` and
``Sentiment``. A rule that fails, or names nothing, leaves the answer as it was (the reason is
in the turn's ``degraded`` list).

Example:
    item ``Start`` with ``"conditionalChaining": "'Elicit Age'"`` answers
    "Welcome! " + the answer of the item asking "Elicit Age".
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fulfillment import query_rewrite
from fulfillment.expressions import ExpressionError, evaluate, to_question
from fulfillment.hooks import HookError, hook_decision, hook_payload
from fulfillment.model import Answer
from fulfillment.pipeline import (
    CLIENT_FILTER_ATTRIBUTE,
    TurnState,
    find_item_by_question,
    item_answer,
)
from fulfillment.session import current_session, get_path
from knowledge.items import Item
from knowledge.store import SearchField

log = logging.getLogger(__name__)

#: QnABot's safeguard against loops: at most this many items are chained in one turn.
MAX_CHAINED_ITEMS = 10
_LAMBDA_RULE = re.compile(r"^lambda::", re.IGNORECASE)
_SPEAK = re.compile(r"</?speak>")


def rule_sandbox(state: TurnState, answer: Answer) -> dict[str, Any]:
    """The names a chaining rule may use, as QnABot's Handlebars and rules see them."""
    request = state.request
    user = state.user
    slots = {name: get_path(value, "value.interpretedValue", value)
             if isinstance(value, Mapping) else value for name, value in request.slots.items()}
    now = state.services.memory.clock()
    return {
        "LexOrAlexa": "LEX",
        "UserInfo": {
            "UserId": request.user_id,
            "InteractionCount": (user.interaction_count if user else 0) + 1,
            "TimeSinceLastInteraction": max(0.0, now - user.last_seen) if user else 0,
        },
        "SessionAttributes": current_session(request, answer),
        "Slots": slots,
        "Settings": dict(state.settings.raw),
        "Question": state.question,
        "OrigQuestion": request.transcript,
        "PreviousQuestion": get_path(request.context, "previous.q", False),
        "Sentiment": None,
    }


def next_question(state: TurnState, answer: Answer, rule: str) -> str:
    """The question ``rule`` names for this turn; empty when it names none or fails."""
    if _LAMBDA_RULE.match(rule):
        return _lambda_question(state, answer, rule.split("::", 1)[1].strip())
    try:
        return to_question(evaluate(rule, rule_sandbox(state, answer)))
    except ExpressionError as exc:
        state.debug.degraded.append(f"chaining rule failed: {exc}")
        log.warning("conditional chaining rule %r failed: %s", rule, exc)
        return ""


def _lambda_question(state: TurnState, answer: Answer, function: str) -> str:
    decision = hook_decision(function, state.settings.get("LAMBDA_HOOK_FUNCTION_PREFIX"))
    invoker = state.services.hooks
    if not decision.invoke or invoker is None:
        state.debug.degraded.append(
            f"chaining Lambda not run: {decision.reason or 'no hook invoker configured'}")
        return ""
    item = state.item
    try:
        reply = invoker.invoke(function, hook_payload(
            state.request, item, answer, state.settings) if item else {"req": {}, "res": {}})
    except (HookError, Exception) as exc:  # noqa: BLE001 - the answer so far still stands
        state.debug.degraded.append(f"chaining Lambda {function} failed: {exc}")
        return ""
    if isinstance(reply, str):  # a function may return a JSON string, or its text
        try:
            reply = json.loads(reply)
        except ValueError:
            return reply.strip()
    if isinstance(reply, Mapping) and "req" in reply and "res" in reply:
        return to_question(get_path(reply, "req.question", ""))
    return to_question(reply) if isinstance(reply, (str, int, float)) else ""


def find_chained_item(state: TurnState, question: str) -> Item | None:
    """The item a chained question leads to: by qid, by exact question, else the best match."""
    kb = state.services.kb
    if question.upper().startswith(query_rewrite.QID_PREFIX):
        item = kb.store.get(question[len(query_rewrite.QID_PREFIX):].strip())
        return item if item is not None and item.kind == "qna" else None
    item = find_item_by_question(kb, question)
    if item is not None and item.kind == "qna":
        return item
    client_filter = state.request.session_attributes.get(CLIENT_FILTER_ATTRIBUTE)
    best = kb.search(question, state.settings,
                     client_filter=client_filter if isinstance(client_filter, str) else None).best
    if best is not None and best.stage != SearchField.PASSAGES and best.item.kind == "qna":
        return best.item
    return None


def merge_answers(first: Answer, second: Answer) -> Answer:
    """Two chained answers as one, as QnABot's ``mergeNext`` joins items.

    The texts are joined as written; markdown (with a line break) and SSML (inside one
    ``<speak>``) only when both have them, else the second's; everything else is the second's.

    >>> merge_answers(Answer("OK. ", "elicit"), Answer("Hi.", "qna", qid="B")).text
    'OK. Hi.'
    """
    markdown = f"{first.markdown}\n{second.markdown}" if first.markdown and second.markdown \
        else second.markdown
    ssml = second.ssml
    if first.ssml and second.ssml:
        ssml = f"<speak>{_SPEAK.sub('', first.ssml)} {_SPEAK.sub('', second.ssml)}</speak>"
    return replace(second, text=first.text + second.text, markdown=markdown, ssml=ssml,
                   session_attributes={**first.session_attributes,
                                       **second.session_attributes},
                   context={**first.context, **second.context})


def follow_rule(state: TurnState, answer: Answer, rule: str) -> Answer | None:
    """``answer`` joined with the item ``rule`` leads to (``state.item`` becomes that item);
    None when the rule leads nowhere."""
    question = next_question(state, answer, rule)
    if not question:
        return None
    item = find_chained_item(state, question)
    if item is None:
        state.debug.degraded.append(f"chaining: no item found for {question!r}")
        return None
    if not state.chain and state.item is not None:
        state.chain.append(state.item)
    state.chain.append(item)
    state.item = item
    state.debug.chained.append(item.qid)
    return merge_answers(answer, item_answer(item, "qna", answer.score))


def starts_dialog(item: Item) -> bool:
    """True when the item asks for a response or routes to a bot: it chains after that."""
    return bool(item.elicit_response.get("responsebot_hook") or
                item.bot_routing.get("specialty_bot"))


class ChainingStep:
    """Follows the answered item's ``conditionalChaining``, item after item."""

    name = "chaining"

    def apply(self, state: TurnState, answer: Answer) -> Answer:
        """The answer with every chained item's answer joined to it."""
        for _ in range(MAX_CHAINED_ITEMS):
            item = state.item
            if item is None or answer.qid != item.qid or not item.conditional_chaining or \
                    starts_dialog(item):
                return answer
            chained = follow_rule(state, answer, item.conditional_chaining)
            if chained is None:
                return answer
            answer = chained
        state.debug.degraded.append(
            f"chaining stopped after {MAX_CHAINED_ITEMS} items (QnABot's limit)")
        return answer
