"""A user's LLM Lambda, with QnABot's plugin contract.

Request: ``{"prompt": str, "parameters": {...model params}, "settings": {...QnABot settings}}``.
Reply: ``{"generated_text": str}``. A function error (``FunctionError`` set, body
``{"errorMessage": ..., "errorType": ...}``) or a reply without ``generated_text`` raises
:class:`~fulfillment.llm.base.LLMError` naming the function and what it said. The system prompt
is sent as ``parameters["system"]`` for plugins that support one, as QnABot's samples do.

The plugin contract has no streaming: :meth:`LambdaLLM.stream` yields the whole reply once.

Example:
    >>> llm = LambdaLLM("arn:aws:lambda:us-east-1:123456789012:function:qna-llm")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fulfillment.llm.base import Generation, LLMError, Prompt
from knowledge.aws import aws_client
from knowledge.settings import Settings


def plugin_payload(prompt: Prompt, settings: Settings) -> dict[str, Any]:
    """The event sent to the plugin."""
    parameters = dict(prompt.parameters or {})
    if prompt.system.strip():
        parameters.setdefault("system", prompt.system)
    return {"prompt": prompt.text, "parameters": parameters, "settings": dict(settings.raw)}


class LambdaLLM:
    """Invoke ``function_arn`` synchronously for each generation."""

    name = "LAMBDA"
    enabled = True

    def __init__(self, function_arn: str, client: Any = None):
        self.function_arn = function_arn
        self._client = client

    def _client_for(self, timeout: float) -> Any:
        if self._client is None:
            self._client = aws_client("lambda", read_timeout=timeout)
        return self._client

    def generate(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Generation:
        from botocore.exceptions import BotoCoreError, ClientError

        payload = json.dumps(plugin_payload(prompt, settings)).encode()
        try:
            response = self._client_for(timeout).invoke(
                FunctionName=self.function_arn, InvocationType="RequestResponse",
                Payload=payload)
            body = response["Payload"].read()
        except (ClientError, BotoCoreError) as exc:
            raise LLMError(f"cannot invoke LLM plugin {self.function_arn}: {exc}") from exc
        try:
            reply = json.loads(body or b"null")
        except ValueError:
            raise LLMError(f"LLM plugin {self.function_arn} replied with invalid JSON") from None
        if response.get("FunctionError") or (isinstance(reply, dict) and "errorMessage" in reply):
            detail = reply if isinstance(reply, dict) else {}
            raise LLMError(
                f"LLM plugin {self.function_arn} failed: "
                f"{detail.get('errorType', response.get('FunctionError', 'Error'))}: "
                f"{detail.get('errorMessage', 'no message')}")
        if not isinstance(reply, dict) or not isinstance(reply.get("generated_text"), str):
            raise LLMError(f'LLM plugin {self.function_arn} reply has no "generated_text" string')
        return Generation(reply["generated_text"])

    def stream(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Iterator[str]:
        """The whole reply as one piece (the plugin contract does not stream)."""
        yield self.generate(prompt, timeout=timeout, settings=settings).text
