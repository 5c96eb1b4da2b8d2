"""QnABot's built-in ``QNA:`` hooks, run in process.

QnABot ships example Lambda functions that items name as ``QNA:<name>``. The ones whose
behaviour belongs to the conversation are played here, without a Lambda:

* ``QNA:ExamplePYTHONLambdaFeedback`` (QnABot's "Thumbs up" / "Thumbs down" items,
  ``args[0]`` ``correct`` or ``incorrect``): marks the turn as feedback on the previous answer
  (the turn's metrics record it, :mod:`fulfillment.metrics`), then gives the item's thanks;
* ``QNA:ExamplePYTHONLambdaNext`` / ``QNA:ExampleJSLambdaNext``: guided navigation, the item
  the previous answer's ``next`` names; ``...Previous``: back along the navigation history;
* ``QNA:ExampleJSLambdaQuiz``: starts a quiz (:mod:`fulfillment.quiz`);
* ``QNA:ExampleJSLambdahook`` / ``QNA:ExamplePYTHONLambdahello``: the greeting examples
  ("good morning, " + the answer; the JS one on UTC-8, the Python one on UTC, as deployed).

Other ``QNA:`` names (``ConnectCallback``, ``BotBroker``) need AWS services the conversation
does not have here; the item's own answer is given (see :mod:`fulfillment.hooks`).

Example:
    >>> BuiltinHooks().find("QNA:ExamplePYTHONLambdaNext") is not None
    True
    >>> BuiltinHooks().find("QNA:ExamplePYTHONLambdaConnectCallback") is None
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fulfillment.model import Answer
from fulfillment.pipeline import TurnState, item_answer
from fulfillment.quiz import start_quiz
from fulfillment.session import context_entry, get_path
from knowledge.items import Item

log = logging.getLogger(__name__)

BuiltinHook = Callable[[TurnState, Item, Answer], Answer]
#: How far back guided navigation remembers (QnABot keeps 10 qids).
MAX_NAVIGATION = 10


def feedback(state: TurnState, item: Item, answer: Answer) -> Answer:
    """Mark the turn as "correct" / "incorrect" feedback on the previous answer; the item's
    thanks.

    The mark (``TurnDebug.feedback``) is all the hook does: the turn's metrics
    (:func:`fulfillment.metrics.feedback_record`) write the one feedback record, with the
    previous answer's qid and question, also for a thumbs utterance this hook answers.
    """
    request = state.request
    verdict = (item.lambda_args[0] if item.lambda_args else "correct").strip().lower()
    state.debug.feedback = "thumbs_down" if verdict == "incorrect" else "thumbs_up"
    previous = context_entry(request, "previous")
    # The feedback turn is not an answer to navigate from: the previous answer stays previous.
    answer.context["previous"] = previous or {"qid": "", "q": ""}
    navigation = context_entry(request, "navigation")
    if navigation:
        answer.context["navigation"] = navigation
    return answer


def _history(context: Mapping[str, Any]) -> list[str]:
    """The qids answered before, from ``qnabotcontext.navigation.previous`` (latest last)."""
    value = get_path(context, "navigation.previous", [])
    return [q for q in value if isinstance(q, str)] if isinstance(value, list) else []


def _navigated(state: TurnState, target: Item, navigation: dict[str, Any]) -> Answer:
    state.item = target
    answer = item_answer(target, "qna", 1.0)
    answer.context["navigation"] = navigation
    return answer


def _stay(state: TurnState, answer: Answer, reason: str) -> Answer:
    state.debug.degraded.append(reason)
    answer.context["previous"] = context_entry(state.request, "previous")
    answer.context["navigation"] = context_entry(state.request, "navigation")
    return answer


def next_item(state: TurnState, item: Item, answer: Answer) -> Answer:
    """The item the previous answer's ``next`` names (its first, when a list)."""
    request = state.request
    following = get_path(request.context, "navigation.next", "")
    if isinstance(following, list):
        following = following[0] if following else ""
    target = state.services.kb.store.get(following) if isinstance(following, str) and \
        following else None
    if target is None or target.kind != "qna":
        return _stay(state, answer, "guided navigation: the previous answer has no next item")
    stack = _history(request.context)
    previous_qid = get_path(request.context, "previous.qid", "")
    if isinstance(previous_qid, str) and previous_qid and (not stack or stack[-1] != previous_qid):
        stack.append(previous_qid)
    return _navigated(state, target, {"next": target.next_qid,
                                      "previous": stack[-MAX_NAVIGATION:]})


def previous_item(state: TurnState, item: Item, answer: Answer) -> Answer:
    """The item answered before the previous one, along the navigation history."""
    stack = _history(state.request.context)
    target = state.services.kb.store.get(stack[-1]) if stack else None
    if target is None or target.kind != "qna":
        return _stay(state, answer, "guided navigation: there is no previous item")
    return _navigated(state, target, {"next": target.next_qid, "previous": stack[:-1]})


def greeting(utc_offset_hours: int, good: str) -> BuiltinHook:
    """QnABot's example hooks: "good morning, " (afternoon, evening) before the answer."""
    def greet(state: TurnState, item: Item, answer: Answer) -> Answer:
        now = datetime.fromtimestamp(state.services.memory.clock(), UTC) + \
            timedelta(hours=utc_offset_hours)
        part = "morning" if now.hour < 12 else "afternoon" if now.hour < 18 else "evening"
        text = f"{good} {part}, {answer.text}"
        markdown = f"{good} {part}, {answer.markdown}" if answer.markdown else ""
        return replace(answer, text=text, markdown=markdown, ssml="")
    return greet


class BuiltinHooks:
    """The ``QNA:`` hooks played in process, by name."""

    def __init__(self) -> None:
        navigation = {"Next": next_item, "Previous": previous_item}
        self.hooks: dict[str, BuiltinHook] = {
            "QNA:ExamplePYTHONLambdaFeedback": feedback,
            "QNA:ExampleJSLambdaQuiz": start_quiz,
            "QNA:ExampleJSLambdahook": greeting(-8, "good"),
            "QNA:ExamplePYTHONLambdahello": greeting(0, "Good"),
            **{f"QNA:Example{lang}Lambda{name}": hook for name, hook in navigation.items()
               for lang in ("PYTHON", "JS")},
        }
        self._by_lower = {name.lower(): hook for name, hook in self.hooks.items()}

    def find(self, name: str) -> BuiltinHook | None:
        """The built-in hook ``name`` designates (case-insensitive), or None."""
        return self._by_lower.get(name.strip().lower())
