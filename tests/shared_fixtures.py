"""Where the real QnABot sample packages are: ``../shared/fixtures`` beside the repository.

They are not part of the repository, so a clone with nothing beside it still tests itself:
a test that needs them is skipped, saying so (see ``pytest_runtest_makereport`` in
``tests/conftest.py``). CI has them. ``QNABOT_FIXTURES`` points elsewhere if needed.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The folder of the sample packages (blog-samples-final.json, ...).
FIXTURES = Path(os.environ.get("QNABOT_FIXTURES") or ROOT.parent / "shared" / "fixtures")
#: Why a test that needs them was skipped.
MISSING_REASON = (f"needs the QnABot sample packages in {FIXTURES} (the team's ../shared/fixtures "
                  "beside the repository; CI has them; QNABOT_FIXTURES names another folder)")


def fixtures_present() -> bool:
    """True when the sample packages are there."""
    return FIXTURES.is_dir()


def mentions_fixtures(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) is about a file of the missing fixtures folder."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        names = (str(getattr(error, "filename", "") or ""), str(error))
        if any(str(FIXTURES) in name for name in names):
            return True
        error = error.__cause__ or error.__context__
    return False
