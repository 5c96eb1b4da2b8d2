"""``qnabot ask`` and ``qnabot chat``: talk to the bot through the fulfillment Lambda handler.

Both build the Lex V2 event Lex would send and call the same handler Lex calls, so what you
see here is what a Lex user gets. A conversation's session attributes (topic, previous qid)
are kept in ``QNABOT_HOME/cli_sessions.json`` per ``--session`` id, so ``qnabot ask`` calls
with the same ``--session`` continue one conversation, as turns of a Lex session do.

Example:
    $ qnabot ask "What is an Amazon Echo Show" --session demo
    Echo Show brings you everything you love about Alexa, ...
    $ qnabot ask "How much does it cost?" --session demo --json
    {"answer": "For latest prices on the Echo Show, ...", "qid": "Alexa.Cost", ...}
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from cli.output import CommandError, print_json

SESSIONS_FILE = "cli_sessions.json"
#: Sessions remembered in the sessions file (oldest forgotten first).
MAX_SAVED_SESSIONS = 200


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ask`` and ``chat`` to ``qnabot``."""
    ask = subparsers.add_parser(
        "ask", help="ask the bot one question (through the Lex fulfillment handler)",
        description="Ask one question as Amazon Lex would send it and print the answer. Use "
                    "the same --session to continue a conversation across calls.")
    ask.add_argument("question", help="what the user says")
    _common_options(ask)
    ask.add_argument("--json", action="store_true",
                     help="print the answer, markdown, SSML, qid, source, score, topic, "
                          "citations, got_hits and debug details as JSON")
    ask.set_defaults(func=run_ask)

    chat = subparsers.add_parser(
        "chat", help="chat with the bot in the terminal (one question per line)",
        description="An interactive chat: each line read from standard input is a question; "
                    "the conversation keeps its topic and history. End with Ctrl-D or /quit.")
    _common_options(chat)
    chat.set_defaults(func=run_chat)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--session", metavar="ID",
                        help="conversation id; reuse it to continue a conversation "
                             "(default: a new conversation)")
    parser.add_argument("--channel", choices=("text", "voice"), default="text",
                        help="voice asks for SSML, as Amazon Connect does (default: text)")
    parser.add_argument("--verbose", action="store_true",
                        help="print the turn log records on stderr")


# --- session attributes between invocations -------------------------------------------------


def _sessions_path() -> Path:
    from knowledge.home import qnabot_home

    return qnabot_home() / SESSIONS_FILE


def load_session(session_id: str) -> dict[str, str]:
    """The session attributes saved for ``session_id`` (empty for a new conversation)."""
    try:
        saved = json.loads(_sessions_path().read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    attributes = saved.get(session_id) if isinstance(saved, dict) else None
    return {k: v for k, v in (attributes or {}).items() if isinstance(v, str)}


def save_session(session_id: str, attributes: dict[str, str]) -> None:
    """Remember the session attributes of ``session_id`` (atomic write)."""
    path = _sessions_path()
    try:
        saved = json.loads(path.read_text("utf-8"))
        saved = saved if isinstance(saved, dict) else {}
    except (OSError, ValueError):
        saved = {}
    saved.pop(session_id, None)
    saved[session_id] = attributes
    saved = dict(list(saved.items())[-MAX_SAVED_SESSIONS:])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sessions-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(saved, handle, ensure_ascii=False)
    os.replace(tmp, path)


# --- the handler -----------------------------------------------------------------------------


@contextmanager
def turn_logs_to_stderr(verbose: bool) -> Iterator[None]:
    """While a command runs, turn log records go to stderr (only with --verbose), never into
    the printed answer; the handler's logger is restored afterwards."""
    from fulfillment.handler import logger

    streams = [(h, h.stream) for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    level = logger.level
    for handler, _ in streams:
        handler.stream = sys.stderr  # not setStream: the old stream may be closed
    logger.setLevel(logging.INFO if verbose else logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        for handler, stream in streams:
            handler.stream = stream


def ask_once(question: str, session_id: str, channel: str,
             attributes: dict[str, str]) -> tuple[dict[str, Any], Any]:
    """Send one question through the handler; the Lex response and the turn result."""
    from fulfillment.handler import handle_event
    from fulfillment.lex_event import make_event

    outcome = handle_event(make_event(question, session_id=session_id, channel=channel,
                                      session_attributes=attributes))
    return outcome.response, outcome.turn


def _text_of(response: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in response.get("messages", [])
                     if m.get("contentType") in ("PlainText", "SSML"))


def print_answer(response: dict[str, Any], turn: Any, out: TextIO) -> None:
    """The answer as a person reads it: text, card buttons, sources."""
    print(_text_of(response), file=out)
    card = turn.answer.card if turn is not None else None
    if card is not None and card.buttons:
        print("  options (type the number or the text):", file=out)
        for number, button in enumerate(card.buttons, 1):
            print(f"    {number}. {button.text}" + (f" ({button.value})"
                                                    if button.value != button.text else ""),
                  file=out)
    if turn is not None and turn.answer.citations:
        for citation in turn.answer.citations:
            print(f"  source: {citation.title}" + (f" <{citation.url}>" if citation.url else ""),
                  file=out)


def turn_json(response: dict[str, Any], turn: Any, session_id: str) -> dict[str, Any]:
    """What ``ask --json`` prints."""
    data = turn.to_json() if turn is not None else {"answer": _text_of(response)}
    data["session"] = session_id
    data["messages"] = response.get("messages", [])
    return data


def run_ask(args: argparse.Namespace) -> int:
    """``qnabot ask``."""
    if not args.question.strip():
        raise CommandError("the question is empty; say what to ask, e.g. "
                           'qnabot ask "What is an Amazon Echo Show"')
    with turn_logs_to_stderr(args.verbose):
        return _ask(args)


def _ask(args: argparse.Namespace) -> int:
    session_id = args.session or f"cli-{uuid.uuid4().hex[:12]}"
    attributes = load_session(session_id) if args.session else {}
    response, turn = ask_once(args.question, session_id, args.channel, attributes)
    if args.session:
        save_session(session_id, response["sessionState"]["sessionAttributes"])
    if args.json:
        print_json(turn_json(response, turn, session_id))
    else:
        print_answer(response, turn, sys.stdout)
    return 0


def chosen_button(line: str, turn: Any) -> str:
    """What to ask for a typed line: a button's value when the line is its number.

    >>> from types import SimpleNamespace as NS
    >>> last = NS(answer=NS(card=NS(buttons=[NS(text="Yes", value="yes please")])))
    >>> chosen_button("1", last), chosen_button("2", last), chosen_button("hi", None)
    ('yes please', '2', 'hi')
    """
    card = turn.answer.card if turn is not None else None
    if card is not None and line.isdigit() and 1 <= int(line) <= len(card.buttons):
        return card.buttons[int(line) - 1].value
    return line


def run_chat(args: argparse.Namespace) -> int:
    """``qnabot chat``: read questions from stdin until end of file or ``/quit``."""
    with turn_logs_to_stderr(args.verbose):
        return _chat(args)


def _chat(args: argparse.Namespace) -> int:
    session_id = args.session or f"chat-{uuid.uuid4().hex[:12]}"
    attributes = load_session(session_id) if args.session else {}
    interactive = sys.stdin.isatty()
    turn = None
    if interactive:
        from fulfillment.handler import warm_up

        print("QnABot chat. Ask a question; /quit or Ctrl-D to leave.", file=sys.stderr)
        warm_up()
    while True:
        if interactive:
            print("you> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line or line.strip() in ("/quit", "/exit"):
            break
        if not line.strip():
            continue
        question = chosen_button(line.strip(), turn)
        if interactive and question != line.strip():
            print(f"you> {question}", file=sys.stderr)
        response, turn = ask_once(question, session_id, args.channel, attributes)
        attributes = dict(response["sessionState"]["sessionAttributes"])
        if interactive:
            print("bot> ", end="", flush=True)
        print_answer(response, turn, sys.stdout)
        sys.stdout.flush()
    if args.session:
        save_session(session_id, attributes)
    return 0
