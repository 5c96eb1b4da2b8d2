"""LLMs: the port, its adapters, and :func:`open_llm`, which picks one from the environment.

======================== ==================================================================
``LLM_API``              ``DISABLED`` (default), ``LOCAL``, ``OPENAI``, ``BEDROCK`` or ``LAMBDA``
``LLM_LAMBDA_ARN``       the plugin function (with ``LLM_API=LAMBDA``)
``LLM_BEDROCK_REGION``   Bedrock's region when not the Lambda's own (optional)
``LLM_OPENAI_BASE_URL``  an OpenAI-compatible server, up to ``/v1`` (with ``LLM_API=OPENAI``)
``LLM_OPENAI_MODEL``     the model name sent to it (optional for llama.cpp's server)
``LLM_OPENAI_API_KEY``   its key, sent as ``Authorization: Bearer`` (optional)
======================== ==================================================================

``LOCAL`` is the embedded model (:mod:`~fulfillment.llm.local_model`): this process starts
llama.cpp's server on it (:mod:`~fulfillment.llm.llama_server`) on first use and talks to it
as to any OpenAI-compatible server.

Example:
    >>> open_llm({}).name
    'DISABLED'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from fulfillment.llm.base import LLM, Generation, LLMError, LLMTimeout, Prompt, generate_within

__all__ = ["LLM", "Generation", "LLMError", "LLMTimeout", "Prompt", "describe_llm",
           "generate_within", "open_llm"]


def describe_llm(llm: Any) -> str:
    """One line naming the LLM that answers, for ``qnabot serve`` and ``qnabot eval``.

    >>> describe_llm(open_llm({}))
    'DISABLED'
    """
    if not llm.enabled:
        return llm.name
    if llm.name == "LOCAL":
        from fulfillment.llm.local_model import MODEL_NAME

        client = getattr(llm, "_client", None)
        where = f" at {client.base_url}" if client is not None else ""
        return f"LOCAL, {MODEL_NAME}{where}"
    if llm.name == "OPENAI":
        return f"OPENAI, model {llm.model or '(server default)'} at {llm.base_url}"
    if llm.name == "LAMBDA":
        return f"LAMBDA, {llm.function_arn}"
    return llm.name


def open_llm(environ: Mapping[str, str] | None = None) -> LLM:
    """The LLM selected by ``LLM_API``; raises ``ValueError`` naming what to set."""
    env = os.environ if environ is None else environ
    api = (env.get("LLM_API") or "DISABLED").strip().upper()
    if api == "DISABLED":
        from fulfillment.llm.disabled import DisabledLLM

        return DisabledLLM()
    if api == "BEDROCK":
        from fulfillment.llm.bedrock import BedrockLLM

        return BedrockLLM(region=(env.get("LLM_BEDROCK_REGION") or None))
    if api == "LAMBDA":
        from fulfillment.llm.lambda_plugin import LambdaLLM

        arn = (env.get("LLM_LAMBDA_ARN") or "").strip()
        if not arn:
            raise ValueError("LLM_API=LAMBDA needs LLM_LAMBDA_ARN, the ARN of the plugin Lambda")
        return LambdaLLM(arn)
    if api == "OPENAI":
        from fulfillment.llm.openai_compatible import OpenAICompatibleLLM

        base_url = (env.get("LLM_OPENAI_BASE_URL") or "").strip()
        if not base_url:
            raise ValueError("LLM_API=OPENAI needs LLM_OPENAI_BASE_URL, the server's URL up to "
                             "/v1 (e.g. http://127.0.0.1:8080/v1 for llama-server, "
                             "http://127.0.0.1:11434/v1 for Ollama)")
        return OpenAICompatibleLLM(base_url, model=(env.get("LLM_OPENAI_MODEL") or "").strip(),
                                   api_key=(env.get("LLM_OPENAI_API_KEY") or "").strip())
    if api == "LOCAL":
        from fulfillment.llm.local_model import MODEL_FILE

        return LocalLLM(MODEL_FILE)
    raise ValueError(f'LLM_API="{api}" is not one of DISABLED, LOCAL, OPENAI, BEDROCK, LAMBDA')


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
    #: The per-call limit of text turns when ``LLM_TIMEOUT_SECONDS`` is not set: a 1.5B model
    #: on one or two CPU threads takes 5 to 25 s for a prompt of a few hundred tokens.
    default_timeout_seconds = 25.0

    def __init__(self, model: str):
        self.model = model
        self._client: Any = None
        self._primed = ""

    def _server_client(self) -> Any:
        from fulfillment.llm.llama_server import shared_server
        from fulfillment.llm.local_model import ModelError
        from fulfillment.llm.openai_compatible import OpenAICompatibleLLM

        server = None
        try:
            server = shared_server()
        except ModelError as exc:
            raise LLMError(f"the local LLM is unavailable: {exc}") from exc
        if self._client is None or self._client.base_url != server.base_url:
            self._client = OpenAICompatibleLLM(server.base_url, model=self.model, name="LOCAL")
        return self._client

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
