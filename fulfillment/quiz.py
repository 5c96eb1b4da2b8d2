"""Quizzes, as QnABot's example quiz (``QNA:ExampleJSLambdaQuiz``) runs them.

A QnA item whose hook is ``QNA:ExampleJSLambdaQuiz`` and whose ``args[0]`` is the qid of a
``quiz`` item starts a quiz (:func:`start_quiz`): its answer, then the first question with its
answers shuffled and lettered A, B, C ... Each following turn (:class:`QuizStage`) takes the
user's letter: right or wrong (with the question's ``responses.correct``/``incorrect``), then
the question its ``next`` names, until there is none: then the score, and
``responses.end`` (default "Thank you for taking the quiz!"). "quit" or "exit" leaves the
quiz; a reply that is not one of the letters is asked again.

The quiz's progress is kept in ``qnabotcontext.quiz``: which question was asked, how its
answers were ordered, and the counts. The correct letters are not in it: they are worked out
from the question item on the server, so a client cannot read them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fulfillment import render
from fulfillment.model import Answer, ResponseCard
from fulfillment.pipeline import TurnState
from fulfillment.session import context_entry, count_value
from knowledge.items import Item

#: The ``qnabotcontext`` entry holding a quiz in progress.
CONTEXT_KEY = "quiz"
DEFAULT_END_MESSAGE = "Thank you for taking the quiz!"
_EXIT_WORDS = ("QUIT", "EXIT")


def standardize(reply: str) -> str:
    """The reply as QnABot compares it: upper case, trimmed, no punctuation.

    >>> standardize(" b. ")
    'B'
    """
    return re.sub(r"[^\w\s]|_", "", reply.upper().strip()).strip()


def _letters(count: int) -> list[str]:
    return [chr(ord("A") + n) for n in range(count)]


def _choices(item: Item) -> list[tuple[str, bool]]:
    """The question's answers, incorrect ones first then correct ones, before shuffling."""
    data = item.data
    return [(str(a), False) for a in data.get("incorrectAnswers") or ()] + \
        [(str(a), True) for a in data.get("correctAnswers") or ()]


def _ordered(item: Item, order: Sequence[int]) -> list[tuple[str, bool, str]]:
    """(answer, is correct, letter) in the order the user saw them."""
    choices = _choices(item)
    if not all(isinstance(i, int) for i in order) or sorted(order) != list(range(len(choices))):
        order = range(len(choices))  # the item changed since it was asked: its own order
    return [(*choices[i], letter) for i, letter in zip(order, _letters(len(choices)),
                                                       strict=False)]


def _quiz_item(state: TurnState, qid: Any) -> Item | None:
    if not isinstance(qid, str) or not qid.strip():
        return None
    item = state.services.kb.store.get(qid.strip())
    return item if item is not None and item.kind == "quiz" else None


def _next_qid(item: Item) -> str:
    following = item.data.get("next") or []
    first = following[0] if isinstance(following, list) and following else ""
    return first.strip() if isinstance(first, str) else ""


class _Reply:
    """The text and markdown of one quiz turn, built part by part."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.markdown: list[str] = []

    def say(self, text: str, markdown: str | None = None) -> None:
        if text.strip():
            self.text.append(text.strip())
            self.markdown.append((markdown or text).strip())

    def answer(self, card: ResponseCard | None = None) -> Answer:
        return Answer(" ".join(self.text), "quiz", markdown="\n\n".join(self.markdown),
                      card=card)


def _ask(state: TurnState, quiz: dict[str, Any], reply: _Reply) -> Answer:
    """Ask the question ``quiz["next"]`` names, or give the score when there is none."""
    item = _quiz_item(state, quiz.get("next"))
    if item is None:
        if quiz.get("next"):
            state.debug.degraded.append(f"quiz question {quiz['next']} not found; quiz ended")
        return _finish(state, quiz, reply)
    order = list(range(len(_choices(item))))
    random.Random(f"{state.request.user_id}|{item.qid}|{quiz['questionCount']}").shuffle(order)
    asked = _ordered(item, order)
    number = count_value(quiz.get("questionCount")) + 1
    question = str(item.data.get("question") or "")
    reply.say(f"Question {number}: {question} " +
              " ".join(f"{letter}. {text}" for text, _, letter in asked),
              f"**Question {number}:** {question}\n\n" +
              "\n".join(f"- **{letter}.** {text}" for text, _, letter in asked))
    card = render.fit_card(item.card) if item.card and item.card.image_url else None
    answer = reply.answer(card)
    answer.context[CONTEXT_KEY] = {**quiz, "questionCount": number, "prev": item.qid,
                                   "next": _next_qid(item), "order": order}
    return answer


def _finish(state: TurnState, quiz: Mapping[str, Any], reply: _Reply,
            last: Item | None = None) -> Answer:
    asked = count_value(quiz.get("questionCount"))
    right = min(count_value(quiz.get("correctAnswerCount")), asked)
    score = round(right / asked * 100) if asked else 0
    reply.say(f"You answered {right} of {asked} questions correctly: your score is {score}%."
              + (" Well done!" if score > 50 else ""))
    end = (last.data.get("responses") or {}).get("end") if last is not None else None
    reply.say(end if isinstance(end, str) and end.strip() else DEFAULT_END_MESSAGE)
    return reply.answer()


def start_quiz(state: TurnState, item: Item, answer: Answer) -> Answer:
    """The quiz item ``item.args[0]`` names begins, after ``answer`` (the starting item's)."""
    first = item.lambda_args[0] if item.lambda_args else ""
    if _quiz_item(state, first) is None:
        state.debug.degraded.append(f"quiz not started: no quiz item with qid {first!r}")
        return answer
    reply = _Reply()
    reply.say(answer.text, answer.markdown or answer.text)
    quiz = {"questionCount": 0, "correctAnswerCount": 0, "next": first, "prev": None,
            "originalDocumentQid": item.qid}
    asked = _ask(state, quiz, reply)
    asked.qid, asked.topic = answer.qid, answer.topic
    return asked


class QuizStage:
    """Takes the user's answer while a quiz is in progress."""

    name = "quiz"

    def answer(self, state: TurnState) -> Answer | None:
        """Right or wrong, then the next question or the score; None when no quiz is open."""
        quiz = context_entry(state.request, CONTEXT_KEY)
        if not quiz:
            return None
        state.debug.dialog = "quiz"
        reply = _Reply()
        choice = standardize(state.question)
        if choice in _EXIT_WORDS:
            reply.say("You have left the quiz.")
            return reply.answer()
        previous = _quiz_item(state, quiz.get("prev"))
        if previous is None:
            state.debug.degraded.append("quiz question no longer exists; quiz ended")
            reply.say("Sorry, the quiz could not go on.")
            return reply.answer()
        order = quiz.get("order")
        asked = _ordered(previous, order if isinstance(order, list) else [])
        correct = [letter for _, right, letter in asked if right]
        if choice not in (letter for _, _, letter in asked):
            letters = [letter for _, _, letter in asked]
            reply.say(f"Please answer with one of the letters {', '.join(letters[:-1])} or "
                      f"{letters[-1]}." if len(letters) > 1 else "Please answer with A.")
            answer = reply.answer()
            answer.context[CONTEXT_KEY] = quiz
            return answer
        responses = previous.data.get("responses") or {}
        if choice in correct:
            quiz["correctAnswerCount"] = count_value(quiz.get("correctAnswerCount")) + 1
            reply.say(f"Correct! {responses.get('correct') or ''}")
        else:
            reply.say(f"Sorry, the correct answer was {' or '.join(correct)}. "
                      f"{responses.get('incorrect') or ''}")
        if not quiz.get("next"):
            return _finish(state, quiz, reply, previous)
        return _ask(state, quiz, reply)
