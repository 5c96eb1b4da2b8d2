"""``qnabot bot build``: build the Lex V2 bot from the knowledge base.

Example::

    $ qnabot bot build --dry-run                 # check the definition, no AWS call
    $ qnabot bot build --locales en_US,fr_CA     # needs LEX_BOT_NAME, LEX_BOT_ROLE_ARN,
                                                 # FULFILLMENT_LAMBDA_ARN and AWS credentials
"""

from __future__ import annotations

import argparse
from typing import Any

from cli.output import CommandError, print_json
from knowledge.backends import open_store
from knowledge.home import qnabot_home


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``qnabot bot build`` to ``qnabot``."""
    bot = subparsers.add_parser("bot", help="build the Amazon Lex V2 bot from the knowledge base",
                                description="Amazon Lex V2 bot commands.")
    commands = bot.add_subparsers(dest="bot_command", metavar="COMMAND", required=True)
    build = commands.add_parser(
        "build", help="create or update the Lex bot, build it and publish the live alias",
        description="Build the Lex V2 bot from the items in the knowledge base: QnaIntent with "
                    "every question as a slot value, FallbackIntent, and a QID-INTENT for each "
                    "item with enableQidIntent; then publish a version as the 'live' alias.")
    build.add_argument("--locales", default="", metavar="IDS",
                       help="comma-separated Lex locale ids (default $LEXV2_BOT_LOCALE_IDS or "
                            "en_US)")
    build.add_argument("--dry-run", action="store_true",
                       help="check the definition and print it without calling AWS")
    build.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    """``qnabot bot build``: print what was (or would be) built as JSON."""
    from bot.builder import BotBuildError
    from bot.definition import BotDefinitionError
    from bot.service import build_bot

    store = open_store(qnabot_home())
    try:
        result: dict[str, Any] = build_bot(store.iter_items(), locales=args.locales or None,
                                           dry_run=args.dry_run)
    except (BotDefinitionError, BotBuildError) as exc:
        raise CommandError(str(exc)) from exc
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()
    print_json(result)
    return 0
