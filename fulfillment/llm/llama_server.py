"""The local model's server: llama.cpp (the ``xllamacpp`` wheel) in a child process.

llama.cpp's own server speaks the OpenAI chat-completions API, so the local model is used
through the same adapter as any OpenAI-compatible server
(:class:`~fulfillment.llm.openai_compatible.OpenAICompatibleLLM`). Running it in a child
process keeps its 1.8 GB out of the chat server's process, and lets ``qnabot serve`` stop it
cleanly.

:class:`LocalModelServer` starts ``python -m fulfillment.llm.llama_server`` on a free loopback
port, waits (bounded) until the model is loaded, and stops it on :meth:`~LocalModelServer.stop`
or at exit. ``LLM_LOCAL_THREADS`` sets the inference threads (default: half the cores, at
most 4, at least 1); ``LLM_LOCAL_CONTEXT`` the context window of each of the two slots
(default 4096 tokens, the default ``LLM_PROMPT_MAX_TOKEN_LIMIT``).

Two slots, because llama.cpp reuses a slot's cached prompt prefix: the rewrite and the answer
prompts each keep their own slot (the server picks the slot whose cached prompt is most like
the new one), so their long fixed beginnings (system prompt, instructions) are not computed
again on every call. Prompts are processed in batches of 128 tokens, so a call abandoned at
its time limit (the connection closes) stops the model within one batch.

Example:
    >>> with LocalModelServer() as server:  # doctest: +SKIP
    ...     server.base_url
    'http://127.0.0.1:40123/v1'
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from fulfillment.llm.local_model import MODEL_NAME, ModelError, verified_model

#: Longest wait for the model to load (it takes 3 to 10 s on a loaded 2-core machine).
START_TIMEOUT_SECONDS = 180.0
#: Largest reply, in tokens, whatever a request asks (bounds a runaway generation).
MAX_PREDICT_TOKENS = 512
#: Slots: one for rewrites, one for answers (see the module docstring).
SLOTS = 2
#: Prompt tokens processed between checks for abandoned calls.
BATCH_TOKENS = 128
#: A prompt goes to the slot whose cached prompt shares at least this share of it (a small
#: share: the fixed beginnings of the rewrite and answer prompts are a fraction of them).
SLOT_SIMILARITY = 0.1
_READY = "ready "


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _int_env(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    try:
        value = int(text) if text else default
    except ValueError:
        raise ModelError(f"{name} must be a whole number, not {text!r}") from None
    if value < 1:
        raise ModelError(f"{name} must be at least 1, not {value}")
    return value


class LocalModelServer:
    """The local model served over HTTP by a child process; :attr:`base_url` once started."""

    def __init__(self, model: Path | None = None, *, threads: int | None = None,
                 context: int | None = None):
        self.model = model
        self.threads = threads or _int_env("LLM_LOCAL_THREADS",
                                           max(1, min(4, (os.cpu_count() or 2) // 2)))
        self.context = context or _int_env("LLM_LOCAL_CONTEXT", 4096)
        self.base_url = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> str:
        """Start the server and wait until it answers; its base URL (``.../v1``).

        Raises :class:`~fulfillment.llm.local_model.ModelError` when the model is missing or
        not the pinned file, or the server does not come up within ``timeout``.
        """
        model = verified_model(self.model)
        port = _free_port()
        command = [sys.executable, "-m", "fulfillment.llm.llama_server", "--model", str(model),
                   "--port", str(port), "--threads", str(self.threads),
                   "--context", str(self.context)]
        # The child's stdin is a pipe from this process: when this process ends, however it
        # ends (SIGKILL included), the pipe closes and the child stops itself.
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        atexit.register(self.stop)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self._process.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith(_READY):
            self.stop()
            raise ModelError(f"the local model server did not start within {timeout:g} s "
                             f"(run `python -m fulfillment.llm.llama_server --model {model}` "
                             "to see why)")
        self.base_url = line[0][len(_READY):].strip().rstrip("/") + "/v1"
        return self.base_url

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s). Safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalModelServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_shared: LocalModelServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> LocalModelServer:
    """The process's local model server, started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            server = LocalModelServer()
            print(f"local LLM: starting {MODEL_NAME} ({server.threads} thread"
                  f"{'s' if server.threads > 1 else ''}) ...", file=sys.stderr, flush=True)
            server.start()
            _shared = server
        return _shared


def stop_shared_server() -> None:
    """Stop the process's local model server, if one was started."""
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.stop()
            _shared = None


def serve(model: str, port: int, threads: int, context: int) -> None:
    """Load ``model`` and serve it on 127.0.0.1:``port`` until SIGTERM, SIGINT or the end of
    stdin (the parent process is gone)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_ctx = context * SLOTS
    params.n_predict = MAX_PREDICT_TOKENS
    params.n_parallel = SLOTS
    params.n_batch = params.n_ubatch = BATCH_TOKENS
    params.slot_prompt_similarity = SLOT_SIMILARITY
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = port
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def parent_gone() -> None:
        sys.stdin.read()  # returns at end of file: the parent closed the pipe or died
        stop.set()

    threading.Thread(target=parent_gone, daemon=True).start()
    server = xllamacpp.Server(params)
    print(f"{_READY}{server.listening_address}", flush=True)
    stop.wait()
    del server


def main(argv: list[str] | None = None) -> int:
    """The child process: ``--model PATH --port N [--threads 1] [--context 4096]``."""
    parser = argparse.ArgumentParser(description="Serve a GGUF model (OpenAI-compatible API).")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--context", type=int, default=4096)
    args = parser.parse_args(argv)
    serve(args.model, args.port, args.threads, args.context)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
