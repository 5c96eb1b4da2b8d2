"""Settings import and export in QnABot's format.

QnABot's content designer exports settings as ``settings.json``: one flat JSON object of every
setting whose value differs from its default, custom settings included, ``{"NAME": value}``.
Importing such a file sets those settings and keeps the others. Values may be strings,
numbers, booleans or JSON (QnABot's own defaults hold numbers and lists); they are stored as
text. An import is checked whole before anything is saved: one bad value saves nothing and
every problem is reported.

Example:
    >>> from knowledge.settings import Settings
    >>> export_settings(Settings.from_overrides({"ES_USE_FUZZY_MATCH": "true", "MY_HOOK": "x"}))
    {'ES_USE_FUZZY_MATCH': 'true', 'MY_HOOK': 'x'}
    >>> parse_settings_file('{"EMPTYMESSAGE": "Sorry!", "ALT_SEARCH_KENDRA_MAX_DOCUMENT_COUNT": 3}')
    {'EMPTYMESSAGE': 'Sorry!', 'ALT_SEARCH_KENDRA_MAX_DOCUMENT_COUNT': '3'}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from knowledge.settings import REGISTRY, SettingError, Settings, validate_updates

#: The file name QnABot's designer gives an export.
EXPORT_FILE_NAME = "settings.json"


def export_settings(settings: Settings) -> dict[str, str]:
    """Every setting whose stored value differs from its default, custom ones included."""
    exported: dict[str, str] = {}
    for name, text in sorted(settings.raw.items()):
        declared = REGISTRY.get(name)
        if declared is None or text != declared.default:
            exported[name] = text
    return exported


def validate_import(data: Any) -> dict[str, str]:
    """The settings of a parsed export file, as stored strings; raises :class:`SettingError`."""
    if not isinstance(data, Mapping):
        raise SettingError("a settings file holds one JSON object of SETTING_NAME: value, "
                           f"not a JSON {type(data).__name__}")
    values = {str(name): ("" if value is None else value) for name, value in data.items()}
    return validate_updates(values)


def parse_settings_file(text: str, source: str = "settings file") -> dict[str, str]:
    """:func:`validate_import` of a file's text; a JSON error names the line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingError(f"{source} is not JSON: {exc.msg} at line {exc.lineno} column "
                           f"{exc.colno}") from None
    return validate_import(data)
