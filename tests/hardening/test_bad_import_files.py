"""Import files made by hand: every bad item is reported and skipped, every valid one stored;
a file that cannot be read changes nothing; a 100 MB file streams in bounded memory.

The basic file problems (missing, empty, not JSON, truncated, a JSON list, Latin-1 and UTF-16
from the first byte, a BOM) are covered in ``tests/knowledge/test_importer.py``; these are the
cases hand-made files add on top.
"""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from knowledge.importer import SNIFF_BYTES, ImportFileError, import_files
from tests.builders import qna_raw as qna

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kb(hashing_kb):
    return hashing_kb


def snapshot(kb) -> list[dict]:
    return [item.to_json() for item in kb.store.iter_items()]


def export_bytes(items: list) -> bytes:
    return json.dumps({"qna": items}, indent=2, ensure_ascii=False).encode("utf-8")


def many_items(count: int, prefix: str = "Many") -> list[dict]:
    """Enough items that the file runs well past the importer's sniffed head."""
    return [qna(f"{prefix}.{n:05d}", f"Question number {n} about the ferry to the island")
            for n in range(count)]


# --- mixed encodings ------------------------------------------------------------------------


def _late_bytes(data: bytes, marker: bytes, insert: bytes) -> bytes:
    """``data`` with ``insert`` put just before ``marker``, which lies beyond the sniffed head."""
    at = data.index(marker)
    assert at > SNIFF_BYTES, "the foreign bytes must come after the part read to detect the format"
    return data[:at] + insert + data[at:]


def mixed_files(folder: Path) -> dict[str, Path]:
    """Files that are UTF-8 at the start and something else further on."""
    folder.mkdir()
    export = export_bytes(many_items(1500))
    lines = "\n".join(json.dumps(item) for item in many_items(1500)).encode("utf-8")
    files = {
        "latin-1 accent deep in an export": _late_bytes(export, b'Many.01200', b"Caf\xe9"),
        "windows-1252 quotes deep in an export": _late_bytes(
            export, b"Question number 1300 ", b"\x93quoted\x94 "),
        "utf-16 text deep in an export": _late_bytes(
            export, b"Question number 1400 ", "Ça va".encode("utf-16-le")),
        "latin-1 line deep in JSON Lines": _late_bytes(lines, b'{"qid": "Many.01200"',
                                                       b'{"qid": "Caf\xe9", "q": ["x"], "a": "y"}\n'),
        "BOM then latin-1 deep in an export": codecs.BOM_UTF8 + _late_bytes(
            export, b"Question number 1100 ", b"\xe0 la carte "),
    }
    paths = {}
    for number, (name, data) in enumerate(files.items()):
        paths[name] = folder / f"mixed-{number}.json"
        paths[name].write_bytes(data)
    return paths


@pytest.mark.parametrize("case", ["latin-1 accent deep in an export",
                                  "windows-1252 quotes deep in an export",
                                  "utf-16 text deep in an export",
                                  "latin-1 line deep in JSON Lines",
                                  "BOM then latin-1 deep in an export"])
def test_a_file_that_changes_encoding_part_way_fails_whole_naming_the_line(kb, tmp_path, case):
    import_files(kb, [_write(tmp_path / "first.json", export_bytes([qna("Keep.001")]))])
    before = snapshot(kb)
    path = mixed_files(tmp_path / "mixed")[case]

    with pytest.raises(ImportFileError) as error:
        import_files(kb, [path], replace_all=True)

    assert "is not UTF-8 text" in str(error.value) and "save it as UTF-8" in str(error.value)
    assert str(path) in str(error.value)
    assert error.value.line is not None and error.value.line > 1
    assert snapshot(kb) == before  # the batches already streamed were rolled back


def test_the_same_file_saved_as_utf8_then_imports(kb, tmp_path):
    path = mixed_files(tmp_path / "mixed")["latin-1 accent deep in an export"]
    fixed = tmp_path / "fixed.json"
    fixed.write_bytes(path.read_bytes().decode("latin-1").encode("utf-8"))

    report = import_files(kb, [fixed])

    assert (report.read, report.stored, report.rejected) == (1500, 1500, 0)
    assert kb.store.get("CaféMany.01200") is not None


def test_utf8_text_of_every_script_and_a_bom_survive_exactly(kb, tmp_path):
    texts = ["Où est la gare ?", "駅はどこですか", "Где вокзал?", "أين المحطة؟", "🚉 where? ‽",
             "zero\u200bwidth and \ufeff inside"]
    path = _write(tmp_path / "scripts.json", codecs.BOM_UTF8 + export_bytes(
        [qna(f"Script.{n}", text, text) for n, text in enumerate(texts)]))

    import_files(kb, [path])

    assert [kb.store.get(f"Script.{n}").questions[0] for n in range(len(texts))] == texts


# --- duplicates -----------------------------------------------------------------------------


def test_a_qid_repeated_in_one_export_keeps_the_later_item_and_says_so(kb, tmp_path):
    path = _write(tmp_path / "dup.json", export_bytes([
        qna("Dup.001", answer="First"), qna("Other.001"), qna("Dup.001", answer="Second"),
        qna("Dup.001", answer="Third")]))

    report = import_files(kb, [path])

    assert (report.read, report.stored, report.rejected) == (4, 2, 0)
    assert kb.store.get("Dup.001").answer == "Third"
    first, second = report.warnings
    assert f"{path}:1 and {path}:3" in first and f"the later one ({path}:3) is kept" in first
    assert f"{path}:3 and {path}:4" in second and f"the later one ({path}:4) is kept" in second


def test_a_qid_repeated_in_json_lines_names_the_lines(kb, tmp_path):
    path = _write(tmp_path / "dup.jsonl", "\n".join([
        json.dumps(qna("Dup.001", answer="First")), "", json.dumps(qna("Dup.001", answer="Later"))
    ]).encode())

    report = import_files(kb, [path])

    assert kb.store.get("Dup.001").answer == "Later"
    [warning] = report.warnings
    assert f"{path}:1 and {path}:3" in warning and f"the later one ({path}:3) is kept" in warning


def test_an_invalid_repeat_does_not_replace_the_valid_item(kb, tmp_path):
    path = _write(tmp_path / "dup.json", export_bytes([
        qna("Dup.001", answer="Valid"), qna("Dup.001", answer="")]))

    report = import_files(kb, [path])

    assert (report.stored, report.rejected) == (1, 1)
    assert kb.store.get("Dup.001").answer == "Valid"


# --- wrong types, over-long fields, wrong shapes -----------------------------------------------


BAD_ITEMS = {
    "q": {"qid": "Bad.q", "q": "not a list", "a": "x"},
    "a": {"qid": "Bad.a", "q": ["x"], "a": 5},
    "qid": {"qid": ["Bad.qid"], "q": ["x"], "a": "x"},
    "t": {"qid": "Bad.t", "q": ["x"], "a": "x", "t": {"topic": 1}},
    "q[0]": {"qid": "Bad.q0", "q": [None], "a": "x"},
    "r.buttons": {"qid": "Bad.r", "q": ["x"], "a": "x", "r": {"buttons": "none"}},
    "alt.markdown": {"qid": "Bad.alt", "q": ["x"], "a": "x", "alt": {"markdown": ["x"]}},
    "passage": {"qid": "Bad.passage", "type": "text", "passage": 5},
    "long qid": {"qid": "Q" * 101, "q": ["x"], "a": "x"},
    "long question": {"qid": "Bad.longq", "q": ["x" * 141], "a": "x"},
    "long answer": {"qid": "Bad.longa", "q": ["x"], "a": "x" * 8001},
    "long topic": {"qid": "Bad.longt", "q": ["x"], "a": "x", "t": "t" * 101},
    "long hook": {"qid": "Bad.longl", "q": ["x"], "a": "x", "l": "qna-" + "l" * 253},
    "item": 42,
}
FIELDS = {"long qid": "qid", "long question": "q[0]", "long answer": "a", "long topic": "t",
          "long hook": "l"}


def test_each_wrong_typed_or_over_long_field_is_reported_and_the_valid_items_stored(kb, tmp_path):
    good = [qna(f"Good.{n}", f"Good question {n}") for n in range(3)]
    items = [good[0], *BAD_ITEMS.values(), good[1], good[2]]
    path = _write(tmp_path / "mixed.json", export_bytes(items))

    report = import_files(kb, [path])

    assert (report.read, report.stored, report.rejected) == (len(items), 3, len(BAD_ITEMS))
    assert sorted(item.qid for item in kb.store.iter_items()) == ["Good.0", "Good.1", "Good.2"]
    reported = {(p.position, p.field) for p in report.problems}
    for position, name in enumerate(BAD_ITEMS, start=2):
        assert (position, FIELDS.get(name, name)) in reported, name
    long = next(p for p in report.problems if p.qid == "Bad.longa")
    assert "8001 characters long; the limit is 8000" in long.message


@pytest.mark.parametrize("text, words", [
    ('{"qna": null}', '"qna" must be a list of items, not null'),
    ('{"qna": "items"}', '"qna" must be a list of items, not text'),
    ('{"qna": {"qid": "A"}}', '"qna" must be a list of items, not an object'),
    ('{\n  "items": [],\n  "version": 2\n}', 'has no "qna" list (its top-level keys: "items", '
                                             '"version")'),
    ("{\n}", 'has no "qna" list'),
    ("null", "is not JSON"),
    ('"qna"', "is not JSON"),
    ("\x00\x01binary", "is not JSON"),
    ("PK\x03\x04 spreadsheet", "is a ZIP file, not JSON or an Excel workbook"),
])
def test_a_file_of_the_wrong_shape_fails_whole_and_changes_nothing(kb, tmp_path, text, words):
    import_files(kb, [_write(tmp_path / "first.json", export_bytes([qna("Keep.001")]))])
    before = snapshot(kb)
    good = _write(tmp_path / "good.json", export_bytes([qna("New.001")]))
    path = _write(tmp_path / "shape.json", text.encode("utf-8"))

    with pytest.raises(ImportFileError, match="cannot import") as error:
        import_files(kb, [good, path], replace_all=True)

    assert words in str(error.value)
    assert snapshot(kb) == before


def test_elements_of_the_qna_list_that_are_not_objects_are_rejected_one_by_one(kb, tmp_path):
    path = _write(tmp_path / "odd.json", b'{"qna": [1, "x", null, [], {"qid": "Ok.1", '
                                         b'"q": ["Hi"], "a": "Hello"}, true]}')

    report = import_files(kb, [path])

    assert (report.read, report.stored, report.rejected) == (6, 1, 5)
    assert {p.field for p in report.problems} == {"item"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["qid", "q", "a", "t", "type", "passage", "r", "alt", "l", "x"]),
        children, max_size=5), max_leaves=12)
item_like = st.fixed_dictionaries(
    {"qid": st.text(max_size=12) | json_values, "q": st.lists(st.text(max_size=30), max_size=3)
     | json_values, "a": st.text(max_size=30) | json_values},
    optional={"type": st.sampled_from(["qna", "text", "other"]) | json_values,
              "passage": st.text(max_size=30), "t": json_values, "r": json_values})


@hyp_settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(item_like | json_values, min_size=1, max_size=6))
def test_any_json_lines_are_stored_or_reported_item_by_item_or_refused_whole(kb, tmp_path, values):
    path = _write(tmp_path / "any.jsonl", "\n".join(json.dumps(v) for v in values).encode())

    if not isinstance(values[0], dict):  # not a JSON Lines file of items at all
        before = snapshot(kb)
        with pytest.raises(ImportFileError, match="QnABot import files are either"):
            import_files(kb, [path])
        assert snapshot(kb) == before
        return

    report = import_files(kb, [path])

    rejected = {problem.position for problem in report.problems}
    assert report.read == len(values) and report.rejected == len(rejected)
    for position, value in enumerate(values, start=1):
        if position not in rejected:
            assert kb.store.get(value["qid"]) is not None


# --- size -----------------------------------------------------------------------------------


MEASURE_IMPORT = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    from knowledge.backends import open_knowledge_base
    from knowledge.importer import import_files

    kb = open_knowledge_base(Path(sys.argv[2]))
    kb.store.count()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = import_files(kb, [Path(sys.argv[1])])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    item = kb.store.get("Big.004321")
    print(json.dumps({"before_kib": before, "peak_kib": peak, "read": report.read,
                      "stored": report.stored, "count": kb.store.count(),
                      "notes": len(item.data["x_notes"]), "answer": item.answer}))
""")


def write_big_export(path: Path, items: int, notes_chars: int) -> int:
    """A QnABot export of ``items`` items, written piece by piece; its size in bytes."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('\ufeff{"qna": [\n')
        for n in range(items):
            item = qna(f"Big.{n:06d}", f"What is big fact number {n}?", f"Big fact {n}.",
                       t="Big", x_notes="n" * notes_chars)
            handle.write(("," if n else "") + json.dumps(item) + "\n")
        handle.write("]}\n")
    return path.stat().st_size


def test_a_100_mb_file_is_streamed_in_bounded_memory(tmp_path):
    path = tmp_path / "big.json"
    size = write_big_export(path, items=8000, notes_chars=12_500)
    assert size > 100_000_000

    result = subprocess.run(
        [sys.executable, "-c", MEASURE_IMPORT, str(path), str(tmp_path / "home")], cwd=ROOT,
        env={**os.environ, "EMBEDDINGS_API": "HASHING"}, capture_output=True, text=True,
        timeout=600)

    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert (measured["read"], measured["stored"], measured["count"]) == (8000, 8000, 8000)
    assert (measured["notes"], measured["answer"]) == (12_500, "Big fact 4321.")
    grown = (measured["peak_kib"] - measured["before_kib"]) * 1024
    # Reading the file whole would take more than its own size; streaming takes batches.
    assert grown < size / 2, f"peak memory grew by {grown / 1e6:.0f} MB for a {size / 1e6:.0f} MB file"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
