"""Session attributes as QnABot's dialogs read and write them.

Lex carries session attributes as strings; QnABot keeps objects in them as JSON and addresses
nested values with dotted paths (``demo.name.FirstName`` is the ``FirstName`` of the ``name``
object of the ``demo`` attribute). These helpers read the session a turn sees (the request's
attributes with the answer's changes on top) and write a value at a dotted path into an
answer's attributes.

Example:
    >>> from fulfillment.model import Answer, Request
from knowledge.nested import set_nested
    >>> answer = set_value(Request("s1", "Bob"), Answer("Hi", "qna"), "demo.name",
    ...                    {"FirstName": "Bob"})
    >>> answer.session_attributes
    {'demo': '{"name": {"FirstName": "Bob"}}'}
    >>> get_path(current_session(Request("s1", "x"), answer), "demo.name.FirstName")
    'Bob'
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fulfillment.model import Answer, Request
from knowledge.nested import set_nested


def _parsed(value: Any) -> Any:
    """A JSON object or list held in a string attribute, parsed; other values as they are."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def attribute_object(value: Any) -> Mapping[str, Any]:
    """A session attribute that holds a JSON object (``qnabotcontext``, ``appContext``),
    parsed; {} when it holds anything else."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def current_session(request: Request, answer: Answer | None = None) -> dict[str, Any]:
    """The session attributes after this turn so far: the request's, then the answer's."""
    session = {k: copy.deepcopy(v) for k, v in request.session_attributes.items()}
    if answer is not None:
        session.update({k: _parsed(v) for k, v in answer.session_attributes.items()})
    return session


def get_path(mapping: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted ``path`` (``default`` when any part is missing)."""
    value = mapping
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def _attribute_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def set_value(request: Request, answer: Answer, path: str, value: Any) -> Answer:
    """``answer`` with ``value`` written at the dotted ``path`` of the session.

    The top-level attribute is rewritten as JSON with its other nested values kept.
    """
    root, _, rest = path.strip().partition(".")
    if not root:
        return answer
    attributes = dict(answer.session_attributes)
    if not rest:
        attributes[root] = _attribute_text(value)
        return replace(answer, session_attributes=attributes)
    top = current_session(request, answer).get(root)
    top = copy.deepcopy(top) if isinstance(top, dict) else {}
    set_nested(top, rest.split("."), value)
    attributes[root] = json.dumps(top, ensure_ascii=False)
    return replace(answer, session_attributes=attributes)


def context_entry(request: Request, key: str) -> dict[str, Any]:
    """An object entry of the incoming ``qnabotcontext`` (empty when absent or not an object)."""
    value = request.context.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def count_value(value: Any) -> int:
    """A count a dialog keeps in the session; 0 when the client sent something else.

    >>> count_value("3"), count_value("x"), count_value(None)
    (3, 0, 0)
    """
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
