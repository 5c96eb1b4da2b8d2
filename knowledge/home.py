"""Where the embedded data lives: the folder named by ``QNABOT_HOME`` (default ``.qnabot/``).

Example:
    >>> qnabot_home().name  # doctest: +SKIP
    '.qnabot'
"""

from __future__ import annotations

import os
from pathlib import Path


def qnabot_home(create: bool = True) -> Path:
    """The data folder from ``QNABOT_HOME``, or ``./.qnabot``; created (owner-only) if missing."""
    home = Path(os.environ.get("QNABOT_HOME") or ".qnabot").expanduser().resolve()
    if create:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home
