"""Validation of QnABot item JSON against the JSON Schemas in ``knowledge/schemas``.

Problems come back as :class:`FieldProblem` values that name the field (a JSON path such as
``q[2]``) and say, in words an admin can act on, what is wrong.

Deciding validity is the hot path of an import (tens of thousands of items), so it is fast:
each schema is compiled once into plain Python checks (:func:`is_valid_item_json`, a few
microseconds per item), and jsonschema, about 100 µs per item, runs only to explain an item
that failed them (:func:`explain_item_json`). The compiled checks follow jsonschema's meaning
of every keyword exactly (``len`` for lengths, ``re.search`` for patterns, ``bool`` is not a
number); a keyword they do not know makes the compilation fail, so a schema change can never
quietly loosen validation.

Example:
    >>> [str(p) for p in validate_item_json({"qid": "a b", "q": ["Hi"], "a": "x"})]
    ['qid: must not contain whitespace (got "a b")']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

ITEM_TYPES = ("qna", "text", "quiz", "slottype")


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field of an item."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@cache
def _schema(name: str) -> dict[str, Any]:
    text = resources.files("knowledge.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator(item_type: str) -> Draft202012Validator:
    registry = Registry().with_resources(
        (_schema(n)["$id"], Resource.from_contents(_schema(n))) for n in ITEM_TYPES
    )
    return Draft202012Validator(_schema(item_type), registry=registry)


def item_schema(item_type: str) -> dict[str, Any]:
    """The JSON Schema of an item type in :data:`ITEM_TYPES` (API docs, the designer)."""
    return _schema(item_type)


def _path(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "item"


def _shorten(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: Any) -> str:
    """The JSON name of a Python value's type, as an admin editing JSON knows it."""
    if isinstance(value, bool):
        return "true/false"
    return {str: "text", int: "a number", float: "a number", list: "a list", dict: "a JSON object",
            type(None): "null"}.get(type(value), type(value).__name__)


def _explain(error: ValidationError) -> FieldProblem:
    """Turn a jsonschema error into a message an admin understands."""
    field = _path(error)
    value, check, expected = error.instance, error.validator, error.validator_value
    if check == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        where = f"{field}." if field != "item" else ""
        return FieldProblem(f"{where}{missing}", "is required")
    if check == "minLength" and expected == 1 or check == "pattern" and expected == r"\S":
        return FieldProblem(field, "must not be blank")
    if check == "pattern" and expected == r"^\S+$":
        return FieldProblem(field, f'must not contain whitespace (got "{_shorten(value)}")')
    if check == "maxLength":
        return FieldProblem(
            field,
            f'is {len(value)} characters long; the limit is {expected} ("{_shorten(value)}")',
        )
    if check == "minItems":
        return FieldProblem(field, f"needs at least {expected} entry")
    if check == "maxItems":
        return FieldProblem(field, f"has {len(value)} entries; the limit is {expected} (split "
                                   "the item, or keep its most distinct questions)")
    if check == "type":
        wanted = expected if isinstance(expected, str) else " or ".join(expected)
        names = {"array": "list", "object": "JSON object", "integer": "whole number"}
        wanted = names.get(wanted, wanted)
        article = "an" if wanted[0] in "aeiou" else "a"
        return FieldProblem(field, f"must be {article} {wanted}, not {_json_type(value)}")
    if check == "const":
        return FieldProblem(field, f'must be "{expected}"')
    if check == "oneOf":
        return FieldProblem(field, "must be a string or a list of strings")
    return FieldProblem(field, error.message)


def validate_item_json(raw: Any) -> list[FieldProblem]:
    """Every problem with one item's JSON; an empty list means the item is valid.

    A valid item is recognised by the compiled checks; only an invalid one is explained by
    jsonschema (see :func:`explain_item_json`).
    """
    return [] if is_valid_item_json(raw) else explain_item_json(raw)


def explain_item_json(raw: Any) -> list[FieldProblem]:
    """Every problem with one item's JSON, found by jsonschema (thorough, about 100 µs).

    Example:
        >>> [str(p) for p in explain_item_json({"qid": "A.1", "q": [], "a": "x"})]
        ['q: needs at least 1 entry']
    """
    if not isinstance(raw, dict):
        return [FieldProblem("item", f"must be a JSON object, not {type(raw).__name__}")]
    item_type = raw.get("type", "qna")
    if item_type not in ITEM_TYPES:
        kinds = ", ".join(f'"{kind}"' for kind in ITEM_TYPES)
        return [FieldProblem("type", f"must be one of {kinds} (got {_shorten(item_type)})")]
    errors = sorted(_validator(item_type).iter_errors(raw),
                    key=lambda e: [str(p) for p in e.absolute_path])
    problems = [_explain(e) for e in errors]
    # A blank field breaks several rules at once; "must not be blank" says it all.
    blank = {p.field for p in problems if p.message == "must not be blank"}
    return [p for p in problems if p.field not in blank or p.message == "must not be blank"]


# --- the fast path: schemas compiled into plain checks ------------------------------------

Check = Callable[[Any], bool]

#: Keywords that only describe or hold definitions; they never reject a value.
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description"})

#: jsonschema's type checks (``_types.py``): a bool is neither a number nor an integer.
_TYPE_CHECKS: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def is_valid_item_json(raw: Any) -> bool:
    """True when :func:`validate_item_json` finds no problem; about 20 times faster.

    Example:
        >>> is_valid_item_json({"qid": "A.1", "q": ["Hi"], "a": "Hello"})
        True
        >>> is_valid_item_json({"qid": "a b", "q": ["Hi"], "a": "Hello"})
        False
    """
    if not isinstance(raw, dict):
        return False
    item_type = raw.get("type", "qna")
    return item_type in ITEM_TYPES and _compiled(item_type)(raw)


@cache
def _compiled(item_type: str) -> Check:
    return _compile(_schema(item_type), _schema(item_type))


def _resolve(reference: str, document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema a ``$ref`` points at, and the document it lives in.

    Only the forms our schemas use: ``#/$defs/NAME`` and ``NAME.schema.json#/$defs/NAME``.
    """
    file, _, pointer = reference.partition("#")
    if file:
        name = file.removesuffix(".schema.json")
        if name not in ITEM_TYPES:
            raise ValueError(f"cannot compile a $ref to {reference!r}")
        document = _schema(name)
    target: Any = document
    for part in pointer.strip("/").split("/") if pointer.strip("/") else ():
        target = target[part]
    return target, document


def _compile(schema: dict[str, Any], document: dict[str, Any]) -> Check:
    """One predicate that is True exactly when jsonschema finds no error in the value."""
    checks: list[Check] = []
    unknown = set(schema) - _ANNOTATIONS - _KEYWORDS.keys()
    if unknown:
        raise ValueError(f"the fast validation path does not know the keywords {sorted(unknown)}; "
                         "teach knowledge/validation.py:_KEYWORDS their meaning")
    if schema.get("type") == "string" and set(schema) - _ANNOTATIONS <= _STRING_KEYWORDS:
        return _string(schema)
    for keyword, value in schema.items():
        if keyword in _KEYWORDS:
            checks.append(_KEYWORDS[keyword](value, schema, document))
    if len(checks) == 1:
        return checks[0]

    def check_all(value: Any) -> bool:
        for check in checks:  # noqa: SIM110 - faster than all() over a generator, per item
            if not check(value):
                return False
        return True
    return check_all


_STRING_KEYWORDS = frozenset({"type", "minLength", "maxLength", "pattern"})


def _string(schema: dict[str, Any]) -> Check:
    """A string schema in one function (most fields are one): the same meaning as the
    separate ``type``, ``minLength``, ``maxLength`` and ``pattern`` checks, in one call."""
    shortest, longest = schema.get("minLength", 0), schema.get("maxLength")
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None

    def check(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        length = len(value)
        if length < shortest or (longest is not None and length > longest):
            return False
        return search is None or search(value) is not None
    return check


def _type(types: str | list[str], schema: dict, document: dict) -> Check:
    names = [types] if isinstance(types, str) else list(types)
    unknown = [name for name in names if name not in _TYPE_CHECKS]
    if unknown:
        raise ValueError(f"cannot compile the type {unknown[0]!r}")
    tests = [_TYPE_CHECKS[name] for name in names]
    return tests[0] if len(tests) == 1 else (lambda v: any(test(v) for test in tests))


def _properties(properties: dict[str, dict], schema: dict, document: dict) -> Check:
    compiled = {name: _compile(sub, document) for name, sub in properties.items()}

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for name, field_value in value.items():
            field_check = compiled.get(name)
            if field_check is not None and not field_check(field_value):
                return False
        return True
    return check


def _items(items: dict[str, Any], schema: dict, document: dict) -> Check:
    if not isinstance(items, dict) or "prefixItems" in schema:
        raise ValueError("cannot compile items other than one schema for every entry")
    each = _compile(items, document)
    return lambda v: not isinstance(v, list) or all(each(entry) for entry in v)


def _pattern(pattern: str, schema: dict, document: dict) -> Check:
    search = re.compile(pattern).search  # jsonschema: re.search(pattern, value)
    return lambda v: not isinstance(v, str) or search(v) is not None


def _const(expected: Any, schema: dict, document: dict) -> Check:
    if not isinstance(expected, str):
        raise ValueError("cannot compile a const that is not a string")
    return lambda v: isinstance(v, str) and v == expected


def _one_of(subschemas: list[dict], schema: dict, document: dict) -> Check:
    compiled = [_compile(sub, document) for sub in subschemas]
    return lambda v: sum(1 for check in compiled if check(v)) == 1


def _ref(reference: str, schema: dict, document: dict) -> Check:
    target, target_document = _resolve(reference, document)
    return _compile(target, target_document)


_KEYWORDS: dict[str, Callable[[Any, dict, dict], Check]] = {
    "type": _type,
    "required": lambda names, schema, document: (
        lambda v: not isinstance(v, dict) or all(name in v for name in names)),
    "properties": _properties,
    "items": _items,
    "minItems": lambda n, schema, document: lambda v: not isinstance(v, list) or len(v) >= n,
    "maxItems": lambda n, schema, document: lambda v: not isinstance(v, list) or len(v) <= n,
    "minLength": lambda n, schema, document: lambda v: not isinstance(v, str) or len(v) >= n,
    "maxLength": lambda n, schema, document: lambda v: not isinstance(v, str) or len(v) <= n,
    "pattern": _pattern,
    "const": _const,
    "oneOf": _one_of,
    "$ref": _ref,
}
