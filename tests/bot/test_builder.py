"""Applying the bot definition to Lex V2, request by request (botocore Stubber: moto does not
implement these calls). Each test lists the exact calls Lex must receive, in order."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from bot import custom_resource
from bot.builder import BotBuildError, LexBotBuilder
from bot.definition import BotDefinitionError, build_definition
from bot.service import build_bot
from knowledge.items import parse_item

ROLE = "arn:aws:iam::123456789012:role/qnabot-lex"
FULFILLMENT = "arn:aws:lambda:us-east-1:123456789012:function:qnabot-fulfillment"
BOT = "BOTID12345"
WHERE = {"botId": BOT, "botVersion": "DRAFT", "localeId": "en_US"}
LOCALE_SETTINGS = {**WHERE, "nluIntentConfidenceThreshold": 0.4,
                   "voiceSettings": {"voiceId": "Joanna", "engine": "neural"}}
HOOK = {"lambdaCodeHook": {"lambdaARN": FULFILLMENT, "codeHookInterfaceVersion": "1.0"}}


def items():
    return [parse_item({"qid": "Alexa.001", "q": ["What is Alexa?"], "a": "A voice service.",
                        "enableQidIntent": True}),
            parse_item({"qid": "Hours.1", "q": ["When are you open?"], "a": "9 to 5."})]


class Lex:
    """A stubbed lexv2-models client and a builder whose waits are recorded, not slept."""

    def __init__(self):
        self.client = boto3.client("lexv2-models", region_name="us-east-1")
        self.stub = Stubber(self.client)
        self.sleeps: list[float] = []
        self.now = 0.0
        self.builder = LexBotBuilder(self.client, bot_name="qnabot-test", role_arn=ROLE,
                                     fulfillment_arn=FULFILLMENT, timeout=60, poll_seconds=5,
                                     sleep=self._sleep, clock=lambda: self.now)

    def _sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def expect(self, operation, params, reply=None):
        self.stub.add_response(operation, reply or {}, params)

    def refuse(self, operation, params, code, message="refused"):
        self.stub.add_client_error(operation, service_error_code=code, service_message=message,
                                   http_status_code=400, expected_params=params)


@pytest.fixture
def lex():
    lex = Lex()
    with lex.stub:
        yield lex
        lex.stub.assert_no_pending_responses()


def expect_intent_updates(lex):
    """QnaIntent gets its utterance and slot; FallbackIntent goes to the fulfillment Lambda."""
    lex.expect("update_intent", {**WHERE, "intentName": "QnaIntent", "intentId": "QNAINTENT1",
                                 "fulfillmentCodeHook": {"enabled": True},
                                 "sampleUtterances": [{"utterance": "{qnaslot}"}],
                                 "slotPriorities": [{"priority": 1, "slotId": "QNASLOT001"}]})
    lex.expect("update_intent", {**WHERE, "intentName": "FallbackIntent",
                                 "intentId": "FALLBCKINT",
                                 "fulfillmentCodeHook": {"enabled": True},
                                 "parentIntentSignature": "AMAZON.FallbackIntent"})


def expect_stale_slot_types(lex, found=()):
    """The QID-SLOTTYPE-* types are listed after the intents, and those not wanted deleted."""
    lex.expect("list_slot_types", {**WHERE, "filters": [
        {"name": "SlotTypeName", "values": ["QID-SLOTTYPE-"], "operator": "CO"}]},
        {"slotTypeSummaries": [{"slotTypeId": type_id, "slotTypeName": name}
                               for name, type_id in found]})


def expect_publish(lex, *, aliases, old_versions=()):
    lex.expect("build_bot_locale", WHERE)
    lex.expect("describe_bot_locale", WHERE, {"botLocaleStatus": "Building"})
    lex.expect("describe_bot_locale", WHERE, {"botLocaleStatus": "Built"})
    lex.expect("create_bot_version", {"botId": BOT, "botVersionLocaleSpecification": {
        "en_US": {"sourceBotVersion": "DRAFT"}}}, {"botVersion": "2"})
    lex.expect("describe_bot_version", {"botId": BOT, "botVersion": "2"},
               {"botStatus": "Available"})
    alias = {"botId": BOT, "botAliasName": "live", "botVersion": "2",
             "botAliasLocaleSettings": {"en_US": {"enabled": True,
                                                  "codeHookSpecification": HOOK}}}
    lex.expect("list_bot_aliases", {"botId": BOT}, {"botAliasSummaries": aliases})
    if any(a["botAliasName"] == "live" for a in aliases):
        lex.expect("update_bot_alias", {**alias, "botAliasId": "LIVEALIAS1"})
    else:
        lex.expect("create_bot_alias", alias, {"botAliasId": "LIVEALIAS1"})
    lex.expect("describe_bot_alias", {"botId": BOT, "botAliasId": "LIVEALIAS1"},
               {"botAliasStatus": "Available"})
    lex.expect("list_bot_aliases", {"botId": BOT}, {"botAliasSummaries": [
        {"botAliasId": "TSTALIASID", "botAliasName": "TestBotAlias", "botVersion": "DRAFT"},
        {"botAliasId": "LIVEALIAS1", "botAliasName": "live", "botVersion": "2"}]})
    lex.expect("list_bot_versions", {"botId": BOT}, {"botVersionSummaries": [
        {"botVersion": "2"}, *({"botVersion": v} for v in old_versions)]})
    for version in old_versions:
        lex.expect("delete_bot_version", {"botId": BOT, "botVersion": version,
                                          "skipResourceInUseCheck": False})


def test_a_first_build_creates_the_bot_locale_intents_version_and_live_alias(lex):
    lex.expect("list_bots", {"filters": [{"name": "BotName", "values": ["qnabot-test"],
                                          "operator": "EQ"}]}, {"botSummaries": []})
    lex.expect("create_bot", {"botName": "qnabot-test", "roleArn": ROLE,
                              "dataPrivacy": {"childDirected": False},
                              "idleSessionTTLInSeconds": 300,
                              "description": "QnABot: answers questions from the knowledge base"},
               {"botId": BOT, "botStatus": "Creating"})
    lex.expect("describe_bot", {"botId": BOT}, {"botStatus": "Creating"})
    lex.expect("describe_bot", {"botId": BOT}, {"botStatus": "Available"})
    lex.refuse("describe_bot_locale", WHERE, "ResourceNotFoundException")
    lex.expect("create_bot_locale", LOCALE_SETTINGS)
    lex.expect("describe_bot_locale", WHERE, {"botLocaleStatus": "NotBuilt"})
    lex.expect("list_slot_types", {**WHERE, "filters": [
        {"name": "SlotTypeName", "values": ["QnaSlotType"], "operator": "EQ"}]},
        {"slotTypeSummaries": []})
    lex.expect("create_slot_type", {**WHERE, "slotTypeName": "QnaSlotType", "slotTypeValues": [
        {"sampleValue": {"value": "What is Alexa"}},
        {"sampleValue": {"value": "When are you open"}}],
        "valueSelectionSetting": {"resolutionStrategy": "OriginalValue"}},
        {"slotTypeId": "SLOTTYPE01"})
    lex.expect("list_intents", {**WHERE, "maxResults": 1000}, {"intentSummaries": [
        {"intentId": "FALLBCKINT", "intentName": "FallbackIntent"}]})
    qna_intent = {**WHERE, "intentName": "QnaIntent", "fulfillmentCodeHook": {"enabled": True}}
    lex.expect("create_intent", qna_intent, {"intentId": "QNAINTENT1"})
    lex.expect("list_slots", {**WHERE, "intentId": "QNAINTENT1"}, {"slotSummaries": []})
    lex.expect("create_slot", {**WHERE, "intentId": "QNAINTENT1", "slotName": "qnaslot",
                               "slotTypeId": "SLOTTYPE01",
                               "valueElicitationSetting": {"slotConstraint": "Optional"}},
               {"slotId": "QNASLOT001"})
    expect_intent_updates(lex)
    lex.expect("create_intent", {**WHERE, "intentName": "QID-INTENT-Alexa_dot_001",
                                 "fulfillmentCodeHook": {"enabled": True},
                                 "description": "Answers item Alexa.001",
                                 "sampleUtterances": [{"utterance": "What is Alexa"}]},
               {"intentId": "QIDINTENT1"})
    expect_stale_slot_types(lex)
    expect_publish(lex, aliases=[{"botAliasId": "TSTALIASID", "botAliasName": "TestBotAlias",
                                  "botVersion": "DRAFT"}])

    result = lex.builder.apply(build_definition(items()))

    assert result.to_json() == {"botId": BOT, "botVersion": "2", "botAliasId": "LIVEALIAS1",
                                "botAliasName": "live", "locales": ["en_US"]}
    assert lex.sleeps == [5, 5]


def test_a_rebuild_updates_in_place_removes_stale_qid_intents_and_old_versions(lex):
    lex.expect("list_bots", {"filters": [{"name": "BotName", "values": ["qnabot-test"],
                                          "operator": "EQ"}]},
               {"botSummaries": [{"botId": BOT, "botName": "qnabot-test"}]})
    lex.expect("describe_bot", {"botId": BOT}, {"botStatus": "Available"})
    lex.expect("describe_bot_locale", WHERE, {"botLocaleStatus": "Built"})
    lex.expect("update_bot_locale", LOCALE_SETTINGS)
    lex.expect("describe_bot_locale", WHERE, {"botLocaleStatus": "NotBuilt"})
    lex.expect("list_slot_types", {**WHERE, "filters": [
        {"name": "SlotTypeName", "values": ["QnaSlotType"], "operator": "EQ"}]},
        {"slotTypeSummaries": [{"slotTypeId": "SLOTTYPE01", "slotTypeName": "QnaSlotType"}]})
    lex.expect("update_slot_type", {**WHERE, "slotTypeId": "SLOTTYPE01",
                                    "slotTypeName": "QnaSlotType", "slotTypeValues": [
                                        {"sampleValue": {"value": "When are you open"}}],
                                    "valueSelectionSetting": {
                                        "resolutionStrategy": "OriginalValue"}})
    lex.expect("list_intents", {**WHERE, "maxResults": 1000}, {
        "intentSummaries": [{"intentId": "FALLBCKINT", "intentName": "FallbackIntent"},
                            {"intentId": "QNAINTENT1", "intentName": "QnaIntent"},
                            {"intentId": "QIDINTENT1", "intentName": "QID-INTENT-Gone_dot_1"}],
        "nextToken": "page2"})
    lex.expect("list_intents", {**WHERE, "maxResults": 1000, "nextToken": "page2"},
               {"intentSummaries": []})
    lex.expect("list_slots", {**WHERE, "intentId": "QNAINTENT1"}, {
        "slotSummaries": [{"slotId": "QNASLOT001", "slotName": "qnaslot"}]})
    lex.expect("update_slot", {**WHERE, "intentId": "QNAINTENT1", "slotId": "QNASLOT001",
                               "slotName": "qnaslot", "slotTypeId": "SLOTTYPE01",
                               "valueElicitationSetting": {"slotConstraint": "Optional"}})
    expect_intent_updates(lex)
    lex.expect("delete_intent", {**WHERE, "intentId": "QIDINTENT1"})
    expect_stale_slot_types(lex)
    expect_publish(lex, aliases=[{"botAliasId": "LIVEALIAS1", "botAliasName": "live",
                                  "botVersion": "1"}], old_versions=["1"])

    result = lex.builder.apply(build_definition(items()[1:]))

    assert (result.bot_version, result.alias_id) == ("2", "LIVEALIAS1")


def test_a_failed_locale_build_reports_lexs_reasons(lex):
    definition = build_definition(items())
    lex.expect("build_bot_locale", WHERE)
    lex.expect("describe_bot_locale", WHERE, {"botLocaleStatus": "Failed", "failureReasons": [
        "Intent QID-INTENT-Alexa_dot_001 has a sample utterance that is too long"]})

    with pytest.raises(BotBuildError, match="locale en_US is Failed: Intent QID-INTENT"):
        lex.builder._build_locale(BOT, definition.locales[0].locale_id)


def test_a_build_that_never_finishes_gives_up_after_the_timeout(lex):
    lex.expect("build_bot_locale", WHERE)
    for _ in range(13):
        lex.expect("describe_bot_locale", WHERE, {"botLocaleStatus": "Building"})

    with pytest.raises(BotBuildError, match="gave up waiting .* after 60 s .*still Building"):
        lex.builder._build_locale(BOT, "en_US")
    assert sum(lex.sleeps) == 60


def test_access_denied_says_which_step_and_what_to_grant(lex):
    lex.refuse("list_bots", None, "AccessDeniedException", "not authorized to lex:ListBots")
    with pytest.raises(BotBuildError, match="could not find the bot.*Grant the bot-build role"):
        lex.builder.apply(build_definition(items()))


def test_duplicate_utterances_are_refused_before_any_lex_call(lex):
    clash = [parse_item({"qid": f"D.{n}", "q": ["Same question"], "a": "A",
                         "enableQidIntent": True}) for n in (1, 2)]
    with pytest.raises(BotDefinitionError, match="Same question|same question"):
        build_bot(clash, locales="en_US", builder=lex.builder)


def test_a_dry_run_reports_the_definition_without_calling_lex(lex):
    result = build_bot(items(), locales="en_US,fr_CA", dry_run=True, builder=lex.builder)
    assert result["dryRun"] is True and "bot" not in result
    assert [loc["locale"] for loc in result["definition"]["locales"]] == ["en_US", "fr_CA"]


# --- the CloudFormation custom resource --------------------------------------------------------


def cfn_event(kind):
    return {"RequestType": kind, "ResponseURL": "https://cloudformation-custom-resource.test/x",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/qnabot/1",
            "RequestId": "req-1", "LogicalResourceId": "LexBot",
            "PhysicalResourceId": BOT, "ResourceProperties": {"LocaleIds": "en_US"}}


class FakeBuilder:
    def __init__(self, fail=None):
        self.fail = fail
        self.applied = []
        self.deleted = False

    def apply(self, definition):
        if self.fail:
            raise self.fail
        self.applied.append(definition)
        from bot.builder import BuildResult
        return BuildResult(BOT, "3", "LIVEALIAS1", ("en_US",))

    def delete(self):
        self.deleted = True
        return True


def test_the_custom_resource_builds_the_bot_and_returns_its_ids():
    responses = []
    builder = FakeBuilder()
    custom_resource.handle_custom_resource(
        cfn_event("Create"), builder, items=items,
        respond=lambda event, status, **kw: responses.append((status, kw)))
    assert responses == [("SUCCESS", {"physical_id": BOT, "data": {
        "BotId": BOT, "BotAliasId": "LIVEALIAS1", "BotVersion": "3"}})]
    assert builder.applied[0].locales[0].locale_id == "en_US"


def test_a_failed_build_answers_cloudformation_with_the_reason():
    responses = []
    custom_resource.handle_custom_resource(
        cfn_event("Update"), FakeBuilder(fail=BotBuildError("locale en_US is Failed: x")),
        items=items, respond=lambda event, status, **kw: responses.append((status, kw)))
    assert responses == [("FAILED", {"reason": "BotBuildError: locale en_US is Failed: x"})]


def test_deleting_the_stack_deletes_the_bot():
    responses = []
    builder = FakeBuilder()
    custom_resource.handle_custom_resource(
        cfn_event("Delete"), builder, items=items,
        respond=lambda event, status, **kw: responses.append(status))
    assert builder.deleted and responses == ["SUCCESS"]


def test_the_response_is_put_to_the_presigned_url_in_cloudformations_format():
    sent = []

    class Reply:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b""

    def opener(request, timeout):
        sent.append(request)
        return Reply()

    custom_resource.send_response(cfn_event("Create"), "SUCCESS", physical_id=BOT,
                                  data={"BotId": BOT}, opener=opener)
    import json
    [request] = sent
    assert request.get_method() == "PUT"
    assert json.loads(request.data) == {
        "Status": "SUCCESS", "Reason": "See the CloudWatch logs of the bot-build function",
        "PhysicalResourceId": BOT, "StackId": cfn_event("Create")["StackId"],
        "RequestId": "req-1", "LogicalResourceId": "LexBot", "Data": {"BotId": BOT}}


def test_in_aws_the_designer_hands_the_checked_build_to_the_bot_build_function(monkeypatch):
    from bot import service

    client = boto3.client("lambda", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response("invoke", {"StatusCode": 202}, {
        "FunctionName": "qnabot-bot-build", "InvocationType": "Event",
        "Payload": b'{"action": "build", "locales": ["en_US"]}'})
    monkeypatch.setenv("BOT_BUILD_FUNCTION", "qnabot-bot-build")
    monkeypatch.setattr(boto3, "client", lambda name, **kw: client)
    with stub:
        result = service.build_bot(items(), locales="en_US")
    assert result["bot"] == {"status": "started", "function": "qnabot-bot-build",
                             "locales": ["en_US"]}
    stub.assert_no_pending_responses()


def slot_items():
    """QnABot's slot example: a custom slot type and an intent item with two slots."""
    return [
        parse_item({"qid": "Colors", "type": "slottype", "descr": "Paint colors",
                    "resolutionStrategyRestrict": True, "slotTypeValues": [
                        {"samplevalue": "red", "synonyms": "crimson,scarlet"},
                        {"samplevalue": "blue"}]}),
        parse_item({"qid": "Paint.1", "q": ["Paint it {color}", "I want {color} paint"],
                    "a": "Painting it {{getSlot 'color'}}.", "enableQidIntent": True,
                    "slots": [
                        {"slotName": "color", "slotType": "Colors", "slotRequired": True,
                         "slotPrompt": "Which color?"},
                        {"slotName": "when", "slotType": "AMAZON.Date",
                         "slotSampleUtterances": "on {when},by {when}"}]}),
    ]


PAINT_HOOKS = {"fulfillmentCodeHook": {"enabled": True}, "dialogCodeHook": {"enabled": True},
               "description": "Answers item Paint.1"}
COLOR_SETTING = {"slotConstraint": "Required", "promptSpecification": {"messageGroups": [
    {"message": {"plainTextMessage": {"value": "Which color?"}}}], "maxRetries": 4}}


def expect_paint_when_slot_and_intent_update(lex):
    """The optional ``when`` slot is created, then the intent gets its utterances, slot order
    and code hooks (the dialog code hook on: the intent has slots)."""
    lex.expect("create_slot", {
        **WHERE, "intentId": "PAINTINT01", "slotName": "when", "slotTypeId": "AMAZON.Date",
        "valueElicitationSetting": {
            "slotConstraint": "Optional", "promptSpecification": {"messageGroups": [
                {"message": {"plainTextMessage": {"value": "What is the question?"}}}],
                "maxRetries": 4},
            "sampleUtterances": [{"utterance": "on {when}"}, {"utterance": "by {when}"}]}},
        {"slotId": "WHENSLOT01"})
    lex.expect("update_intent", {
        **WHERE, "intentName": "QID-INTENT-Paint_dot_1", "intentId": "PAINTINT01", **PAINT_HOOKS,
        "sampleUtterances": [{"utterance": "Paint it {color}"},
                             {"utterance": "I want {color} paint"}],
        "slotPriorities": [{"priority": 1, "slotId": "COLORSLOT1"},
                           {"priority": 2, "slotId": "WHENSLOT01"}]})


def test_slot_types_and_qid_intent_slots_are_built_as_qnabot_builds_them(lex):
    locale = build_definition(slot_items()).locales[0]
    lex.expect("describe_bot_locale", WHERE, {"botLocaleStatus": "Built"})
    lex.expect("update_bot_locale", LOCALE_SETTINGS)
    lex.expect("describe_bot_locale", WHERE, {"botLocaleStatus": "NotBuilt"})
    lex.expect("list_slot_types", {**WHERE, "filters": [
        {"name": "SlotTypeName", "values": ["QnaSlotType"], "operator": "EQ"}]},
        {"slotTypeSummaries": [{"slotTypeId": "SLOTTYPE01", "slotTypeName": "QnaSlotType"}]})
    lex.expect("update_slot_type", {**WHERE, "slotTypeId": "SLOTTYPE01",
                                    "slotTypeName": "QnaSlotType",
                                    "slotTypeValues": [{"sampleValue": {"value": "question"}}],
                                    "valueSelectionSetting": {
                                        "resolutionStrategy": "OriginalValue"}})
    lex.expect("list_slot_types", {**WHERE, "filters": [
        {"name": "SlotTypeName", "values": ["QID-SLOTTYPE-Colors"], "operator": "EQ"}]},
        {"slotTypeSummaries": []})
    lex.expect("create_slot_type", {
        **WHERE, "slotTypeName": "QID-SLOTTYPE-Colors", "description": "Paint colors",
        "slotTypeValues": [
            {"sampleValue": {"value": "red"},
             "synonyms": [{"value": "crimson"}, {"value": "scarlet"}]},
            {"sampleValue": {"value": "blue"}}],
        "valueSelectionSetting": {"resolutionStrategy": "TopResolution"}},
        {"slotTypeId": "COLORTYPE1"})
    lex.expect("list_intents", {**WHERE, "maxResults": 1000}, {"intentSummaries": [
        {"intentId": "FALLBCKINT", "intentName": "FallbackIntent"},
        {"intentId": "QNAINTENT1", "intentName": "QnaIntent"},
        {"intentId": "PAINTINT01", "intentName": "QID-INTENT-Paint_dot_1"}]})
    lex.expect("list_slots", {**WHERE, "intentId": "QNAINTENT1"}, {
        "slotSummaries": [{"slotId": "QNASLOT001", "slotName": "qnaslot"}]})
    lex.expect("update_slot", {**WHERE, "intentId": "QNAINTENT1", "slotId": "QNASLOT001",
                               "slotName": "qnaslot", "slotTypeId": "SLOTTYPE01",
                               "valueElicitationSetting": {"slotConstraint": "Optional"}})
    expect_intent_updates(lex)
    # The intent had a slot the item no longer defines: it goes before the utterances change.
    lex.expect("list_slots", {**WHERE, "intentId": "PAINTINT01"}, {"slotSummaries": [
        {"slotId": "OLDSLOT001", "slotName": "size"},
        {"slotId": "COLORSLOT1", "slotName": "color"}]})
    lex.expect("delete_slot", {**WHERE, "intentId": "PAINTINT01", "slotId": "OLDSLOT001"})
    lex.expect("list_slots", {**WHERE, "intentId": "PAINTINT01"}, {"slotSummaries": [
        {"slotId": "COLORSLOT1", "slotName": "color"}]})
    lex.expect("update_slot", {
        **WHERE, "intentId": "PAINTINT01", "slotId": "COLORSLOT1", "slotName": "color",
        "slotTypeId": "COLORTYPE1", "valueElicitationSetting": COLOR_SETTING})
    expect_paint_when_slot_and_intent_update(lex)
    expect_stale_slot_types(lex, found=[("QID-SLOTTYPE-Colors", "COLORTYPE1"),
                                        ("QID-SLOTTYPE-Gone", "GONETYPE01")])
    lex.expect("delete_slot_type", {**WHERE, "slotTypeId": "GONETYPE01"})

    lex.builder._ensure_locale(BOT, locale)


def test_a_new_qid_intent_with_slots_is_created_with_its_dialog_code_hook_on(lex):
    """Lex then asks the fulfillment Lambda while it elicits the slots (cached values)."""
    locale = build_definition(slot_items()).locales[0]
    intent = next(i for i in locale.intents if i.qid == "Paint.1")
    lex.expect("create_intent", {**WHERE, "intentName": "QID-INTENT-Paint_dot_1",
                                 **PAINT_HOOKS}, {"intentId": "PAINTINT01"})
    lex.expect("list_slots", {**WHERE, "intentId": "PAINTINT01"}, {"slotSummaries": []})
    lex.expect("create_slot", {
        **WHERE, "intentId": "PAINTINT01", "slotName": "color", "slotTypeId": "COLORTYPE1",
        "valueElicitationSetting": COLOR_SETTING}, {"slotId": "COLORSLOT1"})
    expect_paint_when_slot_and_intent_update(lex)

    lex.builder._ensure_intent(WHERE, intent, None, "SLOTTYPE01",
                               {"QID-SLOTTYPE-Colors": "COLORTYPE1"})


def test_a_qid_intent_without_slots_keeps_its_dialog_code_hook_off():
    """Nothing to elicit: Lex goes straight to fulfillment, without an extra Lambda call."""
    intent = next(i for i in build_definition(items()).locales[0].intents if i.qid)
    assert not intent.dialog_code_hook


def test_a_slot_of_an_unknown_custom_type_is_reported_with_its_qid(lex):
    locale = build_definition([slot_items()[1]]).locales[0]
    intent = next(i for i in locale.intents if i.qid == "Paint.1")
    lex.expect("list_slots", {**WHERE, "intentId": "PAINTINT01"}, {"slotSummaries": []})
    lex.expect("list_slot_types", {**WHERE, "filters": [
        {"name": "SlotTypeName", "values": ["Colors"], "operator": "EQ"}]},
        {"slotTypeSummaries": []})

    with pytest.raises(BotBuildError, match='slot type "Colors" of slot color \\(qid "Paint.1"\\)'):
        lex.builder._ensure_qid_slots(WHERE, intent, "PAINTINT01", {})
