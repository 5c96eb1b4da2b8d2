"""The benchmark's question generator: distinct questions up to its limit, then a clear error
(it used to search for ever past 720,000)."""

from __future__ import annotations

import random

import pytest

from bench.store_bench import COMBINATIONS, build_questions


def test_questions_are_distinct_and_a_longer_list_extends_a_shorter_one() -> None:
    many = build_questions(200_000, random.Random(7))
    assert len(set(many)) == len(many)
    assert build_questions(1_000, random.Random(7)) == many[:1_000]
    assert all(q.endswith("?") for q in many[:100])


def test_more_questions_than_the_templates_make_is_a_clear_error_not_a_hang() -> None:
    assert COMBINATIONS > 2_000_000
    with pytest.raises(ValueError, match="at most 2,211,840 distinct questions"):
        build_questions(COMBINATIONS + 1, random.Random(0))
