"""The chaining-rule evaluator: JavaScript's meaning for the allowed subset, and a clear
refusal of everything else."""

from __future__ import annotations

import pytest

from fulfillment.expressions import (
    MAX_EXPRESSION_CHARS,
    UNDEFINED,
    ExpressionError,
    evaluate,
    to_question,
)

SESSION = {"SessionAttributes": {"demo": {"age": {"Age": "42"}}, "vip": "true", "n": 3,
                                 "tags": ["a", "b"]},
           "Slots": {"color": "Red"}, "Question": "hi"}


@pytest.mark.parametrize(("rule", "value"), [
    ("'Elicit Age'", "Elicit Age"),
    ('"double"', "double"),
    ("SessionAttributes.demo.age.Age >= 60 ? 'old' : 'young'", "young"),
    ("SessionAttributes.demo.age.Age > 40 && SessionAttributes.vip == 'true'", True),
    ("SessionAttributes.demo.age.Age == 42", True),  # loose equality converts
    ("SessionAttributes.demo.age.Age === 42", False),  # strict does not
    ("SessionAttributes.missing || 'fallback'", "fallback"),
    ("SessionAttributes.vip && 'yes'", "yes"),
    ("!SessionAttributes.missing", True),
    ("SessionAttributes['vip']", "true"),
    ("SessionAttributes.n + 1", 4),
    ("'Q' + SessionAttributes.n", "Q3"),
    ("SessionAttributes.n * 2 - 1", 5),
    ("Slots.color.toLowerCase() + ' color'", "red color"),
    ("Question.length", 2),
    ("SessionAttributes.tags.includes('b')", True),
    ("typeof SessionAttributes.missing", "undefined"),
    ("typeof Nowhere", "undefined"),
    ("`template ${Slots.color}`", "template Red"),
    ("SessionAttributes.missing == null", True),
    ("['a', 'b'].join('-')", "a-b"),
])
def test_rules_evaluate_as_javascript_would(rule, value):
    assert evaluate(rule, SESSION) == value


def test_a_missing_attribute_is_undefined_and_reading_below_it_fails():
    assert evaluate("SessionAttributes.nothing", SESSION) is UNDEFINED
    with pytest.raises(ExpressionError, match="cannot read 'x' of undefined"):
        evaluate("SessionAttributes.nothing.x", SESSION)


@pytest.mark.parametrize(("rule", "message"), [
    ("(function(){ return 1 })()", "may be called"),
    ("x = 1", "AssignmentExpression is not allowed"),
    ("new Date()", "NewExpression is not allowed"),
    ("this.constructor", "ThisExpression is not allowed"),
    ("Question.constructor('return 1')()", "may be called"),
    ("Slots.color.replace('R', 'B')", r"replace\(\) is not allowed"),
    ("/a/.test(Question)", "regular expressions are not allowed"),
    ("require('fs')", "may be called"),
    ("process.env", "unknown name 'process'"),
    ("1; 2", "must be one expression"),
    ("'unclosed", "cannot parse"),
])
def test_anything_outside_the_subset_is_refused_with_a_reason(rule, message):
    with pytest.raises(ExpressionError, match=message):
        evaluate(rule, SESSION)


def test_long_and_large_rules_are_refused():
    with pytest.raises(ExpressionError, match="characters long"):
        evaluate("'" + "a" * MAX_EXPRESSION_CHARS + "'", {})
    with pytest.raises(ExpressionError, match="too large"):
        evaluate(" + ".join(["1"] * 400), {})


def test_only_a_non_empty_value_names_a_question():
    assert [to_question(v) for v in ("Over 60", "", None, UNDEFINED, False, 12)] == \
        ["Over 60", "", "", "", "", "12"]
