"""QnABot's conditional-chaining expressions, evaluated safely (no ``eval``).

An item's ``conditionalChaining`` is a JavaScript expression such as
``(SessionAttributes.demo.age.Age >= 60) ? "Over 60" : "Under 60"``. It is parsed with
``esprima`` and walked by a small evaluator that knows only an allow-listed subset of the
language: literals, template strings without code, names from the sandbox, member access,
``!``/``-``/``+``/``typeof``, arithmetic, comparisons (with JavaScript's loose ``==``),
``&&``/``||`` (returning an operand, as JavaScript does), ``?:``, arrays, and a few pure
string/array methods (``toLowerCase``, ``includes`` ...). Anything else (assignments,
function definitions, ``new``, calls of anything but those methods) is refused with an
:class:`ExpressionError` naming the construct. Expressions are limited in length and size.

As in QnABot (``static-eval``), a name that is not in the sandbox, or a property of an
undefined value, makes the whole rule fail: the item is answered without chaining.

Example:
    >>> evaluate('x.age >= 60 ? "Over 60" : "Young"', {"x": {"age": "61"}})
    'Over 60'
    >>> evaluate("'Elicit Age'", {})
    'Elicit Age'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

#: Longest rule accepted (characters) and most syntax nodes walked, so a rule stays cheap.
MAX_EXPRESSION_CHARS = 2000
MAX_NODES = 500


class ExpressionError(ValueError):
    """The rule cannot be parsed, uses something outside the allowed subset, or failed."""


class _Undefined:
    """JavaScript's ``undefined``."""

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()

_STRING_METHODS = {
    "toLowerCase": lambda s: s.lower(),
    "toUpperCase": lambda s: s.upper(),
    "trim": lambda s: s.strip(),
    "includes": lambda s, sub="": _to_string(sub) in s,
    "startsWith": lambda s, sub="": s.startswith(_to_string(sub)),
    "endsWith": lambda s, sub="": s.endswith(_to_string(sub)),
    "indexOf": lambda s, sub="": s.find(_to_string(sub)),
    "toString": lambda s: s,
}
_ARRAY_METHODS = {
    "includes": lambda a, value=UNDEFINED: any(_strict_equal(v, value) for v in a),
    "indexOf": lambda a, value=UNDEFINED: next(
        (i for i, v in enumerate(a) if _strict_equal(v, value)), -1),
    "join": lambda a, sep=",": _to_string(sep).join(_to_string(v) for v in a),
}


@lru_cache(maxsize=256)
def parse(expression: str) -> Any:
    """The esprima syntax tree of one expression; :class:`ExpressionError` when it is not one."""
    import esprima  # lazily: only items with chaining rules need the parser

    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"the rule is {len(expression)} characters long; the limit is "
                              f"{MAX_EXPRESSION_CHARS}")
    try:
        program = esprima.parseScript(expression)
    except esprima.Error as exc:
        raise ExpressionError(f"cannot parse the rule {expression!r}: {exc}") from None
    if len(program.body) != 1 or program.body[0].type != "ExpressionStatement":
        raise ExpressionError(f"the rule {expression!r} must be one expression")
    return program.body[0].expression


def evaluate(expression: str, sandbox: Mapping[str, Any]) -> Any:
    """The value of ``expression`` with the names of ``sandbox`` (JSON-like values).

    Raises :class:`ExpressionError` for a rule that is not allowed or cannot be evaluated.
    """
    return _Evaluator(sandbox).walk(parse(expression.strip()))


class _Evaluator:
    def __init__(self, sandbox: Mapping[str, Any]):
        self.sandbox = sandbox
        self.nodes = 0

    def walk(self, node: Any) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"the rule is too large (more than {MAX_NODES} parts)")
        method = getattr(self, f"_{node.type}", None)
        if method is None:
            raise ExpressionError(f"{node.type} is not allowed in a chaining rule")
        return method(node)

    def _Literal(self, node: Any) -> Any:
        if node.regex is not None:
            raise ExpressionError("regular expressions are not allowed in a chaining rule")
        return node.value

    def _TemplateLiteral(self, node: Any) -> str:
        parts = []
        for index, quasi in enumerate(node.quasis):
            parts.append(quasi.value.cooked)
            if index < len(node.expressions):
                parts.append(_to_string(self.walk(node.expressions[index])))
        return "".join(parts)

    def _Identifier(self, node: Any) -> Any:
        if node.name == "undefined":
            return UNDEFINED
        if node.name not in self.sandbox:
            raise ExpressionError(f"unknown name {node.name!r} (use SessionAttributes, Slots, "
                                  "UserInfo, Settings, Question, ...)")
        return self.sandbox[node.name]

    def _ArrayExpression(self, node: Any) -> list:
        return [self.walk(element) for element in node.elements]

    def _MemberExpression(self, node: Any) -> Any:
        target = self.walk(node.object)
        name = self.walk(node.property) if node.computed else node.property.name
        return _member(target, name)

    def _CallExpression(self, node: Any) -> Any:
        callee = node.callee
        if callee.type != "MemberExpression" or callee.computed:
            raise ExpressionError("only string and list methods (toLowerCase, includes, ...) "
                                  "may be called in a chaining rule")
        target = self.walk(callee.object)
        name = callee.property.name
        methods = _STRING_METHODS if isinstance(target, str) else \
            _ARRAY_METHODS if isinstance(target, list) else {}
        if name not in methods:
            raise ExpressionError(f"the method {name}() is not allowed on {_type_of(target)}")
        return methods[name](target, *(self.walk(a) for a in node.arguments))

    def _UnaryExpression(self, node: Any) -> Any:
        if node.operator == "typeof" and node.argument.type == "Identifier" and \
                node.argument.name not in self.sandbox:
            return "undefined"
        value = self.walk(node.argument)
        if node.operator == "!":
            return not _truthy(value)
        if node.operator == "-":
            return -_to_number(value)
        if node.operator == "+":
            return _to_number(value)
        if node.operator == "typeof":
            return _type_of(value)
        raise ExpressionError(f"the operator {node.operator} is not allowed in a chaining rule")

    def _LogicalExpression(self, node: Any) -> Any:
        left = self.walk(node.left)
        if node.operator == "&&":
            return self.walk(node.right) if _truthy(left) else left
        if node.operator == "||":
            return left if _truthy(left) else self.walk(node.right)
        if node.operator == "??":
            return self.walk(node.right) if left is None or left is UNDEFINED else left
        raise ExpressionError(f"the operator {node.operator} is not allowed in a chaining rule")

    def _ConditionalExpression(self, node: Any) -> Any:
        return self.walk(node.consequent if _truthy(self.walk(node.test)) else node.alternate)

    def _BinaryExpression(self, node: Any) -> Any:
        operator = _BINARY.get(node.operator)
        if operator is None:
            raise ExpressionError(f"the operator {node.operator} is not allowed in a chaining rule")
        return operator(self.walk(node.left), self.walk(node.right))


# --- JavaScript's value semantics, for the JSON-like values a sandbox holds -------------------


def _member(target: Any, name: Any) -> Any:
    if target is None or target is UNDEFINED:
        raise ExpressionError(f"cannot read {name!r} of {_to_string(target)}")
    if isinstance(target, Mapping):
        return target.get(_to_string(name), UNDEFINED)
    if isinstance(target, (str, list)):
        if name == "length":
            return len(target)
        number = _to_number(name)
        if not math.isnan(number) and number == int(number) and 0 <= number < len(target):
            return target[int(number)]
    return UNDEFINED


def _type_of(value: Any) -> str:
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def _truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    if isinstance(value, (Mapping, list)):
        return True
    return bool(value)


def _to_number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def _to_string(value: Any) -> str:
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value == int(value) and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return ",".join("" if v is None or v is UNDEFINED else _to_string(v) for v in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def _primitive(value: Any) -> Any:
    return _to_string(value) if isinstance(value, (list, Mapping)) else value


def _strict_equal(left: Any, right: Any) -> bool:
    if _type_of(left) != _type_of(right):
        return False
    if isinstance(left, (int, float)) and not isinstance(left, bool):
        return _to_number(left) == _to_number(right)
    if isinstance(left, (Mapping, list)):
        return left is right
    return left == right


def _loose_equal(left: Any, right: Any) -> bool:
    nullish = (None, UNDEFINED)
    if left in nullish or right in nullish:
        return left in nullish and right in nullish
    if _type_of(left) == _type_of(right):
        return _strict_equal(left, right)
    left, right = _primitive(left), _primitive(right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return _to_number(left) == _to_number(right)


def _compare(test):
    def compare(left: Any, right: Any) -> bool:
        left, right = _primitive(left), _primitive(right)
        if isinstance(left, str) and isinstance(right, str):
            return test(left, right)
        a, b = _to_number(left), _to_number(right)
        return False if math.isnan(a) or math.isnan(b) else test(a, b)
    return compare


def _add(left: Any, right: Any) -> Any:
    left, right = _primitive(left), _primitive(right)
    if isinstance(left, str) or isinstance(right, str):
        return _to_string(left) + _to_string(right)
    return _number(_to_number(left) + _to_number(right))


def _number(value: float) -> Any:
    return int(value) if not math.isnan(value) and not math.isinf(value) and \
        value == int(value) else value


def _arithmetic(op):
    def apply(left: Any, right: Any) -> Any:
        a, b = _to_number(left), _to_number(right)
        try:
            return _number(op(a, b))
        except ZeroDivisionError:
            return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return apply


_BINARY = {
    "==": _loose_equal,
    "!=": lambda a, b: not _loose_equal(a, b),
    "===": _strict_equal,
    "!==": lambda a, b: not _strict_equal(a, b),
    "<": _compare(lambda a, b: a < b),
    ">": _compare(lambda a, b: a > b),
    "<=": _compare(lambda a, b: a <= b),
    ">=": _compare(lambda a, b: a >= b),
    "+": _add,
    "-": _arithmetic(lambda a, b: a - b),
    "*": _arithmetic(lambda a, b: a * b),
    "/": _arithmetic(lambda a, b: a / b),
    "%": _arithmetic(math.fmod),
}


def to_question(value: Any) -> str:
    """The question a rule's value names: a string as it is; nothing for empty values.

    >>> to_question("Over 60"), to_question(None), to_question(UNDEFINED)
    ('Over 60', '', '')
    """
    if value is None or value is UNDEFINED or value is False or value == "":
        return ""
    return _to_string(value).strip()
