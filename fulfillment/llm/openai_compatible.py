"""Any server with OpenAI's chat-completions API: llama.cpp's ``llama-server``, Ollama, vLLM,
LM Studio, hosted OpenAI-compatible APIs, and the embedded local model.

``POST {base_url}/chat/completions`` with the system and user prompts as messages. Model
parameters (``LLM_*_MODEL_PARAMS``) map to the request's fields: ``temperature``,
``max_tokens`` (also from ``maxTokens``/``max_tokens_to_sample``), ``top_p``/``topP``,
``stop`` (from ``stop_sequences``/``stopSequences``); any other key (``top_k``, ``seed`` ...)
is sent as it is, as these servers accept extra sampling fields. :meth:`~OpenAICompatibleLLM.
stream` sends ``"stream": true`` and reads the server-sent events (``data: {...}`` lines, up to
``data: [DONE]``).

HTTP goes through ``urllib3`` (already a dependency of boto3), with the call's time limit as
the connect and read timeouts. Errors name the server, the HTTP status and the server's own
message, so a wrong model name or key is obvious from the log.

Example:
    >>> llm = OpenAICompatibleLLM("http://127.0.0.1:8080/v1", model="qwen2.5")
    >>> chat_request(Prompt("Hi", "Be brief", {"maxTokens": 50, "top_k": 5}), "qwen2.5")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'model': 'qwen2.5', 'messages': [{'role': 'system', 'content': 'Be brief'},
     {'role': 'user', 'content': 'Hi'}], 'max_tokens': 50, 'top_k': 5}
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from fulfillment.llm.base import Generation, LLMError, Prompt
from knowledge.settings import Settings

_FIELDS = {
    "temperature": "temperature", "max_tokens": "max_tokens", "maxTokens": "max_tokens",
    "max_tokens_to_sample": "max_tokens", "top_p": "top_p", "topP": "top_p",
    "stop_sequences": "stop", "stopSequences": "stop", "stop": "stop",
}
#: The model name sent when none is configured (llama.cpp's server ignores it).
DEFAULT_MODEL = "default"


def chat_request(prompt: Prompt, model: str, *, stream: bool = False) -> dict[str, Any]:
    """The JSON body of a chat-completions request for ``prompt``."""
    messages = []
    if prompt.system.strip():
        messages.append({"role": "system", "content": prompt.system})
    messages.append({"role": "user", "content": prompt.text})
    body: dict[str, Any] = {"model": model or DEFAULT_MODEL, "messages": messages}
    for key, value in (prompt.parameters or {}).items():
        body[_FIELDS.get(key, key)] = value
    if stream:
        body["stream"] = True
    return body


def _error_detail(data: bytes) -> str:
    """The server's error message from an error body (OpenAI's ``{"error": {"message"}}``)."""
    try:
        body = json.loads(data or b"null")
    except ValueError:
        return data[:200].decode("utf-8", "replace").strip() or "no message"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(error, str):
        return error
    return json.dumps(body)[:200]


def _reply_text(body: Any, where: str) -> tuple[str, Mapping[str, Any]]:
    try:
        choice = body["choices"][0]
        text = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMError(f"{where} replied without choices[0].message.content") from None
    if not isinstance(text, str) or not text.strip():
        raise LLMError(f"{where} returned no text (finish_reason "
                       f"{choice.get('finish_reason') if isinstance(choice, dict) else None})")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    return text, usage


class OpenAICompatibleLLM:
    """An OpenAI-compatible chat-completions server at ``base_url`` (ending in ``/v1``)."""

    enabled = True

    def __init__(self, base_url: str, *, model: str = "", api_key: str = "",
                 name: str = "OPENAI", pool: Any = None):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f'LLM_OPENAI_BASE_URL must start with http:// or https://, '
                             f'not "{base_url}"')
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = name
        self._api_key = api_key
        self._pool = pool

    @property
    def url(self) -> str:
        """The chat-completions endpoint."""
        return f"{self.base_url}/chat/completions"

    def _http(self) -> Any:
        if self._pool is None:
            import urllib3

            # A few connections per server: an abandoned call may still hold one.
            self._pool = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False)
        return self._pool

    def _post(self, body: dict[str, Any], timeout: float, *, stream: bool) -> Any:
        import urllib3

        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream" if stream else "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            response = self._http().request(
                "POST", self.url, body=json.dumps(body).encode(), headers=headers,
                timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
                preload_content=not stream)
        except urllib3.exceptions.HTTPError as exc:
            raise LLMError(f"cannot reach the {self.name} LLM at {self.url}: "
                           f"{type(exc).__name__}: {exc}") from exc
        if response.status != 200:
            raise LLMError(f"the {self.name} LLM at {self.url} answered HTTP {response.status}: "
                           f"{_error_detail(response.data)}")
        return response

    def generate(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Generation:
        """One chat completion; raises :class:`LLMError` naming the server and cause."""
        response = self._post(chat_request(prompt, self.model), timeout, stream=False)
        try:
            body = json.loads(response.data)
        except ValueError:
            raise LLMError(f"the {self.name} LLM at {self.url} replied with invalid JSON") \
                from None
        text, usage = _reply_text(body, f"the {self.name} LLM at {self.url}")
        return Generation(text, input_tokens=int(usage.get("prompt_tokens") or 0),
                          output_tokens=int(usage.get("completion_tokens") or 0))

    def stream(self, prompt: Prompt, *, timeout: float, settings: Settings) -> Iterator[str]:
        """The reply's content deltas, from the server-sent events of a streamed completion."""
        import urllib3

        response = self._post(chat_request(prompt, self.model, stream=True), timeout,
                              stream=True)
        finished = False
        try:
            for raw in _lines(response):
                if not raw.startswith("data:"):
                    continue
                data = raw[5:].strip()
                if data == "[DONE]":
                    finished = True
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    raise LLMError(f"the {self.name} LLM at {self.url} streamed invalid JSON: "
                                   f"{data[:100]}") from None
                if isinstance(event, dict) and "error" in event:
                    raise LLMError(f"the {self.name} LLM at {self.url} failed while streaming: "
                                   f"{_error_detail(data.encode())}")
                try:
                    piece = event["choices"][0]["delta"].get("content")
                except (KeyError, IndexError, TypeError, AttributeError):
                    continue  # a chunk without content (role, usage, finish)
                if isinstance(piece, str) and piece:
                    yield piece
        except urllib3.exceptions.HTTPError as exc:
            raise LLMError(f"the {self.name} LLM at {self.url} stopped streaming: {exc}") \
                from exc
        finally:
            if finished:
                response.release_conn()
            else:  # abandoned or failed: close the socket, so the server stops generating
                response.close()


def _lines(response: Any) -> Iterator[str]:
    """The lines of a streamed HTTP body, decoded as UTF-8 (a character may span chunks)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending = ""
    for chunk in response.stream(1024):
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line.rstrip("\r")
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.rstrip("\r")
