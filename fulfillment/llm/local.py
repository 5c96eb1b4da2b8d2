"""The ``LOCAL`` LLM: the embedded model, served on this machine by llama.cpp.

Its server (:mod:`~fulfillment.llm.llama_server`) is started on the first call, or by ``qnabot
serve`` beforehand, then every call goes to it as to any OpenAI-compatible server
(:class:`~fulfillment.llm.openai_compatible.OpenAICompatibleLLM`).

Example:
    >>> llm = LocalLLM("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    >>> llm.name, llm.setting_defaults["LLM_TIMEOUT_SECONDS"]
    ('LOCAL', '25')
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from fulfillment.llm.base import Generation, LLMError, Prompt

#: Longest wait for one priming request of the local model.
PRIME_TIMEOUT_SECONDS = 120.0


class LocalLLM:
    """The embedded model: its server is started on the first call (or by ``qnabot serve``
    beforehand), then every call goes to it as to an OpenAI-compatible server.

    A model that is missing or not the pinned file makes every call fail with an
    :class:`LLMError` saying how to install it, and the turn answers without the LLM.
    """

    name = "LOCAL"
    enabled = True
    #: Defaults for settings the admin has not set (the pipeline applies them): a 1.5B model
    #: on one or two CPU threads reads 20 to 100 prompt tokens a second, so calls get the
    #: turn's whole budget, and answer prompts are kept to about one passage.
    setting_defaults = {"LLM_TIMEOUT_SECONDS": "25", "LLM_PROMPT_MAX_TOKEN_LIMIT": "600"}

    def __init__(self, model: str):
        self.model = model
        self._client: Any = None
        self._primed = ""

    def _server_client(self) -> Any:
        from fulfillment.llm.llama_server import shared_server
        from fulfillment.llm.local_model import ModelError
        from fulfillment.llm.openai_compatible import OpenAICompatibleLLM

        try:
            server = shared_server()
        except ModelError as exc:
            raise LLMError(f"the local LLM is unavailable: {exc}") from exc
        if self._client is None or self._client.base_url != server.base_url:
            self._client = OpenAICompatibleLLM(server.base_url, model=self.model, name="LOCAL")
        return self._client

    @property
    def base_url(self) -> str:
        """The running server's base URL, or "" before it started."""
        return self._client.base_url if self._client is not None else ""

    def start(self, settings: Any = None) -> str:
        """Start the model's server now (``qnabot serve`` does, before the first question);
        its base URL. With ``settings``, also prime it (:meth:`prime`)."""
        client = self._server_client()
        if settings is not None:
            self.prime(settings)
        return client.base_url

    def prime(self, settings: Any) -> None:
        """Have the server compute the fixed beginning of the rewrite and answer prompts (the
        system prompt and the template up to its first placeholder), once per server.

        llama.cpp keeps each slot's last prompt and reuses its longest common beginning, so
        the first real rewrite and answer skip that work: about 70 prompt tokens each, seconds
        on a slow CPU. Failures are ignored: priming only saves time.
        """
        client = self._server_client()
        if self._primed == client.base_url:
            return
        for template, system in (
                ("LLM_GENERATE_QUERY_PROMPT_TEMPLATE", "LLM_GENERATE_QUERY_SYSTEM_PROMPT"),
                ("LLM_QA_PROMPT_TEMPLATE", "LLM_QA_SYSTEM_PROMPT")):
            prefix = settings.get(template).split("{", 1)[0]
            with contextlib.suppress(LLMError):
                client.generate(Prompt(prefix, settings.get(system), {"max_tokens": 1}),
                                timeout=PRIME_TIMEOUT_SECONDS, settings=settings)
        self._primed = client.base_url

    def generate(self, prompt: Prompt, *, timeout: float, settings: Any) -> Generation:
        return self._server_client().generate(prompt, timeout=timeout, settings=settings)

    def stream(self, prompt: Prompt, *, timeout: float, settings: Any) -> Iterator[str]:
        return self._server_client().stream(prompt, timeout=timeout, settings=settings)
