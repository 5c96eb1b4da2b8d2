"""The ``LLM`` port: turn a prompt into text, within a time limit.

Adapters: :mod:`~fulfillment.llm.disabled` (the local default), :mod:`~fulfillment.llm.bedrock`
(Bedrock Converse API), :mod:`~fulfillment.llm.lambda_plugin` (a user's Lambda with QnABot's
plugin contract) and :mod:`~fulfillment.llm.scripted` (deterministic replies for tests).

Every call goes through :func:`generate_within`, which enforces the per-call time limit
whatever the adapter does, so a hung model costs the turn at most that limit and the pipeline
falls back to the answer it would give without an LLM.

Example:
    >>> from fulfillment.llm.scripted import ScriptedLLM
    >>> from knowledge.settings import Settings
    >>> llm = ScriptedLLM(["Paris"])
    >>> generate_within(llm, Prompt("Capital of France?"), 1.0, Settings.defaults()).text
    'Paris'
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
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


def generate_within(llm: LLM, prompt: Prompt, timeout: float, settings: Settings) -> Generation:
    """Call ``llm`` and wait at most ``timeout`` seconds.

    Raises :class:`LLMTimeout` when the limit passes (the call is abandoned in its daemon
    thread) and :class:`LLMError` for any failure, including unexpected exceptions from an
    adapter, so callers handle one exception type.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def call() -> None:
        try:
            outcome["value"] = llm.generate(prompt, timeout=timeout, settings=settings)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=call, name=f"llm-{llm.name}", daemon=True).start()
    if not done.wait(timeout):
        raise LLMTimeout(f"{llm.name} LLM gave no answer within {timeout:g} s")
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, LLMError):
            raise error
        raise LLMError(f"{llm.name} LLM failed: {type(error).__name__}: {error}") from error
    generation = outcome["value"]
    if not isinstance(generation, Generation) or not isinstance(generation.text, str):
        raise LLMError(f"{llm.name} LLM returned {type(generation).__name__}, not text")
    return generation
