"""The disabled LLM, the local default: the pipeline answers without generating anything.

Example:
    >>> DisabledLLM().enabled
    False
"""

from __future__ import annotations

from collections.abc import Iterator

from fulfillment.llm.base import Generation, LLMError, Prompt
from knowledge.settings import Settings


class DisabledLLM:
    """An LLM that is switched off (``LLM_API=DISABLED``)."""

    name = "DISABLED"
    enabled = False

    def generate(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Generation:
        raise LLMError("the LLM is disabled; set LLM_API to LOCAL, OPENAI, BEDROCK or LAMBDA "
                       "to use one")

    def stream(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Iterator[str]:
        raise LLMError("the LLM is disabled; set LLM_API to use one")
