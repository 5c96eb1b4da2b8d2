"""Amazon Bedrock through the Converse API (``bedrock-runtime`` ``converse``).

The model id comes from ``LLM_MODEL_ID``; ``BEDROCK_GUARDRAIL_IDENTIFIER`` and
``BEDROCK_GUARDRAIL_VERSION`` add a guardrail. Model parameters (``LLM_*_MODEL_PARAMS``) map to
Converse's ``inferenceConfig`` (``temperature``, ``max_tokens``/``maxTokens``, ``top_p``/``topP``,
``stop_sequences``/``stopSequences``); any other key goes to ``additionalModelRequestFields``
(for example ``top_k``). Throttling is retried by botocore's adaptive mode, within the time limit.

Example:
    >>> llm = BedrockLLM(client=stubbed_bedrock_runtime)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fulfillment.llm.base import Generation, LLMError, Prompt
from knowledge.aws import aws_client
from knowledge.settings import Settings

_INFERENCE_KEYS = {
    "temperature": "temperature", "max_tokens": "maxTokens", "maxTokens": "maxTokens",
    "max_tokens_to_sample": "maxTokens", "top_p": "topP", "topP": "topP",
    "stop_sequences": "stopSequences", "stopSequences": "stopSequences",
}


def converse_request(prompt: Prompt, settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``converse`` for ``prompt``.

    >>> from knowledge.settings import Settings
    >>> req = converse_request(Prompt("Hi", "Be brief", {"temperature": 0, "top_k": 5}),
    ...                        Settings.defaults())
    >>> req["inferenceConfig"], req["additionalModelRequestFields"]
    ({'temperature': 0}, {'top_k': 5})
    """
    inference: dict[str, Any] = {}
    additional: dict[str, Any] = {}
    for key, value in (prompt.parameters or {}).items():
        if key in _INFERENCE_KEYS:
            inference[_INFERENCE_KEYS[key]] = value
        else:
            additional[key] = value
    request: dict[str, Any] = {
        "modelId": settings.get("LLM_MODEL_ID"),
        "messages": [{"role": "user", "content": [{"text": prompt.text}]}],
    }
    if prompt.system.strip():
        request["system"] = [{"text": prompt.system}]
    if inference:
        request["inferenceConfig"] = inference
    if additional:
        request["additionalModelRequestFields"] = additional
    guardrail = settings.get("BEDROCK_GUARDRAIL_IDENTIFIER").strip()
    if guardrail:
        request["guardrailConfig"] = {
            "guardrailIdentifier": guardrail,
            "guardrailVersion": settings.get("BEDROCK_GUARDRAIL_VERSION").strip() or "DRAFT",
        }
    return request


def _reply_text(response: Mapping[str, Any]) -> str:
    try:
        content = response["output"]["message"]["content"]
    except (KeyError, TypeError):
        raise LLMError("Bedrock converse reply has no output message") from None
    text = "".join(block.get("text", "") for block in content if isinstance(block, Mapping))
    if not text.strip():
        raise LLMError(f"Bedrock returned no text (stopReason {response.get('stopReason')})")
    return text


class BedrockLLM:
    """Bedrock Converse. ``client`` is a ``bedrock-runtime`` client (made lazily if omitted)."""

    name = "BEDROCK"
    enabled = True

    def __init__(self, client: Any = None, region: str | None = None):
        self._client = client
        self._region = region

    def _client_for(self, timeout: float) -> Any:
        if self._client is None:
            self._client = aws_client("bedrock-runtime", read_timeout=timeout, max_attempts=3,
                                      region=self._region)
        return self._client

    def generate(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Generation:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client_for(timeout).converse(**converse_request(prompt, settings))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise LLMError(f"Bedrock converse failed for model {settings.get('LLM_MODEL_ID')}: "
                           f"{error.get('Code')}: {error.get('Message')}") from exc
        except BotoCoreError as exc:
            raise LLMError(f"Bedrock converse failed: {exc}") from exc
        usage = response.get("usage") or {}
        return Generation(_reply_text(response), input_tokens=int(usage.get("inputTokens", 0)),
                          output_tokens=int(usage.get("outputTokens", 0)))
