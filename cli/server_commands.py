"""``qnabot serve``: the chat page, the designer page and the admin API on this machine.

With ``LLM_API=LOCAL`` (``make run``'s default) it starts the embedded model's server first
and stops it on exit; the model must have been installed (``make model``).

Example:
    $ LLM_API=LOCAL qnabot serve --load-demo
    QnABot is serving http://127.0.0.1:8000
      chat:      http://127.0.0.1:8000/chat
      designer:  http://127.0.0.1:8000/designer#token=...
      LLM:       LOCAL, Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1 thread) at http://127.0.0.1:41234/v1
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from content_designer.auth import load_or_create_token, token_authorizer, token_path
from content_designer.local_server import make_server
from content_designer.malloc_arenas import limit_malloc_arenas
from content_designer.services import open_services
from fulfillment.handler import get_service, warm_up
from fulfillment.llm import LLMError, describe_llm
from fulfillment.llm.llama_server import stop_shared_server
from knowledge.home import qnabot_home
from knowledge.importer import import_files
from knowledge.knowledge_base import KnowledgeBase

#: The project's demo content, loaded by ``--load-demo`` (and ``make run``).
DEMO_FOLDER = Path(__file__).resolve().parents[1] / "data" / "demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``qnabot`` command line."""
    parser = subparsers.add_parser(
        "serve", help="serve the chat and designer pages and the admin API locally",
        description="Serve the chat page, the content designer and the admin API. Admin routes "
                    "need the token printed on first start (kept in $QNABOT_HOME/admin-token).")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    parser.add_argument("--load-demo", action="store_true",
                        help=f"import the demo content ({DEMO_FOLDER}) when the knowledge base "
                             "is empty (never over an admin's items)")
    parser.set_defaults(func=run_serve)


def load_demo_if_empty(kb: KnowledgeBase) -> bool:
    """Import the demo content when the knowledge base holds no item; say what was done.

    An admin's edits and deletions survive every restart: a knowledge base with any item in
    it is left alone. Returns True when the demo was imported.
    """
    count = kb.store.count()
    if count:
        print(f"knowledge base has {count} items: demo content not loaded (it is loaded only "
              "into an empty knowledge base)", flush=True)
        return False
    demo = sorted(DEMO_FOLDER.glob("*.json"))
    if not demo:
        print(f"no demo content in {DEMO_FOLDER}", file=sys.stderr, flush=True)
        return False
    report = import_files(kb, demo)
    print(f"empty knowledge base: loaded the demo content: {report.summary()}", flush=True)
    return True


def run_serve(args: argparse.Namespace) -> int:
    """Start the server and serve until interrupted."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    limit_malloc_arenas()  # each request runs on a new thread: keep their memory in 2 arenas
    home = qnabot_home()
    token, created = load_or_create_token(home)
    services = open_services(home, chat=True, authorize=token_authorizer(token))
    if args.load_demo:
        load_demo_if_empty(services.kb)
    # Load the embedding model, the LLM and the bot before the first question, not during it.
    services.kb.embeddings.embed(["warm up"], "q")
    llm_line = start_llm()
    warm_up()
    server = make_server(services, args.host, args.port)
    url = server.url
    print(f"QnABot is serving {url}", flush=True)
    print(f"  chat:      {url}/chat", flush=True)
    if created:
        print(f"  designer:  {url}/designer#token={token}", flush=True)
        print(f"  admin token (shown once, kept in {token_path(home)}): {token}", flush=True)
    else:
        print(f"  designer:  {url}/designer (admin token in {token_path(home)})", flush=True)
    print(f"  LLM:       {llm_line}", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: other machines can reach this server, over "
              "plain HTTP", file=sys.stderr, flush=True)
    # SIGTERM (a service manager, `kill`) stops the server like Ctrl-C: the local LLM too.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        server.server_close()
        services.jobs.shutdown()
        stop_shared_server()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


#: How to use another LLM, in one line.
LLM_HINT = ("another LLM: LLM_API=OPENAI LLM_OPENAI_BASE_URL=http://127.0.0.1:8080/v1 "
            "(llama-server, Ollama, vLLM ...), BEDROCK or LAMBDA; none: LLM_API=DISABLED")


def start_llm() -> str:
    """Start the configured LLM when it runs on this machine; one line saying what answers."""
    try:
        service = get_service()
    except ValueError as exc:  # LLM_API and friends: say what to set, not a traceback
        from cli.output import CommandError

        raise CommandError(str(exc)) from None
    llm = service.pipeline.services.llm
    start = getattr(llm, "start", None)
    if callable(start):
        try:
            start(service.settings())
        except LLMError as exc:
            print(f"warning: {exc}; answering without an LLM until it is fixed", file=sys.stderr,
                  flush=True)
            return f"{llm.name}, not running ({LLM_HINT})"
    return f"{describe_llm(llm)} ({LLM_HINT})" if not llm.enabled else describe_llm(llm)
