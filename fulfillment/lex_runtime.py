"""Amazon Lex V2 runtime (the adapter behind response bots and bot routing).

QnABot names another Lex V2 bot as ``lexv2::<botId>/<botAliasId>/<localeId>`` (locale
``en_US`` when left out), or by a simple name (``QNAYesNo``) that an environment variable of
that name maps to such a string: the stack sets one per response bot it creates.

Example:
    >>> bot_identity("lexv2::BOT1/ALIAS1", {})
    BotIdentity(bot_id='BOT1', alias_id='ALIAS1', locale_id='en_US')
    >>> bot_identity("QNAYesNo", {"QNAYesNo": "lexv2::B/A/fr_CA"}).locale_id
    'fr_CA'
    >>> bot_identity("QNAYesNo", {}) is None
    True
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from knowledge.aws import aws_client

#: Longest a call to another bot may take (seconds), so the Lex turn is not lost.
LEX_TIMEOUT_SECONDS = 8
_SESSION_ID_CHARS = re.compile(r"[^a-zA-Z0-9\-._:]")


class LexRuntimeError(RuntimeError):
    """The other bot could not be reached or refused the call."""


@dataclass(frozen=True)
class BotIdentity:
    bot_id: str
    alias_id: str
    locale_id: str = "en_US"


def bot_identity(name: str, environ: Mapping[str, str] | None = None) -> BotIdentity | None:
    """The Lex V2 bot ``name`` designates, or None when it names no Lex V2 bot."""
    environ = os.environ if environ is None else environ
    value = environ.get(name, name).strip()
    if not value.lower().startswith("lexv2::"):
        return None
    parts = value.split("::", 1)[1].split("/")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return BotIdentity(parts[0], parts[1], parts[2] if len(parts) > 2 and parts[2] else "en_US")


def lex_session_id(user_id: str) -> str:
    """A Lex session id for the user: Lex's characters only, 2 to 100 of them."""
    return _SESSION_ID_CHARS.sub("_", user_id[:100]).ljust(2, "_")


class LexRuntime:
    """``RecognizeText`` on another Lex V2 bot (boto3 client created on first use)."""

    def __init__(self, client: Any = None):
        self._client = client

    def recognize_text(self, bot: BotIdentity, text: str, user_id: str,
                       session_attributes: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Lex's response to ``text``; raises :class:`LexRuntimeError` when the call fails."""
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            self._client = aws_client("lexv2-runtime", read_timeout=LEX_TIMEOUT_SECONDS,
                                      max_attempts=1)
        params: dict[str, Any] = {"botId": bot.bot_id, "botAliasId": bot.alias_id,
                                  "localeId": bot.locale_id,
                                  "sessionId": lex_session_id(user_id), "text": text}
        if session_attributes is not None:
            params["sessionState"] = {"sessionAttributes": {
                str(k): v if isinstance(v, str) else str(v)
                for k, v in session_attributes.items()}}
        try:
            return self._client.recognize_text(**params)
        except (ClientError, BotoCoreError) as exc:
            raise LexRuntimeError(f"Lex bot {bot.bot_id} failed: {exc}") from exc


def dialog_state(response: Mapping[str, Any]) -> str:
    """QnABot's reading of a Lex V2 response: ``Failed`` for the fallback intent or a failed
    intent, else the dialog action (``ElicitSlot``, ``ConfirmIntent``, ``Close`` ...)."""
    state = response.get("sessionState") or {}
    intent = state.get("intent") or {}
    if intent.get("name") == "FallbackIntent" or intent.get("state") == "Failed":
        return "Failed"
    return str((state.get("dialogAction") or {}).get("type") or "")


def slot_values(response: Mapping[str, Any]) -> dict[str, str]:
    """The intent's slots as ``{name: interpretedValue}`` (empty slots left out)."""
    slots = ((response.get("sessionState") or {}).get("intent") or {}).get("slots") or {}
    values = {}
    for name, slot in slots.items():
        value = ((slot or {}).get("value") or {}).get("interpretedValue")
        if value is not None:
            values[name] = value
    return values
