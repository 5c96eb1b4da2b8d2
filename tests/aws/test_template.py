"""infra/template.yaml: cfn-lint passes, and the security properties the issue asks for hold.

The template is parsed with cfn-lint's own decoder, which understands !Ref, !GetAtt, !Sub and
the other short forms (they become {"Ref": ...}, {"Fn::GetAtt": ...}, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    data, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return data


def resources(template, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(template) -> list[tuple[str, dict]]:
    """Every IAM statement of every role and policy, with the resource it belongs to
    (both branches of an Fn::If)."""
    found = []

    def walk(owner, value):
        if isinstance(value, dict):
            if "Fn::If" in value:
                for branch in value["Fn::If"][1:]:
                    walk(owner, branch)
            elif "Effect" in value and "Action" in value:
                found.append((owner, value))
            else:
                for item in value.values():
                    walk(owner, item)
        elif isinstance(value, list):
            for item in value:
                walk(owner, item)

    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", ()):
                walk(name, policy["PolicyDocument"]["Statement"])
        elif resource["Type"] == "AWS::IAM::Policy":
            walk(name, resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_cfn_lint_passes():
    matches = lint_file(TEMPLATE, config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def test_the_parameters_are_the_ones_qnabot_users_know(template):
    params = template["Parameters"]
    assert params["LLMApi"]["AllowedValues"] == ["DISABLED", "BEDROCK", "LAMBDA"]
    assert params["EmbeddingsApi"]["AllowedValues"] == ["BEDROCK", "LAMBDA"]
    assert params["LexV2BotLocaleIds"]["Default"] == "en_US"
    assert params["OpenSearchDeployment"]["AllowedValues"] == ["DOMAIN", "SERVERLESS"]
    for name in ("LLMBedrockModelId", "LLMLambdaArn", "EmbeddingsBedrockModelId",
                 "EmbeddingsLambdaArn", "EmbeddingsLambdaDimensions", "DefaultKendraIndexId",
                 "AdminEmail", "OpenSearchInstanceType", "OpenSearchNodeCount"):
        assert name in params


def test_every_bucket_is_encrypted_private_and_tls_only(template):
    buckets = resources(template, "AWS::S3::Bucket")
    policies = resources(template, "AWS::S3::BucketPolicy")
    assert set(buckets) == {"ImportExportBucket", "AccessLogsBucket", "MetricsBucket"}
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}
        [policy] = [p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": name}]
        deny = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny[0]["Action"] == "s3:*" and deny[0]["Principal"] == "*"
    for name in ("ImportExportBucket", "MetricsBucket"):
        assert buckets[name]["Properties"]["LoggingConfiguration"][
            "DestinationBucketName"] == {"Ref": "AccessLogsBucket"}


def test_tables_are_encrypted_with_point_in_time_recovery_and_users_expire(template):
    tables = resources(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"SettingsTable", "UsersTable", "StreamingTable"}
    for table in tables.values():
        props = table["Properties"]
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert tables["SettingsTable"]["Properties"]["KeySchema"] == [
        {"AttributeName": "SettingName", "KeyType": "HASH"}]
    assert tables["UsersTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "TimeToLive", "Enabled": True}


def test_the_opensearch_domain_encrypts_enforces_https_and_fine_grained_access(template):
    domain = template["Resources"]["Domain"]["Properties"]
    assert domain["EncryptionAtRestOptions"] == {"Enabled": True}
    assert domain["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert domain["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert domain["DomainEndpointOptions"]["TLSSecurityPolicy"].startswith("Policy-Min-TLS-1-2")
    security = domain["AdvancedSecurityOptions"]
    assert security["Enabled"] is True and security["InternalUserDatabaseEnabled"] is False
    principals = domain["AccessPolicies"]["Statement"][0]["Principal"]["AWS"]
    assert "*" not in json.dumps(principals)


def test_the_serverless_collection_is_encrypted_and_limits_data_access_to_our_roles(template):
    encryption = template["Resources"]["CollectionEncryptionPolicy"]["Properties"]
    assert encryption["Type"] == "encryption"
    access = json.dumps(template["Resources"]["CollectionAccessPolicy"]["Properties"]["Policy"])
    assert "FulfillmentRole" in access and "AdminRole" in access
    # The store swaps an alias: aliases are collection items on Serverless.
    for permission in ("Create", "Update", "Delete", "Describe"):
        assert f"aoss:{permission}CollectionItems" in access
    assert "aoss:WriteDocument" in access and "aoss:ReadDocument" in access
    assert template["Resources"]["Collection"]["Properties"]["Type"] == "VECTORSEARCH"


def test_no_statement_allows_every_action_or_an_unlisted_wildcard_resource(template):
    # ListBots and DetectPiiEntities have no resource type; see test_iam_policies.py.
    # Language detection and terminology listing have none either; a plain TranslateText names
    # no terminology, so it is authorized on "*".
    wildcard_ok = {"comprehend:DetectPiiEntities", "polly:SynthesizeSpeech", "lex:ListBots",
                   "comprehend:DetectDominantLanguage", "translate:TranslateText",
                   "translate:ListTerminologies"}
    for owner, statement in statements(template):
        actions = as_list(statement["Action"])
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), owner
        if statement["Resource"] == "*":
            assert set(actions) <= wildcard_ok, (owner, actions)


def test_lambda_invocation_is_limited_to_the_plugins_hooks_bot_build_and_classifier_training(
        template):
    allowed = []
    for owner, statement in statements(template):
        if "lambda:InvokeFunction" in as_list(statement["Action"]):
            allowed.append((owner, json.dumps(statement["Resource"])))
    resources_text = [text for _, text in allowed]
    assert '{"Ref": "LLMLambdaArn"}' in resources_text
    assert '{"Ref": "EmbeddingsLambdaArn"}' in resources_text
    assert any("function:${LambdaHookFunctionPrefix}*" in text for text in resources_text)
    assert any("function:${AWS::StackName}-bot-build" in text for text in resources_text)
    assert ("AdminRole", json.dumps({"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:"
                                     "${AWS::AccountId}:function:${AWS::StackName}-import-export"})
            ) in allowed
    assert len(allowed) == 5
    assert template["Resources"]["LambdaLLMPolicy"]["Condition"] == "UseLambdaLLM"
    assert template["Resources"]["LambdaEmbeddingsPolicy"]["Condition"] == "UseLambdaEmbeddings"


def test_bedrock_and_kendra_are_limited_to_the_given_model_and_index(template):
    for owner, statement in statements(template):
        actions = as_list(statement["Action"])
        text = json.dumps(statement["Resource"])
        if any(a.startswith("bedrock:Invoke") for a in actions):
            if "foundation-model/*" in text:  # only through the stack's inference profile
                condition = json.dumps(statement["Condition"])
                assert "bedrock:InferenceProfileArn" in condition, owner
                assert "inference-profile/${LLMBedrockModelId}" in condition, owner
            else:
                assert ("${LLMBedrockModelId}" in text
                        or "${EmbeddingsBedrockModelId}" in text), owner
        if any(a.startswith("kendra:") for a in actions):
            assert "index/${Id}" in text and "DefaultKendraIndexId" in text, owner
    assert template["Resources"]["KendraPolicy"]["Condition"] == "UseKendra"
    assert template["Resources"]["BedrockLLMPolicy"]["Condition"] == "UseBedrockLLM"


def test_passing_the_lex_role_is_limited_to_lex(template):
    [(owner, statement)] = [(o, s) for o, s in statements(template)
                            if "iam:PassRole" in as_list(s["Action"])]
    assert statement["Resource"] == {"Fn::GetAtt": ["LexBotRole", "Arn"]}
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "lexv2.amazonaws.com"}}


def test_functions_run_python_3_11_or_later_with_their_own_roles(template):
    runtime = template["Globals"]["Function"]["Runtime"]
    assert runtime.startswith("python3.") and int(runtime.split(".")[1]) >= 11
    functions = resources(template, "AWS::Serverless::Function")
    assert set(functions) == {"FulfillmentFunction", "AdminFunction", "ImportExportFunction",
                              "BotBuildFunction", "SetupFunction", "StreamingConnectFunction"}
    assert functions["FulfillmentFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["FulfillmentRole", "Arn"]}
    assert functions["FulfillmentFunction"]["Properties"]["CodeUri"] == "../build/fulfillment.zip"


def test_the_admin_api_requires_cognito_except_for_pages_and_health(template):
    auth = template["Resources"]["AdminApi"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "CognitoAdmins"
    assert auth["Authorizers"]["CognitoAdmins"]["UserPoolArn"] == {
        "Fn::GetAtt": ["UserPool", "Arn"]}
    events = template["Resources"]["AdminFunction"]["Properties"]["Events"]
    public = {e["Properties"]["Path"] for e in events.values()
              if e["Properties"].get("Auth", {}).get("Authorizer") == "NONE"}
    assert public == {"/designer", "/chat", "/config.js", "/static/{file}", "/health"}
    assert all(e["Properties"]["Method"] == "GET" for e in events.values()
               if e["Properties"]["Path"] in public)


def test_s3_imports_trigger_the_import_export_function(template):
    events = template["Resources"]["ImportExportFunction"]["Properties"]["Events"]
    prefixes = {rule["Value"] for e in events.values()
                for rule in e["Properties"]["Filter"]["S3Key"]["Rules"] if rule["Name"] == "prefix"}
    assert prefixes == {"imports/", "exports/", "test_all/"}


def test_every_function_finds_the_classifier_and_the_fulfillment_may_only_read_it(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    bucket = template["Resources"]["ImportExportBucket"]["Properties"]["BucketName"]
    assert variables["CLASSIFIER_BUCKET"] == bucket
    fulfillment_s3 = [statement for owner, statement in statements(template)
                      if owner == "FulfillmentRole"
                      and any(a.startswith("s3:") for a in as_list(statement["Action"]))]
    assert [s["Action"] for s in fulfillment_s3] == ["s3:GetObject"]
    assert json.dumps(fulfillment_s3[0]["Resource"]).endswith('"/classifier/*"]]}')
    designer = template["Resources"]["AdminFunction"]["Properties"]["Environment"]["Variables"]
    assert designer["CLASSIFIER_TRAINING_FUNCTION"] == {
        "Fn::Sub": "${AWS::StackName}-import-export"}
    assert template["Resources"]["ImportExportFunction"]["Properties"]["FunctionName"] == {
        "Fn::Sub": "${AWS::StackName}-import-export"}


def test_outputs_give_the_designer_url_the_bot_and_the_buckets(template):
    outputs = template["Outputs"]
    for name in ("ContentDesignerURL", "ClientURL", "BotId", "BotAliasId", "ImportExportBucket",
                 "AccessLogsBucket", "UserPoolId", "UserPoolClientId"):
        assert name in outputs
    assert outputs["BotId"]["Value"] == {"Fn::GetAtt": ["LexBot", "BotId"]}


def test_every_function_handler_exists_in_the_artifact_it_is_packaged_in(template):
    import importlib

    from infra import package

    sources = {f"../build/{a.name}.zip": a.sources for a in package.ARTIFACTS}
    for name, function in resources(template, "AWS::Serverless::Function").items():
        props = function["Properties"]
        module, _, attribute = props["Handler"].rpartition(".")
        top = module.split(".")[0]
        assert any(s == top or s.startswith(f"{top}/") for s in sources[props["CodeUri"]]), name
        handler = getattr(importlib.import_module(module), attribute)
        assert callable(handler), name


def test_the_pages_find_their_config_and_sign_in_back_on_the_page_they_left(template):
    resources_ = template["Resources"]
    name = resources_["WebConfig"]["Properties"]["Name"]
    env = resources_["AdminFunction"]["Properties"]["Environment"]["Variables"]
    assert env["WEB_CONFIG_PARAMETER"] == name == {"Fn::Sub": "/${AWS::StackName}/qnabot/web-config"}
    [read] = [s for o, s in statements(template) if s.get("Sid") == "ReadWebConfig"]
    assert read["Resource"]["Fn::Sub"].endswith(":parameter/${AWS::StackName}/qnabot/web-config")
    client = resources_["UserPoolClient"]["Properties"]
    assert client["AllowedOAuthFlows"] == ["code"] and "openid" in client["AllowedOAuthScopes"]
    callbacks = [c["Fn::Sub"].rsplit("/", 1)[1] for c in client["CallbackURLs"]]
    assert callbacks == ["designer", "chat"]
    assert template["Parameters"]["PublicOrPrivate"]["AllowedValues"] == ["PUBLIC", "PRIVATE"]
    pool = resources_["ChatIdentityPool"]["Properties"]
    assert pool["AllowUnauthenticatedIdentities"] == {"Fn::If": ["IsPublicClient", True, False]}
    assert template["Outputs"]["ClientURL"]["Value"]["Fn::Sub"].endswith("/prod/chat")


def test_the_admin_user_is_in_the_admins_group_the_designer_requires(template):
    from content_designer.aws_web import ADMINS_GROUP

    resources_ = template["Resources"]
    assert resources_["AdminsGroup"]["Properties"]["GroupName"] == ADMINS_GROUP
    attachment = resources_["AdminUserInAdmins"]["Properties"]
    assert attachment["Username"] == {"Ref": "AdminUser"}
    assert attachment["GroupName"] == {"Ref": "AdminsGroup"}


def test_connect_is_associated_with_the_live_alias_only_when_an_instance_is_given(template):
    association = template["Resources"]["ConnectBotAssociation"]
    assert association["Condition"] == "UseConnect"
    props = association["Properties"]
    assert props["IntegrationType"] == "LEX_BOT"
    assert "bot-alias/${LexBot.BotId}/${LexBot.BotAliasId}" in props["IntegrationArn"]["Fn::Sub"]


def test_metrics_reach_s3_through_firehose_and_athena_can_read_them(template):
    streams = resources(template, "AWS::KinesisFirehose::DeliveryStream")
    assert set(streams) == {"MetricsDeliveryStream", "FeedbackDeliveryStream"}
    for stream in streams.values():
        destination = stream["Properties"]["ExtendedS3DestinationConfiguration"]
        assert destination["BucketARN"] == {"Fn::GetAtt": ["MetricsBucket", "Arn"]}
        assert "year=!{timestamp:yyyy}" in destination["Prefix"]
    tables = resources(template, "AWS::Glue::Table")
    assert {t["Properties"]["TableInput"]["Name"] for t in tables.values()} == \
        {"metrics", "feedback"}
    variables = template["Resources"]["FulfillmentFunction"]["Properties"]["Environment"][
        "Variables"]
    assert variables["METRICS_FIREHOSE_STREAM"] == {"Ref": "MetricsDeliveryStream"}
    assert variables["FEEDBACK_FIREHOSE_STREAM"] == {"Ref": "FeedbackDeliveryStream"}
    assert resources(template, "AWS::CloudWatch::Dashboard")


def test_the_designer_reads_the_metrics_tables_with_athena_in_its_own_workgroup(template):
    variables = template["Resources"]["AdminFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["METRICS_ATHENA_DATABASE"] == {"Ref": "MetricsDatabase"}
    assert variables["METRICS_ATHENA_WORKGROUP"] == {"Ref": "MetricsWorkGroup"}
    workgroup = template["Resources"]["MetricsWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    results = workgroup["ResultConfiguration"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] in ("SSE_S3", "SSE_KMS")
    assert results["OutputLocation"] == {"Fn::Sub": "s3://${MetricsBucket}/athena-results/"}
    rules = template["Resources"]["MetricsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {"Id": "expire-query-results", "Status": "Enabled", "Prefix": "athena-results/",
            "ExpirationInDays": 1} in rules
    granted = {a: s for o, s in statements(template) if o == "AdminRole"
               for a in as_list(s["Action"])}
    assert granted["athena:StartQueryExecution"]["Resource"] == {"Fn::Sub": (
        "arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}:workgroup/"
        "${MetricsWorkGroup}")}
    # the records are only read; the queries write their results under athena-results/ only
    on_metrics = [s for o, s in statements(template)
                  if o == "AdminRole" and "MetricsBucket" in json.dumps(s["Resource"])]
    writes = [s for s in on_metrics if "s3:PutObject" in as_list(s["Action"])]
    assert [w["Resource"] for w in writes] == [
        {"Fn::Sub": "${MetricsBucket.Arn}/athena-results/*"}]
