"""Amazon Bedrock through the Converse API (``bedrock-runtime`` ``converse``, and
``converse_stream`` for :meth:`BedrockLLM.stream`).

The model id comes from ``LLM_MODEL_ID``; ``BEDROCK_GUARDRAIL_IDENTIFIER`` and
``BEDROCK_GUARDRAIL_VERSION`` add a guardrail. Model parameters (``LLM_*_MODEL_PARAMS``) map to
Converse's ``inferenceConfig`` (``temperature``, ``max_tokens``/``maxTokens``, ``top_p``/``topP``,
``stop_sequences``/``stopSequences``); any other key goes to ``additionalModelRequestFields``
(for example ``top_k``). Throttling is retried by botocore's adaptive mode, within the time limit.

Example:
    >>> llm = BedrockLLM(client=stubbed_bedrock_runtime)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
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
        with _bedrock_errors("converse", settings):
            response = self._client_for(timeout).converse(**converse_request(prompt, settings))
        usage = response.get("usage") or {}
        return Generation(_reply_text(response), input_tokens=int(usage.get("inputTokens", 0)),
                          output_tokens=int(usage.get("outputTokens", 0)))

    def stream(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Iterator[str]:
        """The reply's text deltas from ``converse_stream``; an error event raises."""
        with _bedrock_errors("converse_stream", settings):
            response = self._client_for(timeout).converse_stream(
                **converse_request(prompt, settings))
            for event in response.get("stream") or ():
                delta = (event.get("contentBlockDelta") or {}).get("delta") or {}
                if isinstance(delta.get("text"), str):
                    yield delta["text"]
                    continue
                problem = next((k for k in event if k.endswith("Exception")), None)
                if problem:
                    detail = event[problem] or {}
                    raise LLMError(f"Bedrock stream failed for model "
                                   f"{settings.get('LLM_MODEL_ID')}: {problem}: "
                                   f"{detail.get('message', detail.get('Message', ''))}")


@contextlib.contextmanager
def _bedrock_errors(operation: str, settings: Settings) -> Iterator[None]:
    """botocore's errors as :class:`LLMError` naming the operation, model and cause."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise LLMError(f"Bedrock {operation} failed for model {settings.get('LLM_MODEL_ID')}: "
                       f"{error.get('Code')}: {error.get('Message')}") from exc
    except BotoCoreError as exc:
        raise LLMError(f"Bedrock {operation} failed: {exc}") from exc
