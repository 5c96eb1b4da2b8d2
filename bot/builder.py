"""Apply a :class:`~bot.definition.BotDefinition` to Amazon Lex V2 (the ``lexv2-models`` API).

:meth:`LexBotBuilder.apply` is idempotent: run it after every import and it converges the bot
to the knowledge base.

1. find the bot by name, or create it (and wait until it is ``Available``);
2. per locale: create or update the locale (voice), the ``QnaSlotType`` values, the
   ``QID-SLOTTYPE-*`` slot types of ``slottype`` items, ``QnaIntent`` and its ``qnaslot`` slot,
   the ``FallbackIntent`` code hook, the ``QID-INTENT-*`` intents with their slots (deleting
   intents, slots and slot types whose item is gone), then build the locale and wait for
   ``Built``;
3. create a bot version from the draft, point the ``live`` alias at it with the fulfillment
   Lambda as each locale's code hook, and delete the versions no alias uses any more.

Every wait polls with an injectable ``sleep`` and gives up after ``timeout`` seconds with a
:class:`BotBuildError` that says where it stopped.

Example:
    >>> builder = LexBotBuilder.from_environment()  # doctest: +SKIP
    >>> builder.apply(build_definition(items, ["en_US"])).alias_id  # doctest: +SKIP
    'TSTALIASID'
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.definition import (
    BUILTIN_SLOT_TYPE_PREFIX,
    QID_INTENT_PREFIX,
    QID_SLOTTYPE_PREFIX,
    QNA_INTENT,
    QNA_SLOT,
    QNA_SLOT_TYPE,
    BotDefinition,
    IntentDefinition,
    LocaleDefinition,
    SlotDefinition,
    SlotTypeDefinition,
)

DRAFT = "DRAFT"
LIVE_ALIAS = "live"
IDLE_SESSION_SECONDS = 300
FAILED = {"Failed", "Deleting", "Inactive"}


class BotBuildError(RuntimeError):
    """Lex refused or failed a step; the message names the step and Lex's reasons."""


@dataclass(frozen=True)
class BuildResult:
    """What :meth:`LexBotBuilder.apply` made."""

    bot_id: str
    bot_version: str
    alias_id: str
    locales: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"botId": self.bot_id, "botVersion": self.bot_version,
                "botAliasId": self.alias_id, "botAliasName": LIVE_ALIAS,
                "locales": list(self.locales)}


class LexBotBuilder:
    """Creates, updates, builds and publishes one Lex V2 bot."""

    def __init__(self, client: Any, *, bot_name: str, role_arn: str, fulfillment_arn: str,
                 timeout: float = 600.0, poll_seconds: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.bot_name = bot_name
        self.role_arn = role_arn
        self.fulfillment_arn = fulfillment_arn
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None,
                         client: Any = None) -> LexBotBuilder:
        """From ``LEX_BOT_NAME``, ``LEX_BOT_ROLE_ARN`` and ``FULFILLMENT_LAMBDA_ARN`` (set by the
        template), with a ``lexv2-models`` client for ``AWS_REGION``."""
        env = os.environ if environ is None else environ
        missing = [name for name in ("LEX_BOT_NAME", "LEX_BOT_ROLE_ARN", "FULFILLMENT_LAMBDA_ARN")
                   if not env.get(name)]
        if missing:
            raise BotBuildError(f"set {', '.join(missing)} to build the Lex bot (the stack's "
                                "bot-build Lambda has them)")
        if client is None:
            import boto3

            client = boto3.client("lexv2-models")
        return cls(client, bot_name=env["LEX_BOT_NAME"], role_arn=env["LEX_BOT_ROLE_ARN"],
                   fulfillment_arn=env["FULFILLMENT_LAMBDA_ARN"])

    # --- the whole build -----------------------------------------------------------------------

    def apply(self, definition: BotDefinition) -> BuildResult:
        """Converge the bot to ``definition``, build it, and publish it as the ``live`` alias."""
        bot_id = self._ensure_bot()
        for locale in definition.locales:
            self._ensure_locale(bot_id, locale)
        for locale in definition.locales:
            self._build_locale(bot_id, locale.locale_id)
        version = self._create_version(bot_id, definition)
        alias_id = self._point_alias(bot_id, version, definition)
        self._delete_unused_versions(bot_id, keep=version)
        return BuildResult(bot_id, version, alias_id,
                           tuple(locale.locale_id for locale in definition.locales))

    def delete(self) -> bool:
        """Delete the bot (stack deletion); False when there was none."""
        bot_id = self._find_bot()
        if bot_id is None:
            return False
        self._call("delete the bot", self.client.delete_bot, botId=bot_id,
                   skipResourceInUseCheck=True)
        return True

    # --- bot and locales -----------------------------------------------------------------------

    def _find_bot(self) -> str | None:
        reply = self._call("find the bot", self.client.list_bots, filters=[
            {"name": "BotName", "values": [self.bot_name], "operator": "EQ"}])
        for summary in reply.get("botSummaries", ()):
            if summary["botName"] == self.bot_name:
                return summary["botId"]
        return None

    def _ensure_bot(self) -> str:
        bot_id = self._find_bot()
        if bot_id is None:
            bot_id = self._call("create the bot", self.client.create_bot,
                                botName=self.bot_name, roleArn=self.role_arn,
                                dataPrivacy={"childDirected": False},
                                idleSessionTTLInSeconds=IDLE_SESSION_SECONDS,
                                description="QnABot: answers questions from the knowledge base")[
                "botId"]
        self._wait(f'bot "{self.bot_name}"', lambda: self.client.describe_bot(botId=bot_id),
                   "botStatus", done={"Available"})
        return bot_id

    def _ensure_locale(self, bot_id: str, locale: LocaleDefinition) -> None:
        where = {"botId": bot_id, "botVersion": DRAFT, "localeId": locale.locale_id}
        settings = {**where, "nluIntentConfidenceThreshold": locale.nlu_confidence_threshold,
                    "voiceSettings": {"voiceId": locale.voice_id, "engine": locale.voice_engine}}
        try:
            self.client.describe_bot_locale(**where)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise self._error(f"read locale {locale.locale_id}", exc) from exc
            self._call(f"create locale {locale.locale_id}", self.client.create_bot_locale,
                       **settings)
        else:
            self._call(f"update locale {locale.locale_id}", self.client.update_bot_locale,
                       **settings)
        self._wait(f"locale {locale.locale_id}",
                   lambda: self.client.describe_bot_locale(**where), "botLocaleStatus",
                   done={"NotBuilt", "Built", "ReadyExpressTesting"})

        slot_type_id = self._ensure_slot_type(where, locale.slot_values)
        type_ids = {slot_type.name: self._ensure_qid_slot_type(where, slot_type)
                    for slot_type in locale.slot_types}
        existing = self._intents(where)
        for intent in locale.intents:
            self._ensure_intent(where, intent, existing.get(intent.name), slot_type_id,
                                type_ids)
        wanted = {intent.name for intent in locale.intents}
        for name, intent_id in sorted(existing.items()):
            if name.startswith(QID_INTENT_PREFIX) and name not in wanted:
                self._call(f"delete intent {name}", self.client.delete_intent,
                           intentId=intent_id, **where)
        self._delete_stale_slot_types(where, set(type_ids))

    def _ensure_slot_type(self, where: dict[str, str], values: tuple[str, ...]) -> str:
        reply = self._call("list slot types", self.client.list_slot_types, **where, filters=[
            {"name": "SlotTypeName", "values": [QNA_SLOT_TYPE], "operator": "EQ"}])
        found = [s["slotTypeId"] for s in reply.get("slotTypeSummaries", ())
                 if s["slotTypeName"] == QNA_SLOT_TYPE]
        body = {**where, "slotTypeName": QNA_SLOT_TYPE,
                "slotTypeValues": [{"sampleValue": {"value": value}} for value in values],
                "valueSelectionSetting": {"resolutionStrategy": "OriginalValue"}}
        if found:
            self._call("update the question slot type", self.client.update_slot_type,
                       slotTypeId=found[0], **body)
            return found[0]
        return self._call("create the question slot type", self.client.create_slot_type,
                          **body)["slotTypeId"]

    def _slot_types(self, where: dict[str, str], name: str, operator: str) -> dict[str, str]:
        """Slot types of the draft locale whose name equals (EQ) or contains (CO) ``name``."""
        reply = self._call("list slot types", self.client.list_slot_types, **where, filters=[
            {"name": "SlotTypeName", "values": [name], "operator": operator}])
        return {s["slotTypeName"]: s["slotTypeId"] for s in reply.get("slotTypeSummaries", ())}

    def _ensure_qid_slot_type(self, where: dict[str, str], slot_type: SlotTypeDefinition) -> str:
        """Create or update the slot type of a ``slottype`` item; returns its id."""
        values = []
        for value in slot_type.values:
            entry: dict[str, Any] = {"sampleValue": {"value": value.value}}
            if value.synonyms:
                entry["synonyms"] = [{"value": synonym} for synonym in value.synonyms]
            values.append(entry)
        body = {**where, "slotTypeName": slot_type.name, "description": slot_type.description,
                "slotTypeValues": values,
                "valueSelectionSetting": {"resolutionStrategy": slot_type.resolution_strategy}}
        found = self._slot_types(where, slot_type.name, "EQ").get(slot_type.name)
        if found:
            self._call(f"update slot type {slot_type.name}", self.client.update_slot_type,
                       slotTypeId=found, **body)
            return found
        return self._call(f"create slot type {slot_type.name}", self.client.create_slot_type,
                          **body)["slotTypeId"]

    def _delete_stale_slot_types(self, where: dict[str, str], wanted: set[str]) -> None:
        """Delete the ``QID-SLOTTYPE-*`` types whose item is gone (after the intents, which no
        longer use them)."""
        for name, type_id in sorted(self._slot_types(where, QID_SLOTTYPE_PREFIX, "CO").items()):
            if name.startswith(QID_SLOTTYPE_PREFIX) and name not in wanted:
                self._call(f"delete slot type {name}", self.client.delete_slot_type,
                           slotTypeId=type_id, **where)

    def _intents(self, where: dict[str, str]) -> dict[str, str]:
        """Every intent of the draft locale, name -> id."""
        intents: dict[str, str] = {}
        token = None
        while True:
            page = self._call("list intents", self.client.list_intents, **where,
                              maxResults=1000, **({"nextToken": token} if token else {}))
            intents.update({s["intentName"]: s["intentId"] for s in page["intentSummaries"]})
            token = page.get("nextToken")
            if not token:
                return intents

    def _ensure_intent(self, where: dict[str, str], intent: IntentDefinition,
                       intent_id: str | None, slot_type_id: str,
                       type_ids: dict[str, str] | None = None) -> None:
        body: dict[str, Any] = {**where, "intentName": intent.name,
                                "fulfillmentCodeHook": {"enabled": True}}
        if intent.parent_signature:
            body["parentIntentSignature"] = intent.parent_signature
        if intent.dialog_code_hook:
            body["dialogCodeHook"] = {"enabled": True}
        if intent.qid:
            body["description"] = f"Answers item {intent.qid}"
        utterances = [{"utterance": u} for u in intent.utterances]
        if intent_id is None:
            # The QnA intent's utterance names its slot, which can only be added afterwards.
            first = body if intent.has_slot else {**body, "sampleUtterances": utterances}
            intent_id = self._call(f"create intent {intent.name}", self.client.create_intent,
                                   **first)["intentId"]
            if not intent.has_slot:
                return
        elif intent.qid:
            # Slots the item no longer has go first (an utterance may not name a lost slot).
            self._converge_slots(where, intent, intent_id, type_ids or {})
        update: dict[str, Any] = {**body, "intentId": intent_id}
        if utterances:
            update["sampleUtterances"] = utterances
        if intent.name == QNA_INTENT:
            slot_id = self._ensure_slot(where, intent_id, slot_type_id)
            update["slotPriorities"] = [{"priority": 1, "slotId": slot_id}]
        elif intent.slots:
            slot_ids = self._ensure_qid_slots(where, intent, intent_id, type_ids or {})
            update["slotPriorities"] = [{"priority": n, "slotId": slot_id}
                                        for n, slot_id in enumerate(slot_ids, start=1)]
        self._call(f"update intent {intent.name}", self.client.update_intent, **update)

    def _existing_slots(self, where: dict[str, str], intent_id: str) -> dict[str, str]:
        reply = self._call("list slots", self.client.list_slots, **where, intentId=intent_id)
        return {s["slotName"]: s["slotId"] for s in reply.get("slotSummaries", ())}

    def _converge_slots(self, where: dict[str, str], intent: IntentDefinition, intent_id: str,
                        type_ids: dict[str, str]) -> None:
        wanted = {slot.name for slot in intent.slots}
        for name, slot_id in sorted(self._existing_slots(where, intent_id).items()):
            if name not in wanted:
                self._call(f"delete slot {name} of {intent.name}", self.client.delete_slot,
                           slotId=slot_id, intentId=intent_id, **where)

    def _slot_type_id(self, where: dict[str, str], intent: IntentDefinition,
                      slot: SlotDefinition, type_ids: dict[str, str]) -> str:
        if slot.slot_type.startswith(BUILTIN_SLOT_TYPE_PREFIX):
            return slot.slot_type
        if slot.slot_type in type_ids:
            return type_ids[slot.slot_type]
        found = self._slot_types(where, slot.slot_type, "EQ").get(slot.slot_type)
        if found is None:
            raise BotBuildError(
                f'slot type "{slot.slot_type}" of slot {slot.name} (qid "{intent.qid}") is not '
                "a built-in AMAZON.* type, a slottype item, or a custom slot type of the bot; "
                "import the slottype item or fix slotType")
        return found

    def _ensure_qid_slots(self, where: dict[str, str], intent: IntentDefinition, intent_id: str,
                          type_ids: dict[str, str]) -> list[str]:
        """Create or update the item's slots, in order; returns their ids."""
        existing = self._existing_slots(where, intent_id)
        ids = []
        for slot in intent.slots:
            setting: dict[str, Any] = {
                "slotConstraint": "Required" if slot.required else "Optional",
                "promptSpecification": {"messageGroups": [{"message": {
                    "plainTextMessage": {"value": slot.prompt}}}], "maxRetries": 4},
            }
            if slot.sample_utterances:
                setting["sampleUtterances"] = [{"utterance": u} for u in slot.sample_utterances]
            body = {**where, "intentId": intent_id, "slotName": slot.name,
                    "slotTypeId": self._slot_type_id(where, intent, slot, type_ids),
                    "valueElicitationSetting": setting}
            if slot.name in existing:
                self._call(f"update slot {slot.name} of {intent.name}", self.client.update_slot,
                           slotId=existing[slot.name], **body)
                ids.append(existing[slot.name])
            else:
                ids.append(self._call(f"create slot {slot.name} of {intent.name}",
                                      self.client.create_slot, **body)["slotId"])
        return ids

    def _ensure_slot(self, where: dict[str, str], intent_id: str, slot_type_id: str) -> str:
        reply = self._call("list slots", self.client.list_slots, **where, intentId=intent_id)
        found = [s["slotId"] for s in reply.get("slotSummaries", ()) if s["slotName"] == QNA_SLOT]
        body = {**where, "intentId": intent_id, "slotName": QNA_SLOT, "slotTypeId": slot_type_id,
                "valueElicitationSetting": {"slotConstraint": "Optional"}}
        if found:
            self._call("update the question slot", self.client.update_slot, slotId=found[0],
                       **body)
            return found[0]
        return self._call("create the question slot", self.client.create_slot, **body)["slotId"]

    # --- build, version, alias -----------------------------------------------------------------

    def _build_locale(self, bot_id: str, locale_id: str) -> None:
        where = {"botId": bot_id, "botVersion": DRAFT, "localeId": locale_id}
        self._call(f"build locale {locale_id}", self.client.build_bot_locale, **where)
        self._wait(f"the build of locale {locale_id}",
                   lambda: self.client.describe_bot_locale(**where), "botLocaleStatus",
                   done={"Built"})

    def _create_version(self, bot_id: str, definition: BotDefinition) -> str:
        version = self._call("create a bot version", self.client.create_bot_version,
                             botId=bot_id, botVersionLocaleSpecification={
                                 locale.locale_id: {"sourceBotVersion": DRAFT}
                                 for locale in definition.locales})["botVersion"]
        self._wait(f"bot version {version}",
                   lambda: self.client.describe_bot_version(botId=bot_id, botVersion=version),
                   "botStatus", done={"Available"})
        return version

    def _point_alias(self, bot_id: str, version: str, definition: BotDefinition) -> str:
        hook = {"lambdaCodeHook": {"lambdaARN": self.fulfillment_arn,
                                   "codeHookInterfaceVersion": "1.0"}}
        body = {"botId": bot_id, "botAliasName": LIVE_ALIAS, "botVersion": version,
                "botAliasLocaleSettings": {locale.locale_id: {"enabled": True,
                                                               "codeHookSpecification": hook}
                                           for locale in definition.locales}}
        aliases = self._call("list aliases", self.client.list_bot_aliases, botId=bot_id)
        found = [a["botAliasId"] for a in aliases.get("botAliasSummaries", ())
                 if a["botAliasName"] == LIVE_ALIAS]
        if found:
            alias_id = found[0]
            self._call("update the live alias", self.client.update_bot_alias,
                       botAliasId=alias_id, **body)
        else:
            alias_id = self._call("create the live alias", self.client.create_bot_alias,
                                  **body)["botAliasId"]
        self._wait("the live alias",
                   lambda: self.client.describe_bot_alias(botId=bot_id, botAliasId=alias_id),
                   "botAliasStatus", done={"Available"})
        return alias_id

    def _delete_unused_versions(self, bot_id: str, keep: str) -> None:
        aliases = self._call("list aliases", self.client.list_bot_aliases, botId=bot_id)
        in_use = {a.get("botVersion") for a in aliases.get("botAliasSummaries", ())} | {keep}
        versions = self._call("list versions", self.client.list_bot_versions, botId=bot_id)
        for summary in versions.get("botVersionSummaries", ()):
            version = summary["botVersion"]
            if version != DRAFT and version not in in_use:
                self._call(f"delete old version {version}", self.client.delete_bot_version,
                           botId=bot_id, botVersion=version, skipResourceInUseCheck=False)

    # --- plumbing ------------------------------------------------------------------------------

    def _wait(self, what: str, describe: Callable[[], dict[str, Any]], status_key: str,
              done: set[str]) -> dict[str, Any]:
        deadline = self._clock() + self.timeout
        while True:
            reply = self._call(f"check {what}", describe)
            status = reply.get(status_key, "")
            if status in done:
                return reply
            if status in FAILED:
                reasons = "; ".join(reply.get("failureReasons") or ()) or "no reason given"
                raise BotBuildError(f"{what} is {status}: {reasons}")
            if self._clock() >= deadline:
                raise BotBuildError(f"gave up waiting for {what} after {self.timeout:.0f} s "
                                    f"(still {status}); run the build again to resume")
            self._sleep(self.poll_seconds)

    def _call(self, what: str, operation: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(what, exc) from exc

    @staticmethod
    def _error(what: str, exc: Exception) -> BotBuildError:
        hint = ""
        if isinstance(exc, ClientError):
            code = exc.response["Error"]["Code"]
            hint = {
                "AccessDeniedException": " Grant the bot-build role the lex:* actions on this "
                                         "bot (see infra/template.yaml).",
                "PreconditionFailedException": " Another build may be running; try again in a "
                                               "minute.",
                "ConflictException": " Another build may be running; try again in a minute.",
            }.get(code, "")
        return BotBuildError(f"Lex could not {what}: {exc}.{hint}")
