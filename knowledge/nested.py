"""Setting a value deep inside nested dicts, as lodash's ``_.set`` does (QnABot's handlebars
``setSessionAttr`` and its spreadsheet columns such as ``r.title`` both address fields so).

Example:
    >>> target = {}
    >>> set_nested(target, ["r", "title"], "Hello")
    >>> target
    {'r': {'title': 'Hello'}}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def set_nested(target: dict[str, Any], keys: Sequence[str], value: Any) -> None:
    """Put ``value`` at ``keys`` inside ``target``, creating (or replacing with) objects on the
    way."""
    node = target
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value
