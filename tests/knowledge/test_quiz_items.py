"""QnABot quiz items import with the rest of an export, and search never answers with them."""

from __future__ import annotations

import json

from knowledge.importer import import_files
from knowledge.items import parse_item
from knowledge.settings import Settings
from knowledge.validation import validate_item_json

QUIZ = {"qid": "Quiz.1", "type": "quiz", "q": [], "question": "What does the dog say?",
        "correctAnswers": ["Woof!"], "incorrectAnswers": ["Meow!", "Tweet!"],
        "next": ["Quiz.2"]}


def test_quiz_items_are_valid_and_keep_their_fields():
    item = parse_item(QUIZ)
    assert item.kind == "quiz"
    assert item.to_json() == QUIZ
    assert item.answer == ""


def test_a_broken_quiz_item_is_rejected_naming_the_field():
    problems = [str(p) for p in validate_item_json({**QUIZ, "correctAnswers": []})]
    assert problems == ["correctAnswers: needs at least 1 entry"]
    problems = [str(p) for p in validate_item_json({**QUIZ, "question": 7})]
    assert problems == ["question: must be a string, not a number"]


def test_quiz_items_import_and_are_never_a_search_answer(hashing_kb, tmp_path):
    export = tmp_path / "quiz.json"
    # even a quiz item carrying text a store could index is never matched
    quiz = {**QUIZ, "passage": "What does the dog say? Woof!"}
    export.write_text(json.dumps({"qna": [
        quiz, {"qid": "Dogs.1", "q": ["What sound does a dog make?"], "a": "Dogs bark."}]}))
    report = import_files(hashing_kb, [export])
    assert (report.stored, report.rejected) == (2, 0)
    assert hashing_kb.store.get("Quiz.1").kind == "quiz"
    result = hashing_kb.search("What does the dog say? Woof!", Settings.defaults())
    assert all(hit.item.kind != "quiz" for hit in result.candidates)
