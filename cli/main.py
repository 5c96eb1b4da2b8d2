"""The ``qnabot`` command line: parse, call the service, format.

Each command module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
sub-commands and binds each to a handler with ``parser.set_defaults(func=handler)``; a handler
takes the parsed ``argparse.Namespace`` and returns the exit status. A module that is not
installed yet is skipped, so the CLI works while the project grows.

User errors (unreadable files, unknown settings, a misconfigured backend, an index made by
another model, ...) are printed as ``qnabot: error: <message>`` on stderr with exit status 2,
never as a traceback.

Example:
    >>> main(["settings", "get", "ES_NO_HITS_QUESTION"])  # doctest: +SKIP
    no_hits
    0
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from cli.output import CommandError
from knowledge.backends import ConfigurationError
from knowledge.embeddings.base import EmbeddingsError
from knowledge.evaluation import EvalFileError
from knowledge.importer import ImportFileError
from knowledge.settings import SettingError, SettingsUnavailableError
from knowledge.store import DimensionMismatchError, StoreError

#: The command modules, in the order their commands are listed in ``qnabot --help``.
COMMAND_MODULES = (
    "cli.knowledge_commands",
    "cli.chat_commands",
    "cli.server_commands",
    "cli.eval_commands",
    "cli.tune_commands",
    "cli.bot_commands",
)

#: Errors a user can act on; their messages say what was wrong and what to do.
USER_ERRORS = (
    CommandError,
    ImportFileError,
    SettingError,
    SettingsUnavailableError,
    ConfigurationError,
    DimensionMismatchError,
    StoreError,
    EmbeddingsError,
    EvalFileError,
    OSError,
)

#: Exit status of a user error (the same as argparse's usage errors).
EXIT_USER_ERROR = 2


def command_modules() -> list[ModuleType]:
    """The command modules that are installed (a missing one is skipped, other errors raise)."""
    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise  # the module exists but one of its own imports is missing
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The ``qnabot`` argument parser with every installed command."""
    parser = argparse.ArgumentParser(
        prog="qnabot",
        description="QnABot knowledge base and chatbot. Data lives in $QNABOT_HOME "
                    "(default ./.qnabot).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``qnabot`` command and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    handler = getattr(args, "func", None)
    if handler is None:  # a command module that bound no handler: show what exists
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    try:
        return int(handler(args) or 0)
    except BrokenPipeError:
        # The reader went away (`qnabot export - | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as exc:
        print(f"qnabot: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("qnabot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
