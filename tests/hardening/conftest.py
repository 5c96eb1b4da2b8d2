"""Shared set-up for the hardening tests: the fulfillment fixtures (a knowledge base with the
public samples and deterministic embeddings, a handler wired to test doubles) and small helpers
for asserting that a reply is a proper, traceback-free Lex response."""

from __future__ import annotations

import json
from typing import Any

import pytest

from knowledge.settings import Settings
from tests.content_designer.conftest import (  # noqa: F401 - fixtures re-exported
    home,
    make_services,
    services,
)
from tests.fulfillment.conftest import (  # noqa: F401 - fixtures re-exported for this folder
    LEX_ITEMS,
    MemorySettingsRepo,
    build_kb,
    kb,
    make_pipeline,
    settings,
    use_service,
)

ERROR_MESSAGE = Settings.defaults().get("ERRORMESSAGE")


def assert_proper_lex_response(response: Any) -> None:
    """A closed, fulfilled Lex V2 response that Lex accepts and that shows no traceback."""
    assert response["sessionState"]["dialogAction"] == {"type": "Close"}
    assert response["sessionState"]["intent"]["state"] == "Fulfilled"
    attributes = response["sessionState"]["sessionAttributes"]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items())
    assert response["messages"]
    assert all(0 < len(m.get("content", "x")) <= 1000 for m in response["messages"])
    text = json.dumps(response, ensure_ascii=False)
    text.encode("utf-8")  # valid Unicode throughout: Lex sends it on as UTF-8
    for leak in ("Traceback", 'File "', "RecursionError", "UnicodeEncodeError"):
        assert leak not in text, leak


@pytest.fixture
def turn_records(caplog):
    """The structured ``turn`` log records of the handler, as dicts."""
    def records() -> list[dict]:
        return [r.turn for r in caplog.records if r.getMessage() == "turn" and hasattr(r, "turn")]
    return records
