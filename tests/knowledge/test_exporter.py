"""Exporting the knowledge base: QnABot's format, atomic files, and a lossless round trip."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.backends import open_knowledge_base
from knowledge.exporter import export_items, write_export
from knowledge.importer import import_files
from knowledge.items import parse_item
from tests.knowledge.conftest import FIXTURES

SAMPLES = [FIXTURES / "blog-samples-final.json", FIXTURES / "TextPassage-NurseryRhymeExamples.json",
           FIXTURES / "import-pass-expected.json"]


@pytest.fixture
def open_home(tmp_path, monkeypatch):
    """Opens knowledge bases in fresh home folders (HASHING embeddings) and closes them after."""
    monkeypatch.setenv("EMBEDDINGS_API", "HASHING")
    monkeypatch.delenv("QNABOT_STORE", raising=False)
    opened = []

    def open_(name: str):
        kb = open_knowledge_base(tmp_path / name)
        opened.append(kb)
        return kb

    yield open_
    for kb in opened:
        kb.store.close()


def sorted_keys(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def qna(qid: str, **fields) -> dict:
    return {"qid": qid, "q": ["How are you?"], "a": "Fine.", **fields}


def test_an_export_reimported_into_an_empty_home_exports_byte_identical(open_home, tmp_path):
    first, second = open_home("first"), open_home("second")
    import_files(first, SAMPLES)
    export_items(first.store, tmp_path / "one.json")

    report = import_files(second, [tmp_path / "one.json"])
    export_items(second.store, tmp_path / "two.json")

    assert report.rejected == 0 and report.stored == 25
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()


def test_exported_items_equal_the_imported_ones_after_sorting_keys(open_home, tmp_path):
    kb = open_home("home")
    import_files(kb, SAMPLES)
    originals = {}
    for path in SAMPLES:
        for raw in json.loads(path.read_text("utf-8-sig"))["qna"]:
            originals[raw["qid"]] = {"type": "qna", **raw}

    export_items(kb.store, tmp_path / "out.json")
    exported = json.loads((tmp_path / "out.json").read_text("utf-8"))["qna"]

    assert [item["qid"] for item in exported] == sorted(originals)
    for item in exported:
        assert sorted_keys(item) == sorted_keys(originals[item["qid"]])


def test_the_file_is_indented_utf8_with_non_ascii_kept(open_home, tmp_path):
    kb = open_home("home")
    import_files(kb, [FIXTURES / "import-pass-expected.json"])

    export_items(kb.store, tmp_path / "out.json")
    text = (tmp_path / "out.json").read_bytes().decode("utf-8")

    assert text.startswith('{\n  "qna": [\n    {\n')
    assert "今日は晴れです。" in text and "\\u" not in text
    assert "vector" not in text


def test_export_to_a_stream_honours_the_qid_filter(open_home):
    kb = open_home("home")
    import_files(kb, [FIXTURES / "blog-samples-final.json"])
    out = io.StringIO()

    count = export_items(kb.store, out, qid_filter="Alexa")

    qids = [item["qid"] for item in json.loads(out.getvalue())["qna"]]
    assert count == len(qids) >= 2
    assert all("Alexa" in qid for qid in qids)


def test_a_prefix_filter_matches_only_the_start_of_the_qid(open_home, tmp_path):
    kb = open_home("home")
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"qna": [qna("Cost.1"), qna("Alexa.Cost"), qna("Cost.2")]}))
    import_files(kb, [path])
    out = io.StringIO()

    export_items(kb.store, out, qid_filter="Cost", prefix=True)

    assert [item["qid"] for item in json.loads(out.getvalue())["qna"]] == ["Cost.1", "Cost.2"]


def test_an_empty_knowledge_base_exports_an_empty_list(open_home):
    out = io.StringIO()

    assert export_items(open_home("home").store, out) == 0
    assert out.getvalue() == '{\n  "qna": []\n}\n'


class _FailingStore:
    """A store whose listing breaks after the first item."""

    def iter_items(self):
        yield parse_item(qna("First.001"))
        raise OSError("disk went away")


def test_a_failed_export_leaves_the_previous_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "backup.json"
    target.write_text("previous export", "utf-8")

    with pytest.raises(OSError, match="disk went away"):
        export_items(_FailingStore(), target)

    assert target.read_text("utf-8") == "previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["backup.json"]


def test_exporting_into_a_missing_folder_says_which_folder(open_home, tmp_path):
    target = tmp_path / "no-such-folder" / "backup.json"

    with pytest.raises(FileNotFoundError, match="no-such-folder does not exist"):
        export_items(open_home("home").store, target)


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_json = st.recursive(st.none() | st.booleans() | st.integers() | _text,
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_text, inner, max_size=3), max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(_text, _json, max_size=4), max_size=4))
def test_the_streamed_layout_is_exactly_json_dumps_of_the_whole_list(extras):
    items = [parse_item({**qna(f"Q.{n}"), **{f"x-{k}": v for k, v in extra.items()}})
             for n, extra in enumerate(extras)]
    out = io.StringIO()

    write_export(items, out)

    whole = {"qna": [item.to_json() for item in items]}
    assert out.getvalue() == json.dumps(whole, indent=2, ensure_ascii=False) + "\n"
