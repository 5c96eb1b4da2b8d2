"""Sample LLM plugin Lambda for QnABot's ``LLM_API=LAMBDA`` mode, backed by Amazon Bedrock.

Contract (QnABot's): the bot invokes this function with
``{"prompt": str, "parameters": {...}, "settings": {...}}`` and expects
``{"generated_text": str}``. On failure it raises, so the caller gets Lambda's
``{"errorMessage", "errorType"}`` and falls back to its answer without an LLM.

``parameters`` are the ``LLM_GENERATE_QUERY_MODEL_PARAMS`` / ``LLM_QA_MODEL_PARAMS`` settings,
plus ``system`` (the system prompt). ``temperature``, ``max_tokens``, ``top_p`` and
``stop_sequences`` go to Converse's ``inferenceConfig``; ``modelId`` overrides the model;
other keys go to ``additionalModelRequestFields``.

Environment:

=========================  ========================================================
``MODEL_ID``               Bedrock model id (default Claude 3 Haiku)
``GUARDRAIL_ID``           optional Bedrock guardrail id
``GUARDRAIL_VERSION``      its version (default ``DRAFT``)
``DEFAULT_MAX_TOKENS``     ``maxTokens`` when the parameters give none (default 512)
=========================  ========================================================

The function needs ``bedrock:InvokeModel`` on the model (and ``bedrock:ApplyGuardrail`` with a
guardrail). It has no other dependency than boto3, which the Lambda runtime provides.
"""

from __future__ import annotations

import os
from typing import Any

_INFERENCE = {"temperature": "temperature", "max_tokens": "maxTokens", "maxTokens": "maxTokens",
              "top_p": "topP", "topP": "topP", "stop_sequences": "stopSequences",
              "stopSequences": "stopSequences"}
_client = None


def bedrock_client() -> Any:
    """The bedrock-runtime client, created once per container."""
    global _client
    if _client is None:
        import boto3

        _client = boto3.client("bedrock-runtime")
    return _client


def converse_arguments(prompt: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The ``converse`` keyword arguments for one plugin event."""
    parameters = dict(parameters or {})
    system = parameters.pop("system", "")
    model_id = parameters.pop("modelId", "") or os.environ.get(
        "MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")
    inference: dict[str, Any] = {"maxTokens": int(os.environ.get("DEFAULT_MAX_TOKENS", "512"))}
    additional: dict[str, Any] = {}
    for key, value in parameters.items():
        if key in _INFERENCE:
            inference[_INFERENCE[key]] = value
        else:
            additional[key] = value
    arguments: dict[str, Any] = {
        "modelId": model_id,
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": inference,
    }
    if system:
        arguments["system"] = [{"text": system}]
    if additional:
        arguments["additionalModelRequestFields"] = additional
    if os.environ.get("GUARDRAIL_ID"):
        arguments["guardrailConfig"] = {
            "guardrailIdentifier": os.environ["GUARDRAIL_ID"],
            "guardrailVersion": os.environ.get("GUARDRAIL_VERSION", "DRAFT")}
    return arguments


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    """Generate text for ``event["prompt"]``; raises ``ValueError`` for a bad event."""
    prompt = event.get("prompt") if isinstance(event, dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError('the event needs a non-empty "prompt" string')
    parameters = event.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ValueError('"parameters" must be an object')
    response = bedrock_client().converse(**converse_arguments(prompt, parameters))
    blocks = response["output"]["message"]["content"]
    text = "".join(block.get("text", "") for block in blocks).strip()
    if not text:
        raise RuntimeError(f"the model returned no text (stopReason {response.get('stopReason')})")
    return {"generated_text": text}
