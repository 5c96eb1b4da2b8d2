"""Settings overrides in a JSON file under ``QNABOT_HOME`` (the embedded default).

Writes are atomic (temporary file + rename), so a reader never sees half a file, and every
read goes to disk, so a change made by the CLI or the designer applies on the next turn.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from knowledge.settings import Settings, SettingsRepo


class FileSettingsRepo(SettingsRepo):
    """Overrides as ``{"NAME": "value"}`` in ``settings.json``."""

    def __init__(self, path: Path):
        self.path = path

    def overrides(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise OSError(f"cannot read settings file {self.path}: {exc}. "
                          "Fix or delete it to return to the defaults.") from exc
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(sorted(values.items())), handle, indent=2, ensure_ascii=False)
        os.replace(tmp, self.path)
