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

import os
from collections.abc import Mapping
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

        return f"LOCAL, {MODEL_NAME}" + (f" at {llm.base_url}" if llm.base_url else "")
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
        from fulfillment.llm.local import LocalLLM
        from fulfillment.llm.local_model import MODEL_FILE

        return LocalLLM(MODEL_FILE)
    raise ValueError(f'LLM_API="{api}" is not one of DISABLED, LOCAL, OPENAI, BEDROCK, LAMBDA')
