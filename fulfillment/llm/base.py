"""The ``LLM`` port: turn a prompt into text, within a time limit.

Adapters: :mod:`~fulfillment.llm.disabled` (the local default), :mod:`~fulfillment.llm.bedrock`
(Bedrock Converse API), :mod:`~fulfillment.llm.lambda_plugin` (a user's Lambda with QnABot's
plugin contract) and :mod:`~fulfillment.llm.scripted` (deterministic replies for tests).

Every call goes through :func:`generate_within`, which enforces the per-call time limit
whatever the adapter does, so a hung model costs the turn at most that limit and the pipeline
falls back to the answer it would give without an LLM. Given ``on_text``, it streams
(:meth:`LLM.stream`) and reports the text so far after each piece, for the chat page.

Example:
    >>> from fulfillment.llm.scripted import ScriptedLLM
    >>> from knowledge.settings import Settings
    >>> llm = ScriptedLLM(["Paris"])
    >>> generate_within(llm, Prompt("Capital of France?"), 1.0, Settings.defaults()).text
    'Paris'
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from knowledge.settings import Settings


@dataclass(frozen=True)
class Prompt:
    """What is sent to the model: the user prompt, a system prompt and model parameters."""

    text: str
    system: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Generation:
    """The model's reply, with token counts when the provider reports them."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    first_text_ms: float | None = None  # when streamed: time to the first piece of text


class LLMError(RuntimeError):
    """The LLM failed: unreachable, throttled, refused, or replied with something unusable."""


class LLMTimeout(LLMError):
    """The LLM did not answer within the time limit."""


class LLM(Protocol):
    """Port for a text-generation model."""

    @property
    def name(self) -> str:
        """``DISABLED``, ``BEDROCK``, ``LAMBDA`` or a test name; shown in logs."""
        ...

    @property
    def enabled(self) -> bool:
        """False for the disabled model: the pipeline then skips every LLM step."""
        ...

    def generate(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Generation:
        """Generate a reply; raise :class:`LLMError` on failure. ``timeout`` is a hint for the
        adapter's own network timeouts; :func:`generate_within` enforces it."""
        ...

    def stream(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Iterator[str]:
        """The reply in pieces as the model produces them (an adapter whose backend cannot
        stream yields the whole reply once); raise :class:`LLMError` on failure."""
        ...


#: Called with the text generated so far, each time more arrives.
TextListener = Callable[[str], None]


def _streamed(llm: LLM, prompt: Prompt, timeout: float, settings: Settings,
              on_text: TextListener, cancelled: threading.Event,
              flowing: threading.Event) -> Generation:
    started = time.perf_counter()
    first: float | None = None
    text = ""
    for piece in llm.stream(prompt, timeout=timeout, settings=settings):
        if cancelled.is_set():
            break  # the caller gave up: stop reading (and so stop the model, over HTTP)
        if not isinstance(piece, str) or not piece:
            continue
        if first is None:
            first = (time.perf_counter() - started) * 1000
            flowing.set()
        text += piece
        with contextlib.suppress(Exception):  # a listener that fails must not fail the turn
            on_text(text)
    if not text.strip() and not cancelled.is_set():
        raise LLMError(f"{llm.name} LLM streamed no text")
    return Generation(text, first_text_ms=first)


def generate_within(llm: LLM, prompt: Prompt, timeout: float, settings: Settings,
                    on_text: TextListener | None = None,
                    stream_limit: float | None = None) -> Generation:
    """Call ``llm`` and wait at most ``timeout`` seconds.

    Raises :class:`LLMTimeout` when the limit passes (the call is abandoned in its daemon
    thread) and :class:`LLMError` for any failure, including unexpected exceptions from an
    adapter, so callers handle one exception type. With ``on_text`` the reply is streamed and
    ``on_text`` gets the text so far after each piece (from another thread); then, when the
    first text came within ``timeout``, the call may go on until ``stream_limit`` seconds in
    all (the turn's budget): the user is watching the answer being written, and cutting it
    off would only replace it with a worse one.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()
    cancelled = threading.Event()
    flowing = threading.Event()
    started = time.perf_counter()

    def call() -> None:
        try:
            if on_text is None:
                outcome["value"] = llm.generate(prompt, timeout=timeout, settings=settings)
            else:
                outcome["value"] = _streamed(llm, prompt, timeout, settings, on_text, cancelled,
                                             flowing)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=call, name=f"llm-{llm.name}", daemon=True).start()
    finished = done.wait(timeout)
    if not finished and flowing.is_set() and stream_limit and stream_limit > timeout:
        finished = done.wait(max(0.0, stream_limit - (time.perf_counter() - started)))
    if not finished:
        cancelled.set()
        limit = stream_limit if flowing.is_set() and stream_limit else timeout
        raise LLMTimeout(f"{llm.name} LLM gave no answer within {limit:g} s")
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, LLMError):
            raise error
        raise LLMError(f"{llm.name} LLM failed: {type(error).__name__}: {error}") from error
    generation = outcome["value"]
    if not isinstance(generation, Generation) or not isinstance(generation.text, str):
        raise LLMError(f"{llm.name} LLM returned {type(generation).__name__}, not text")
    return generation
