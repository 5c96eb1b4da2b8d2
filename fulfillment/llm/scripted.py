"""A scripted LLM for tests: deterministic replies, a log of every call, injectable faults.

Each reply is a string, a :class:`Generation`, an exception instance (raised), a callable
(called with the prompt), or :data:`HANG` (blocks until :meth:`ScriptedLLM.release`, to test
time limits without sleeping).

Example:
    >>> from knowledge.settings import Settings
    >>> llm = ScriptedLLM(["first", "second"])
    >>> llm.generate(Prompt("q"), timeout=1, settings=Settings.defaults()).text
    'first'
    >>> len(llm.calls)
    1
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from fulfillment.llm.base import Generation, LLMError, Prompt
from knowledge.settings import Settings

#: A reply that never comes (until released).
HANG = object()


class ScriptedLLM:
    """Replies from a script, in order; the last reply repeats when the script runs out."""

    name = "SCRIPTED"
    enabled = True

    def __init__(self, replies: Iterable[Any] = ("OK",)):
        self.replies = list(replies)
        self.calls: list[Prompt] = []
        self._released = threading.Event()
        self._lock = threading.Lock()

    def release(self) -> None:
        """Let hanging calls finish (they then fail)."""
        self._released.set()

    def generate(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Generation:
        with self._lock:
            index = len(self.calls)
            self.calls.append(prompt)
            if not self.replies:
                raise LLMError("the scripted LLM has no replies")
            reply = self.replies[min(index, len(self.replies) - 1)]
        if callable(reply) and not isinstance(reply, type):
            reply = reply(prompt)
        if reply is HANG:
            self._released.wait()
            raise LLMError("released after hanging")
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Generation):
            return reply
        text = str(reply)
        return Generation(text, input_tokens=len(prompt.text.split()),
                          output_tokens=len(text.split()))

    def stream(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Iterator[str]:
        """The scripted reply word by word (spaces kept), as a streaming model sends it."""
        text = self.generate(prompt, timeout=timeout, settings=settings).text
        yield from re.findall(r"\s*\S+\s*", text) or [text]
