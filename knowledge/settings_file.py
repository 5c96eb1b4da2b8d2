"""Settings overrides in a JSON file under ``QNABOT_HOME`` (the embedded default).

Writes are atomic (temporary file + rename), so a reader never sees half a file, and every
read goes to disk, so a change made by the CLI or the designer applies on the next turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from knowledge.private_files import write_atomically
from knowledge.settings import Settings, SettingsRepo, SettingsUnavailableError


class FileSettingsRepo(SettingsRepo):
    """Overrides as ``{"NAME": "value"}`` in ``settings.json``."""

    def __init__(self, path: Path):
        self.path = path

    def overrides(self) -> dict[str, str]:
        """The stored overrides; raises :class:`SettingsUnavailableError` naming the file when
        it is unreadable, not UTF-8, not JSON or not a JSON object."""
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or not JSON
            raise self._unreadable(str(exc)) from None
        if not isinstance(data, dict):
            raise self._unreadable(f"it holds a JSON {type(data).__name__}, not an object")
        return {str(k): str(v) for k, v in data.items()}

    def _unreadable(self, why: str) -> SettingsUnavailableError:
        return SettingsUnavailableError(
            f"cannot read the settings file {self.path}: {why}. Fix it (it holds "
            '{"SETTING_NAME": "value", ...}), or reset every setting to its default with '
            "`qnabot settings reset` (no name), which rewrites it.")

    def save(self, values: Mapping[str, str]) -> None:
        current = self.overrides()
        current.update(values)
        self._write(current)

    def remove(self, names: Iterable[str] | None) -> None:
        current = {} if names is None else self.overrides()
        for name in names or ():
            current.pop(name, None)
        self._write(current)

    def load(self) -> Settings:
        """A snapshot of the current settings."""
        return Settings.from_overrides(self.overrides())

    def _write(self, values: Mapping[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps(dict(sorted(values.items())), indent=2, ensure_ascii=False)
        write_atomically(self.path, text.encode("utf-8"))
