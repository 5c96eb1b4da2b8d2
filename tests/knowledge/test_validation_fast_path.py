"""The fast validation path: it decides exactly what jsonschema decides, never more leniently.

:func:`is_valid_item_json` (compiled checks) must say "valid" for an item exactly when
:func:`explain_item_json` (jsonschema) finds no problem; and :func:`validate_item_json`, which
uses the first to skip the second, must report the same problems as jsonschema alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge import validation
from knowledge.validation import explain_item_json, is_valid_item_json, validate_item_json

#: Python's ``\s`` and Unicode's White_Space differ (\x1c-\x1f, \x85): both kinds are here.
WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200b\u2028\u2029\u202f\u3000"
#: Lengths around every limit of the schemas (qid/t 100, q 140, l 256, a 8000).
BOUNDARY_LENGTHS = (0, 1, 99, 100, 101, 139, 140, 141, 255, 256, 257, 7999, 8000, 8001)


def padded(length: int, filler: str, tail: str) -> str:
    """A string of ``length`` characters (``filler`` repeated, ending in ``tail``)."""
    return (filler * length + tail)[-length:] if length else ""


texts = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from(WHITESPACE + "ab\ud800é日🤖"), max_size=6),
    st.builds(padded, st.sampled_from(BOUNDARY_LENGTHS), st.sampled_from(["x", "é", "日", " "]),
              st.sampled_from(["", " ", "\n", "y", "\u3000"])),
    st.sampled_from(["", " ", "\n", "abc\n", "a b", "\nabc", "A.1", "qna", "text"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=5,
)


def weighted(percent: int, first: st.SearchStrategy, other: st.SearchStrategy) -> st.SearchStrategy:
    """``first`` in about ``percent`` % of the examples, else ``other``."""
    return st.integers(0, 99).flatmap(lambda n: first if n < percent else other)


def either(valid: st.SearchStrategy) -> st.SearchStrategy:
    """A value of the field's own shape, or any JSON value (mostly of a wrong type)."""
    return weighted(60, valid, json_values)


def mostly(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Usually a value of the field's own shape, now and then any JSON value."""
    return weighted(95, valid, json_values)


Wrap = Callable[[st.SearchStrategy], st.SearchStrategy]


def some_of(fields: dict[str, st.SearchStrategy], wrap: Wrap,
            required: tuple[str, ...] = ()) -> st.SearchStrategy:
    """Objects holding ``required`` and any others of ``fields``, each value ``wrap``-ped."""
    return st.fixed_dictionaries(
        {name: wrap(fields[name]) for name in required},
        optional={name: wrap(s) for name, s in fields.items() if name not in required})


def shapes(text: st.SearchStrategy, wrap: Wrap,
           required: tuple[str, ...] = ()) -> dict[str, st.SearchStrategy]:
    """Every field of both schemas in its own shape, ``text`` for the strings; the values
    inside lists and objects are ``wrap``-ped, and nested objects hold ``required``."""
    booleans = st.booleans()
    pairs = some_of({"text": text, "value": text, "enableTranslate": booleans}, wrap, required)
    button = some_of({"text": text, "value": text}, wrap, required)
    card = some_of({"title": text, "subTitle": text, "imageUrl": text,
                    "buttons": st.lists(button, max_size=3)}, wrap)
    return {
        "type": st.sampled_from(["qna", "text"]),
        "qid": text,
        "q": weighted(95, st.lists(wrap(text), min_size=1, max_size=3), st.just([])),
        "a": text,
        "passage": text,
        "refMarkdown": text,
        "alt": some_of({"markdown": text, "ssml": text}, wrap),
        "r": card,
        "t": text,
        "tags": st.one_of(text, st.lists(wrap(text), max_size=3)),
        "sa": st.lists(pairs, max_size=2),
        "l": text,
        "args": st.lists(wrap(text), max_size=3),
        "next": text,
        "clientFilterValues": text,
        "enableQidIntent": booleans,
        "kendraRedirectQueryText": text,
        "rp": text,
        "unknownField": json_values,
    }


#: Printable text without whitespace: valid in every string field short enough for it.
words = st.text(alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs")),
                min_size=1, max_size=20)
#: Any shape of item, wrong types and blank or overlong strings everywhere.
any_items = some_of(shapes(texts, either), either)
#: Items that are mostly well formed, so that valid items with many fields are common too.
likely_fields = shapes(weighted(90, words, texts), mostly, required=("text", "value"))
likely_items = some_of({name: s for name, s in likely_fields.items() if name != "type"},
                       mostly, required=("qid", "q", "a"))
items = st.one_of(likely_items, likely_items, any_items, json_values)


def jsonschema_finds_nothing(raw: Any) -> bool:
    return explain_item_json(raw) == []


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items)
def test_the_fast_path_accepts_exactly_what_jsonschema_accepts(raw) -> None:
    assert is_valid_item_json(raw) == jsonschema_finds_nothing(raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items)
def test_validate_item_json_reports_what_jsonschema_reports(raw) -> None:
    assert validate_item_json(raw) == explain_item_json(raw)


def qna(**fields: Any) -> dict[str, Any]:
    return {"qid": "Test.001", "q": ["How are you?"], "a": "Fine.", **fields}


def text_item(**fields: Any) -> dict[str, Any]:
    return {"qid": "P.1", "type": "text", "passage": "Humpty sat.", **fields}


@pytest.mark.parametrize("raw", [
    qna(), text_item(), qna(qid="q" * 100), qna(qid="q" * 101), qna(q=["x" * 140]),
    qna(q=["x" * 141]), qna(a="y" * 8000), qna(a="y" * 8001), qna(t="t" * 100),
    qna(t="t" * 101), qna(l="l" * 256), qna(l="l" * 257), qna(qid=""), qna(qid=" "),
    qna(qid="a b"), qna(qid="abc\n"), qna(qid="\nabc"), qna(qid="a\x1cb"), qna(a="\x1c"),
    qna(a="\u3000"), qna(a="\u200b"), qna(q=[" "]), qna(q=[""]), qna(q=[]), qna(q="Hi"),
    qna(q=[1]), qna(a=None), qna(qid=7), qna(type="qna"), qna(type="text"), qna(type=None),
    qna(enableQidIntent=1), qna(enableQidIntent=True), qna(tags="a"), qna(tags=["a", 1]),
    qna(tags=None), qna(r={"buttons": [{"text": "Go"}]}), qna(r={"buttons": [{"text": "Go",
    "value": "go"}]}), qna(r=[]), qna(alt={"markdown": 1}), qna(sa=[{"text": "a", "value": 1}]),
    qna(sa=[{"text": "a", "value": "b", "enableTranslate": "yes"}]), qna(args=["a", None]),
    text_item(passage=" "), text_item(refMarkdown=3), text_item(r={"title": 1}),
    {"qid": "P.1", "passage": "no type means qna"}, {"type": "text"}, [], "item", None,
])
def test_boundary_and_wrong_type_items_are_judged_like_jsonschema(raw) -> None:
    assert is_valid_item_json(raw) == jsonschema_finds_nothing(raw)
    assert validate_item_json(raw) == explain_item_json(raw)


def test_a_schema_keyword_the_fast_path_does_not_know_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="uniqueItems"):
        validation._compile({"type": "array", "uniqueItems": True}, {})
