"""QnABot quizzes: quiz items import, questions are asked with lettered answers, answers are
scored, and the quiz ends with the score."""

from __future__ import annotations

import re

from .conftest import context, said


def letter_of(text: str, answer: str) -> str:
    return re.search(rf"\b([A-Z])\. {re.escape(answer)}", text).group(1)


def other_letter(text: str, answer: str) -> str:
    mine = letter_of(text, answer)
    return next(x for x in re.findall(r"\b([A-Z])\. ", text) if x != mine)


def test_a_quiz_asks_scores_and_finishes(conversation):
    chat = conversation()
    first = chat.ask("Start the harbor quiz")
    text = said(first)
    assert text.startswith("Starting the harbor quiz! Question 1: What color are the city "
                           "ferries?")
    assert sorted(re.findall(r"\b[A-Z]\. (\w+)", text)) == ["Green", "Orange", "Purple"]
    assert "Green" not in str(context(first)["quiz"])  # the answers stay on the server
    wrong = chat.ask(other_letter(text, "Green"))
    assert said(wrong).startswith(
        f"Sorry, the correct answer was {letter_of(text, 'Green')}. They are green. "
        "Question 2: How many piers does the harbor have?")
    last = chat.ask(letter_of(said(wrong), "Three").lower() + ".")
    assert said(last) == ("Correct! Three it is. You answered 1 of 2 questions correctly: "
                          "your score is 50%. See you on the water!")
    assert "quiz" not in context(last)


def test_a_reply_that_is_no_letter_is_asked_again_and_quit_leaves(conversation):
    chat = conversation()
    first = chat.ask("Start the harbor quiz")
    again = chat.ask("Z")
    assert said(again) == "Please answer with one of the letters A, B or C."
    assert context(again)["quiz"] == context(first)["quiz"]
    left = chat.ask("quit")
    assert said(left) == "You have left the quiz."
    assert "quiz" not in context(left)
    assert said(chat.ask("Start the harbor tour")) == "Stop 1: the ferry dock."
