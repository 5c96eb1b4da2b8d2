"""Build the Lex bot from the knowledge base: the one entry point for the CLI, the content
designer (``POST /bot``) and the deploy-time custom resource.

Example:
    >>> result = build_bot(store.iter_items(), locales="en_US", dry_run=True)  # doctest: +SKIP
    >>> result["definition"]["locales"][0]["intents"]["QnaIntent"]  # doctest: +SKIP
    1
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

from bot.definition import build_definition, parse_locales
from knowledge.items import Item

#: Where the deployed stack passes its locales (the ``LexV2BotLocaleIds`` parameter).
LOCALES_VARIABLE = "LEXV2_BOT_LOCALE_IDS"
#: Set on the content-designer function: builds run there, in the bot-build function, because
#: a build takes minutes and API Gateway answers within 29 seconds.
BUILD_FUNCTION_VARIABLE = "BOT_BUILD_FUNCTION"


def configured_locales(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The locales in ``LEXV2_BOT_LOCALE_IDS`` (comma-separated), default ``en_US``."""
    env = os.environ if environ is None else environ
    return parse_locales(env.get(LOCALES_VARIABLE, ""))


def build_bot(items: Iterable[Item], *, locales: str | Sequence[str] | None = None,
              dry_run: bool = False, builder: Any = None) -> dict[str, Any]:
    """Check the bot definition for ``items`` and, unless ``dry_run``, apply it to Lex.

    Raises :class:`bot.definition.BotDefinitionError` before any AWS call when the items cannot
    make a valid bot, and :class:`bot.builder.BotBuildError` when Lex fails a step. With
    ``BOT_BUILD_FUNCTION`` set (the content designer in AWS) and no ``builder``, the checked
    build is handed to that function and ``result["bot"]`` says it started.
    """
    chosen = parse_locales(locales) if locales else configured_locales()
    function = os.environ.get(BUILD_FUNCTION_VARIABLE, "")
    translate = None
    if not dry_run and not (builder is None and function) and \
            any(not locale.startswith("en_") for locale in chosen):
        # Other languages are trained on translated questions (Amazon Translate), as in QnABot.
        from bot.translation import AmazonUtteranceTranslator

        translate = AmazonUtteranceTranslator()
    definition = build_definition(items, chosen, translate=translate)
    result: dict[str, Any] = {"definition": definition.summary(), "dryRun": dry_run}
    if not dry_run and builder is None and function:
        result["bot"] = start_build_in(function, chosen)
    elif not dry_run:
        if builder is None:
            from bot.builder import LexBotBuilder

            builder = LexBotBuilder.from_environment()
        result["bot"] = builder.apply(definition).to_json()
    return result


def start_build_in(function: str, locales: Sequence[str], client: Any = None) -> dict[str, Any]:
    """Invoke the bot-build function asynchronously; the build shows in the Lex console."""
    if client is None:
        import boto3

        client = boto3.client("lambda")
    payload = json.dumps({"action": "build", "locales": list(locales)}).encode()
    client.invoke(FunctionName=function, InvocationType="Event", Payload=payload)
    return {"status": "started", "function": function, "locales": list(locales)}
