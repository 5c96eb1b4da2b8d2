"""QnABot's Excel spreadsheets import like its JSON files, with the same per-item problems."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.importer import ImportFileError, import_files
from knowledge.knowledge_base import KnowledgeBase
from knowledge.stores.sqlite_store import SqliteStore


@pytest.fixture
def kb(tmp_path) -> KnowledgeBase:
    return KnowledgeBase(SqliteStore(tmp_path / "kb.sqlite"), HashingEmbeddings())


def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_a_qnabot_spreadsheet_imports_with_friendly_columns_questions_and_cards(kb, tmp_path):
    path = workbook(tmp_path / "faq.xlsx", {"FAQ": [
        ["qid", "question", "question1", "question2", "answer", "topic", "markdown",
         "cardtitle", "cardimageurl", "displaytext1", "buttonvalue1", "clientFilterValues",
         "botRouting.specialty_bot"],
        ["Hours.1", "When are you open?", "Opening hours", "What time\ndo you open?",
         "9 to 5.", "hours", "**9** to 5.", "Hours", "https://example.com/h.png", "More",
         "more hours", "web", None],
        [],  # an empty row is skipped
        ["Bot.1", "Book a trip", None, None, "Connecting you.", None, None, None, None, None,
         None, None, "BookTrip"],
    ]})

    report = import_files(kb, [path])

    assert (report.read, report.stored, report.rejected) == (2, 2, 0)
    hours = kb.store.get("Hours.1")
    assert hours.questions == ("When are you open?", "Opening hours", "What time do you open?")
    assert (hours.answer, hours.topic, hours.markdown) == ("9 to 5.", "hours", "**9** to 5.")
    assert hours.card.title == "Hours" and hours.card.buttons[0].value == "more hours"
    assert hours.card.image_url == "https://example.com/h.png"
    assert hours.client_filter_values == ("web",)
    assert kb.store.get("Bot.1").to_json()["botRouting"] == {"specialty_bot": "BookTrip"}


def test_bad_rows_get_the_same_problems_as_json_items_located_by_sheet_and_row(kb, tmp_path):
    path = workbook(tmp_path / "faq.xlsx", {
        "Good": [["qid", "question", "answer"], ["Ok.1", "Hi", "Hello"]],
        "Bad": [["qid", "question", "answer"], ["Ok.2", "Hi again", "Hello again"],
                [None, "No qid", "Answer"], ["No.Answer", "Question", None]],
    })

    report = import_files(kb, [path])

    assert (report.read, report.stored, report.rejected) == (4, 2, 2)
    places = {(p.file, p.line, p.qid, p.field) for p in report.problems}
    assert (f"{path}[Bad]", 3, None, "qid") in places
    assert any(p.file == f"{path}[Bad]" and p.line == 4 and p.qid == "No.Answer"
               for p in report.problems)
    assert all(str(p).startswith(f"{path}[Bad]:") for p in report.problems)


def test_a_broken_workbook_changes_nothing(kb, tmp_path):
    good = workbook(tmp_path / "good.xlsx", {"S": [["qid", "q", "a"], ["A.1", "Hi", "Yo"]]})
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(good.read_bytes()[:200])

    with pytest.raises(ImportFileError, match="cannot import"):
        import_files(kb, [good, broken])
    assert kb.store.get("A.1") is None
