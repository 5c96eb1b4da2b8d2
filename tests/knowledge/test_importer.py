"""Importing QnABot files: what an admin sees, and what ends up in the store."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from knowledge.importer import ImportFileError, ItemProblem, import_files, open_source
from tests.builders import qna_raw as qna
from tests.knowledge.conftest import FIXTURES

BLOG = FIXTURES / "blog-samples-final.json"
PASSAGES = FIXTURES / "TextPassage-NurseryRhymeExamples.json"


@pytest.fixture
def kb(hashing_kb):
    return hashing_kb


def write_export(path: Path, items: list, *, bom: bool = False) -> Path:
    text = json.dumps({"qna": items}, indent=2, ensure_ascii=False)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    return path


def write_lines(path: Path, lines: list[str], *, bom: bool = False) -> Path:
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + "\n".join(lines).encode("utf-8"))
    return path


def snapshot(kb) -> list[dict]:
    return [item.to_json() for item in kb.store.iter_items()]


# --- the QnABot sample packages -------------------------------------------------------------


def test_qnabot_sample_packages_import_with_no_problems(kb):
    report = import_files(kb, [BLOG, PASSAGES])

    assert (report.read, report.stored, report.rejected) == (22, 22, 0)
    assert report.problems == [] and report.warnings == [] and report.ok
    assert kb.store.count() == 22
    assert kb.store.get("0.HumptyDumpty").kind == "text"


def test_each_item_of_the_failing_sample_is_rejected_naming_the_wrong_field(kb):
    report = import_files(kb, [FIXTURES / "import-fail-expected.json"])

    assert (report.read, report.stored, report.rejected) == (5, 0, 5)
    fields_by_position: dict[int, set[str]] = {}
    for problem in report.problems:
        fields_by_position.setdefault(problem.position, set()).add(problem.field)
    assert fields_by_position[1] >= {"qid"}
    assert fields_by_position[2] == {"qid"}
    assert fields_by_position[3] == {"q"}
    assert fields_by_position[4] == {"a"}
    assert fields_by_position[5] == {"q[0]"}
    assert {p.qid for p in report.problems if p.position == 2} == {"No Spaces.001"}
    assert kb.store.count() == 0


def test_passing_sample_keeps_double_byte_text_and_unknown_fields(kb):
    report = import_files(kb, [FIXTURES / "import-pass-expected.json"])

    assert (report.stored, report.rejected) == (3, 0)
    assert kb.store.get("DoubleByteCharacters.001").answer == "今日は晴れです。"
    imported = kb.store.get("Import.002").data
    assert imported["elicitResponse"] == {"responsebot_hook": "QnAYesNoBot"}
    assert imported["sa"][0]["enableTranslate"] is False


# --- formats ----------------------------------------------------------------------------------


def test_json_lines_report_the_line_of_a_bad_item_and_store_the_others(kb, tmp_path):
    path = write_lines(tmp_path / "items.jsonl", [
        json.dumps(qna("Good.001")),
        "",
        '{"qid": "Broken.001", "q": ["x"',
        json.dumps(qna("Blank.001", answer=" ")),
        "   ",
        json.dumps(qna("Good.002")),
    ])

    report = import_files(kb, [path])

    assert (report.read, report.stored, report.rejected) == (4, 2, 2)
    broken, blank = report.problems
    assert (broken.line, broken.position, broken.qid, broken.field) == (3, 2, None, "item")
    assert "not valid JSON" in broken.message
    assert (blank.line, blank.position, blank.qid, blank.field) == (4, 3, "Blank.001", "a")
    assert str(blank) == f"{path}:4 qid=Blank.001 a: must not be blank"
    assert [item.qid for item in kb.store.iter_items()] == ["Good.001", "Good.002"]


def test_a_broken_first_line_of_json_lines_is_reported_like_any_other_line(kb, tmp_path):
    path = write_lines(tmp_path / "items.jsonl", ['{"qid": "Cut.001", "q": [',
                                                  json.dumps(qna("Fine.001"))])

    report = import_files(kb, [path])

    assert (report.stored, report.rejected) == (1, 1)
    assert (report.problems[0].line, report.problems[0].field) == (1, "item")


def test_the_format_comes_from_the_content_not_the_extension(kb, tmp_path):
    lines = write_lines(tmp_path / "looks-like-export.json", [json.dumps(qna("Lines.001"))])
    export = write_export(tmp_path / "looks-like-lines.jsonl", [qna("Export.001")])

    assert open_source(lines).format == "jsonl"
    assert open_source(export).format == "export"
    assert import_files(kb, [lines, export]).stored == 2


@pytest.mark.parametrize("bom", [True, False])
def test_a_utf8_byte_order_mark_is_accepted_in_both_formats(kb, tmp_path, bom):
    export = write_export(tmp_path / "export.json", [qna("Bom.001", "Ça va ?")], bom=bom)
    lines = write_lines(tmp_path / "items.jsonl", [json.dumps(qna("Bom.002"))], bom=bom)

    report = import_files(kb, [export, lines])

    assert (report.stored, report.rejected) == (2, 0)
    assert kb.store.get("Bom.001").questions == ("Ça va ?",)


def test_a_one_line_export_file_is_read_as_the_export_format(kb, tmp_path):
    path = tmp_path / "minified.json"
    path.write_text(json.dumps({"qna": [qna("Min.001"), qna("Min.002")]}), "utf-8")

    assert open_source(path).format == "export"
    assert import_files(kb, [path]).stored == 2


def test_an_export_whose_qna_list_is_not_the_first_key_is_still_the_export_format(kb, tmp_path):
    one_line = tmp_path / "one-line.json"
    one_line.write_text(json.dumps({"version": 2, "qna": [qna("Late.001")]}), "utf-8")
    indented = tmp_path / "indented.json"
    indented.write_text(json.dumps({"version": 2, "qna": [qna("Late.002")]}, indent=2), "utf-8")

    report = import_files(kb, [one_line, indented])

    assert (report.stored, report.rejected) == (2, 0)


def test_non_object_elements_of_the_qna_list_are_rejected_as_items(kb, tmp_path):
    path = write_export(tmp_path / "odd.json", [qna("Ok.001"), 7, ["a", ["b"]], qna("Ok.002")])

    report = import_files(kb, [path])

    assert (report.read, report.stored, report.rejected) == (4, 2, 2)
    assert [(p.position, p.field) for p in report.problems] == [(2, "item"), (3, "item")]


def test_nested_values_and_numbers_survive_streaming(kb, tmp_path):
    extra = {"deep": [[1, 2.5], {"k": [True, None, "x"]}], "count": 3}
    path = write_export(tmp_path / "nested.json", [qna("Nested.001", extra=extra)])

    import_files(kb, [path])

    assert kb.store.get("Nested.001").data["extra"] == extra


# --- unreadable files --------------------------------------------------------------------------


def _unreadable_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, words the error message must contain)."""
    folder.mkdir()
    cases = {
        "missing": (folder / "nope.json", "no such file"),
        "folder": (folder, "is a folder"),
        "empty": (folder / "empty.json", "is empty"),
        "not json": (folder / "notes.txt", "is not JSON"),
        "list": (folder / "list.json", "JSON list"),
        "wrong key": (folder / "items.json", 'has no "qna" list (its top-level keys: "items")'),
        "qna not a list": (folder / "map.json", '"qna" must be a list'),
        "truncated": (folder / "truncated.json", "truncated"),
        "syntax": (folder / "syntax.json", "is not valid JSON"),
        "latin-1": (folder / "latin1.json", "is not UTF-8"),
        "latin-1 lines": (folder / "latin1.jsonl", "is not UTF-8"),
        "utf-16": (folder / "utf16.json", "UTF-16"),
    }
    cases["empty"][0].write_text("  \n", "utf-8")
    cases["not json"][0].write_text("qid,question,answer\n", "utf-8")
    cases["list"][0].write_text(json.dumps([qna("L.1")]), "utf-8")
    cases["wrong key"][0].write_text(json.dumps({"items": [qna("W.1")]}, indent=2), "utf-8")
    cases["qna not a list"][0].write_text('{"qna": {"qid": "M.1"}}', "utf-8")
    full = json.dumps({"qna": [qna("T.1"), qna("T.2")]}, indent=2)
    cases["truncated"][0].write_text(full[: len(full) // 2 + 7], "utf-8")
    cases["syntax"][0].write_text('{"qna": [\n  {"qid": "S.1",, "a": "x"}\n]}', "utf-8")
    cases["latin-1"][0].write_bytes(json.dumps({"qna": [qna("X.1", "Ça va?")]},
                                               ensure_ascii=False).encode("latin-1"))
    cases["latin-1 lines"][0].write_bytes(
        (json.dumps(qna("X.2")) + "\n" + json.dumps(qna("X.3", "Ça?"), ensure_ascii=False))
        .encode("latin-1"))
    cases["utf-16"][0].write_bytes(json.dumps({"qna": []}).encode("utf-16"))
    return cases


@pytest.mark.parametrize("case", ["missing", "folder", "empty", "not json", "list", "wrong key",
                                  "qna not a list", "truncated", "syntax", "latin-1",
                                  "latin-1 lines", "utf-16"])
def test_an_unreadable_file_aborts_the_import_and_changes_nothing(kb, tmp_path, case):
    import_files(kb, [BLOG])
    before = snapshot(kb)
    path, words = _unreadable_files(tmp_path / "bad")[case]
    good = write_lines(tmp_path / "good.jsonl", [json.dumps(qna("New.001"))])

    with pytest.raises(ImportFileError) as error:
        import_files(kb, [good, path], replace_all=True)

    assert words in str(error.value)
    assert str(path) in str(error.value)
    assert snapshot(kb) == before


def test_syntax_errors_give_line_and_column(tmp_path, kb):
    path = _unreadable_files(tmp_path / "bad")["syntax"][0]

    with pytest.raises(ImportFileError) as error:
        import_files(kb, [path])

    assert (error.value.line, error.value.column) == (2, 17)
    assert "(line 2, column 17)" in str(error.value)


def test_a_file_truncated_after_many_items_rolls_back_the_items_already_streamed(kb, tmp_path):
    import_files(kb, [PASSAGES])
    before = snapshot(kb)
    items = [qna(f"Many.{n:04d}", f"Question number {n}") for n in range(600)]
    text = json.dumps({"qna": items}, indent=2)
    path = tmp_path / "cut.json"
    path.write_text(text[: int(len(text) * 0.9)], "utf-8")  # several batches precede the cut

    with pytest.raises(ImportFileError, match="truncated"):
        import_files(kb, [path])

    assert snapshot(kb) == before


# --- upserts, duplicates, replace-all --------------------------------------------------------------


def test_importing_an_existing_qid_replaces_that_item(kb, tmp_path):
    import_files(kb, [write_export(tmp_path / "v1.json", [qna("Up.001", answer="Old"),
                                                          qna("Keep.001")])])

    report = import_files(kb, [write_export(tmp_path / "v2.json",
                                            [qna("Up.001", answer="New")])])

    assert report.stored == 1
    assert kb.store.get("Up.001").answer == "New"
    assert kb.store.count() == 2


def test_a_repeated_qid_keeps_the_later_item_and_warns_with_both_positions(kb, tmp_path):
    first = write_export(tmp_path / "a.json", [qna("Dup.001", answer="First"), qna("Other.001")])
    second = write_lines(tmp_path / "b.jsonl", ["", json.dumps(qna("Dup.001", answer="Second"))])

    report = import_files(kb, [first, second])

    assert (report.read, report.stored, report.rejected) == (3, 2, 0)
    assert kb.store.get("Dup.001").answer == "Second"
    assert kb.store.count() == 2
    [warning] = report.warnings
    assert '"Dup.001"' in warning and f"{first}:1" in warning and f"{second}:2" in warning


def test_replace_all_leaves_exactly_the_valid_items_of_all_the_files(kb, tmp_path):
    import_files(kb, [BLOG])
    passages = write_lines(tmp_path / "p.jsonl", [
        json.dumps({"qid": "P.1", "type": "text", "passage": "Once upon a time."}),
        json.dumps({"qid": "P.2", "type": "text", "passage": ""}),
    ])

    report = import_files(kb, [FIXTURES / "import-pass-expected.json", passages],
                          replace_all=True)

    assert report.rejected == 1
    assert [item.qid for item in kb.store.iter_items()] == [
        "DoubleByteCharacters.001", "Import.002", "Import.003", "P.1"]


# --- the report ---------------------------------------------------------------------------------


def test_reimporting_unchanged_content_is_served_from_the_embedding_cache(kb):
    first = import_files(kb, [BLOG])
    again = import_files(kb, [BLOG])

    assert first.cache_misses > 0
    assert again.cache_misses == 0 and again.cache_hits > 0
    assert "embedding cache" in again.summary()


def test_the_progress_callback_counts_every_item_stored_or_rejected(kb):
    counted = []

    report = import_files(kb, [BLOG, FIXTURES / "import-fail-expected.json"],
                          progress=counted.append)

    assert sum(counted) == report.read == 25


def test_the_report_is_plain_json(kb):
    report = import_files(kb, [FIXTURES / "import-fail-expected.json"])

    data = json.loads(json.dumps(report.to_json()))

    assert (data["read"], data["stored"], data["rejected"]) == (5, 0, 5)
    assert data["files"] == [str(FIXTURES / "import-fail-expected.json")]
    assert set(data["problems"][0]) == {"file", "position", "line", "qid", "field", "message"}


def test_a_problem_line_names_file_position_qid_and_field():
    problem = ItemProblem("faq.json", 4, None, "No Spaces.001", "qid", "must not contain spaces")

    assert str(problem) == 'faq.json:4 qid="No Spaces.001" qid: must not contain spaces'
    assert str(ItemProblem("x.jsonl", 1, 9, None, "item", "is not valid JSON")) == (
        "x.jsonl:9 qid=- item: is not valid JSON")
