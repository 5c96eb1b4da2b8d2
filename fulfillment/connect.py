"""QnABot's Amazon Connect settings, applied to the Lex response of a voice turn.

The contact flow the content designer offers (:mod:`bot.connect_flow`) greets the caller, then
loops on a Lex block whose prompt is the session attribute named by
``CONNECT_NEXT_PROMPT_VARNAME`` (default ``connect_nextPrompt``, SSML). For every voice turn:

* ``CONNECT_ENABLE_VOICE_RESPONSE_INTERRUPT`` off (default): Lex speaks the answer as usual and
  the next prompt is a short silence, so the caller simply asks the next question;
* on: the answer's SSML moves into the next prompt, which callers can interrupt (barge in), and
  Lex's own message becomes silence;
* ``CONNECT_IGNORE_WORDS``: a turn made only of these words (fillers such as "uh", or the
  single letters speech recognition produces from noise) is not answered: the bot listens
  again, keeping the session as it was.

Text turns are returned unchanged.

Example:
    >>> words_only("Uh, um.", ["uh", "um"])
    True
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from fulfillment.model import Request

SILENCE = "<speak></speak>"
_WORD = re.compile(r"[\w']+", re.UNICODE)


def words_only(transcript: str, ignored: Iterable[str]) -> bool:
    """True when ``transcript`` has words and every one of them is in ``ignored``."""
    words = [w.lower() for w in _WORD.findall(transcript or "")]
    vocabulary = {w.strip().lower() for w in ignored if w.strip()}
    return bool(words) and bool(vocabulary) and all(w in vocabulary for w in words)


def _ssml(response: Mapping[str, Any]) -> str:
    for message in response.get("messages") or ():
        if message.get("contentType") == "SSML":
            return str(message.get("content") or "")
    text = " ".join(str(m.get("content") or "") for m in response.get("messages") or ()
                    if m.get("contentType") == "PlainText")
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<speak>{escaped}</speak>" if escaped else SILENCE


def apply_connect_settings(response: dict[str, Any], request: Request,
                           settings: Any) -> dict[str, Any]:
    """The Lex response with the ``CONNECT_*`` settings applied (voice turns only)."""
    if request.channel != "voice":
        return response
    varname = str(settings.get("CONNECT_NEXT_PROMPT_VARNAME") or "").strip()
    if words_only(request.transcript, settings.get("CONNECT_IGNORE_WORDS") or ()):
        attributes = dict(request.raw_session_attributes)
        if varname:
            attributes[varname] = SILENCE
        return {"sessionState": {"sessionAttributes": attributes,
                                 "dialogAction": {"type": "ElicitIntent"}},
                "messages": [{"contentType": "SSML", "content": SILENCE}]}
    result = copy.deepcopy(response)
    attributes = result.setdefault("sessionState", {}).setdefault("sessionAttributes", {})
    if settings.get("CONNECT_ENABLE_VOICE_RESPONSE_INTERRUPT"):
        if varname:
            attributes[varname] = _ssml(response)
        cards = [m for m in result.get("messages") or ()
                 if m.get("contentType") == "ImageResponseCard"]
        result["messages"] = [{"contentType": "SSML", "content": SILENCE}, *cards]
    elif varname:
        attributes[varname] = SILENCE
    return result
