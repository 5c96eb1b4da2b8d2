"""LLMs: the port, its adapters, and :func:`open_llm`, which picks one from the environment.

=====================  =====================================================================
``LLM_API``            ``DISABLED`` (default), ``BEDROCK`` or ``LAMBDA``
``LLM_LAMBDA_ARN``     the plugin function (with ``LLM_API=LAMBDA``)
``LLM_BEDROCK_REGION`` Bedrock's region when not the Lambda's own (optional)
=====================  =====================================================================

Example:
    >>> open_llm({}).name
    'DISABLED'
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fulfillment.llm.base import LLM, Generation, LLMError, LLMTimeout, Prompt, generate_within

__all__ = ["LLM", "Generation", "LLMError", "LLMTimeout", "Prompt", "generate_within", "open_llm"]


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
    raise ValueError(f'LLM_API="{api}" is not one of DISABLED, BEDROCK, LAMBDA')
