"""Validation of QnABot item JSON against the JSON Schemas in ``knowledge/schemas``.

Problems come back as :class:`FieldProblem` values that name the field (a JSON path such as
``q[2]``) and say, in words an admin can act on, what is wrong.

Example:
    >>> [str(p) for p in validate_item_json({"qid": "a b", "q": ["Hi"], "a": "x"})]
    ['qid: must not contain whitespace (got "a b")']
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

ITEM_TYPES = ("qna", "text")


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
    """The JSON Schema for ``qna`` or ``text`` items (for API docs and the designer)."""
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
    """Every problem with one item's JSON; an empty list means the item is valid."""
    if not isinstance(raw, dict):
        return [FieldProblem("item", f"must be a JSON object, not {type(raw).__name__}")]
    item_type = raw.get("type", "qna")
    if item_type not in ITEM_TYPES:
        return [FieldProblem("type", f'must be "qna" or "text" (got {_shorten(item_type)})')]
    errors = sorted(_validator(item_type).iter_errors(raw),
                    key=lambda e: [str(p) for p in e.absolute_path])
    return [_explain(e) for e in errors]
