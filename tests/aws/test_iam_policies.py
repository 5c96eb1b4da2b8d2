"""Every IAM policy of infra/template.yaml, linted against policy_sentry's offline IAM database.

The template is evaluated for several parameter sets (defaults, and each option switched on),
the way CloudFormation would: conditions decide which policies and statements exist, and the
intrinsic functions are resolved to concrete ARNs with sample account, region and ids. Then,
for every statement that a deployment would really create:

* each action exists in the IAM database (a typo is a permission that never works);
* each resource ARN is one the action can apply to (granting ``lex:ListBots`` on a bot ARN is
  the bug that rolled back the first deploy: it has no resource type, so only "*" works);
* "*" is used only for actions that have no resource type at all, plus a short, reasoned
  list of exceptions; and
* every Lex call the bot builder makes is granted to the role that runs it.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from cfnlint.decode import decode

from bot import builder as bot_builder

policy_actions = pytest.importorskip("policy_sentry.querying.actions")

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/qnabot/8d1c3f20-1b2c-11ef-9e1a-0a1b2c3d4e5f"
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
          "AWS::StackName": "qnabot", "AWS::StackId": STACK_ID, "AWS::URLSuffix": "amazonaws.com"}

#: Actions granted on "*" although the database lists a resource type, and why.
WILDCARD_EXCEPTIONS = {
    # Polly authorizes SynthesizeSpeech on a lexicon only when the request names one; Lex's
    # voice never does (AWS's own AmazonLexV2BotPolicy grants it on "*").
    "polly:SynthesizeSpeech",
    # Translate authorizes TranslateText on a terminology or parallel data only when the request
    # names one; a plain translation (multi-language turns, translated bot utterances) names
    # none, so it is authorized on "*".
    "translate:TranslateText",
}

#: ARN formats AWS documents but the offline tables lack: a WebSocket API's routes are
#: ``<api-id>/<stage>/<route-key>`` (three parts; the tables only know REST's
#: ``<api-id>/<stage>/<method>/<path>``).
EXTRA_FORMATS = {
    "execute-api:Invoke": ["arn:${Partition}:execute-api:${Region}:${Account}:${ApiId}/${Stage}/"
                           "${RouteKey}"],
}

KENDRA = "0123456789abcdef0123456789abcdef0123"
SCENARIOS = {
    "defaults": {},
    "domain with every Bedrock option, Kendra and Connect (PRIVATE client)": {
        "LLMBedrockModelId": "us.anthropic.claude-3-haiku-20240307-v1:0",
        "DefaultKendraIndexId": KENDRA,
        "AltSearchKendraIndexes": "1123456789abcdef0123456789abcdef0123, "
                                  "2123456789abcdef0123456789abcdef0123",
        "BedrockKnowledgeBaseId": "KB12345678", "BedrockGuardrailIdentifier": "abcdef123456",
        "ConnectInstanceArn": f"arn:aws:connect:{REGION}:{ACCOUNT}:instance/"
                              "11111111-2222-3333-4444-555555555555",
        "PublicOrPrivate": "PRIVATE", "OpenSearchNodeCount": "2",
    },
    "serverless with Lambda plugins (PUBLIC client)": {
        "OpenSearchDeployment": "SERVERLESS", "LLMApi": "LAMBDA",
        "LLMLambdaArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:qna-llm",
        "EmbeddingsApi": "LAMBDA",
        "EmbeddingsLambdaArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:qna-embed",
        "AltSearchKendraIndexes": "1123456789abcdef0123456789abcdef0123",
    },
    "LLM disabled": {"LLMApi": "DISABLED", "BedrockGuardrailIdentifier": "abcdef123456"},
}


@cache
def template() -> dict[str, Any]:
    data, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return data


class Evaluator:
    """Resolves CloudFormation intrinsic functions for one set of parameter values."""

    def __init__(self, template: dict[str, Any], overrides: dict[str, str]):
        self.template = template
        self.params = {name: str(p.get("Default", "")) for name, p in
                       template["Parameters"].items()}
        self.params["AdminEmail"] = "admin@example.com"
        self.params.update(overrides)
        self.conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self.conditions[name]

    def exists(self, resource: dict[str, Any]) -> bool:
        return "Condition" not in resource or self.condition(resource["Condition"])

    def ref(self, name: str) -> str:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        return f"{name}Id"  # a resource: its physical id

    def get_att(self, name: str, attribute: str) -> str:
        kind = self.template["Resources"][name]["Type"]
        arns = {
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name.lower()}",
            "AWS::OpenSearchServerless::Collection":
                f"arn:aws:aoss:{REGION}:{ACCOUNT}:collection/{name.lower()}",
            "AWS::Cognito::UserPool": f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/pool",
            "AWS::Serverless::Function":
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        return f"{name}{attribute}"

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match) -> str:
            key = match.group(1)
            if key in variables:
                return str(self.value(variables[key]))
            if "." in key and not key.startswith("AWS::"):
                return self.get_att(*key.split(".", 1))
            return self.ref(key)
        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def value(self, node: Any) -> Any:
        """``node`` with every intrinsic function resolved (NoValue entries dropped)."""
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*(arg if isinstance(arg, list) else arg.split(".", 1)))
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self.sub(text, variables)
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.value(arg[1]))
            if key == "Fn::Split":
                return str(self.value(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.value(arg[1])[int(self.value(arg[0]))]
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return str(self.value(arg[0])) == str(self.value(arg[1]))
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
        return {k: self.value(v) for k, v in node.items()}


NO_VALUE = object()


def deployed_statements(evaluator: Evaluator) -> list[tuple[str, dict[str, Any]]]:
    """Every identity-policy statement the deployment would create, fully resolved."""
    found = []
    for name, resource in evaluator.template["Resources"].items():
        if not evaluator.exists(resource):
            continue
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", ())]
        elif resource["Type"] == "AWS::IAM::Policy":
            documents = [props["PolicyDocument"]]
        for document in documents:
            for statement in evaluator.value(document["Statement"]):
                found.append((name, statement))
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@cache
def arn_formats(action: str) -> tuple[str, ...]:
    service, name = action.split(":")
    rows = policy_actions.get_action_data(service, name).get(service, ())
    return tuple(sorted({row["resource_arn_format"] for row in rows}))


def arn_pattern(arn_format: str) -> re.Pattern[str]:
    """A regex for the ARNs an IAM database format allows (wildcards in our ARNs included)."""
    pieces = re.split(r"(\$\{[^}]+\})", arn_format)
    regex = ""
    for piece in pieces:
        if piece in ("${Partition}", "${Region}", "${Account}"):
            regex += r"[^:]*"
        elif piece.startswith("${"):
            regex += r".+"
        else:
            regex += re.escape(piece)
    return re.compile(regex + r"\Z")


def test_the_evaluator_resolves_the_templates_functions():
    evaluator = Evaluator(template(), {})
    assert evaluator.value({"Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}"}) == \
        "arn:aws:x:us-east-1"
    assert evaluator.condition("IsDomain") and not evaluator.condition("UseKendra")
    assert arn_pattern(arn_formats("lex:DescribeBot")[0]).match(
        f"arn:aws:lex:{REGION}:{ACCOUNT}:bot/*")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_action_exists_and_applies_to_the_resources_it_is_granted_on(scenario):
    evaluator = Evaluator(template(), SCENARIOS[scenario])
    problems = []
    for owner, statement in deployed_statements(evaluator):
        if statement["Effect"] != "Allow":
            continue
        resources = as_list(statement["Resource"])
        for action in as_list(statement["Action"]):
            formats = arn_formats(action) + tuple(EXTRA_FORMATS.get(action, ()))
            if not formats:
                problems.append(f"{owner}: {action} is not an IAM action")
                continue
            specific = [f for f in formats if f != "*"]
            for arn in resources:
                if arn == "*":
                    if specific and action not in WILDCARD_EXCEPTIONS:
                        problems.append(f'{owner}: {action} granted on "*" although it can be '
                                        f"limited to {specific}")
                elif not any(arn_pattern(f).match(arn) for f in specific):
                    problems.append(f"{owner}: {action} cannot apply to {arn} "
                                    f"(it applies to {list(formats)})")
    assert problems == []


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_statement_grants_every_action_of_a_service(scenario):
    evaluator = Evaluator(template(), SCENARIOS[scenario])
    for owner, statement in deployed_statements(evaluator):
        for action in as_list(statement["Action"]):
            assert "*" not in action, (owner, action)


def lex_operations_the_builder_calls() -> set[str]:
    """The ``self.client.<operation>`` names in bot/builder.py, as IAM actions."""
    tree = ast.parse(Path(bot_builder.__file__).read_text())
    names = {node.attr for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
             and node.value.attr == "client"}
    model = botocore.session.get_session().get_service_model("lexv2-models")
    by_python_name = {re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower(): op
                      for op in model.operation_names}
    assert names and names <= set(by_python_name), names - set(by_python_name)
    return {f"lex:{by_python_name[name]}" for name in names}


def test_the_bot_build_role_may_make_every_lex_call_of_the_builder_including_delete():
    evaluator = Evaluator(template(), {})
    role = evaluator.value(template()["Resources"]["BotBuildFunction"]["Properties"]["Role"])
    owner = role.rsplit("/", 1)[1]
    granted = {action for name, statement in deployed_statements(evaluator) if name == owner
               for action in as_list(statement["Action"])}
    needed = lex_operations_the_builder_calls()
    # Deleting a bot deletes its aliases, locales, intents, slots and slot types with it.
    needed |= {"lex:DeleteBotAlias", "lex:DeleteBotLocale", "lex:DeleteIntent",
               "lex:DeleteSlot", "lex:DeleteSlotType", "lex:DeleteBotVersion"}
    assert needed - granted == set()
    assert "lex:ListBots" in needed


def test_the_chat_roles_may_only_talk_to_the_live_alias_and_open_the_stream():
    evaluator = Evaluator(template(), {})
    chat = [(o, s) for o, s in deployed_statements(evaluator) if o.startswith("Chat")]
    assert {o for o, _ in chat} == {"ChatSignedInRole", "ChatGuestRole"}
    granted = {(s["Action"], s["Resource"]) for _, s in chat}
    assert granted == {
        ("lex:RecognizeText", f"arn:aws:lex:{REGION}:{ACCOUNT}:bot-alias/LexBotBotId/"
                              "LexBotBotAliasId"),
        # only the streaming WebSocket's $connect, which records the caller's identity
        ("execute-api:Invoke", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:StreamingApiId/prod/"
                               "$connect")}
    private = Evaluator(template(), {"PublicOrPrivate": "PRIVATE"})
    assert "ChatGuestRole" not in {o for o, _ in deployed_statements(private)}


def test_kendra_is_granted_on_exactly_the_default_and_alternative_indexes():
    scenario = SCENARIOS["domain with every Bedrock option, Kendra and Connect (PRIVATE client)"]
    evaluator = Evaluator(template(), scenario)
    [statement] = [s for o, s in deployed_statements(evaluator) if o == "KendraPolicy"]
    indexes = {arn.rsplit("/", 1)[1] for arn in statement["Resource"]}
    assert indexes == {KENDRA, "1123456789abcdef0123456789abcdef0123",
                       "2123456789abcdef0123456789abcdef0123"}
    only_alt = Evaluator(template(), SCENARIOS["serverless with Lambda plugins (PUBLIC client)"])
    [statement] = [s for o, s in deployed_statements(only_alt) if o == "KendraPolicy"]
    assert {arn.rsplit("/", 1)[1] for arn in statement["Resource"]} == {
        "1123456789abcdef0123456789abcdef0123"}


def test_cross_region_models_are_reachable_only_through_the_stacks_inference_profile():
    scenario = SCENARIOS["domain with every Bedrock option, Kendra and Connect (PRIVATE client)"]
    evaluator = Evaluator(template(), scenario)
    statements = [s for o, s in deployed_statements(evaluator) if o == "BedrockLLMPolicy"]
    [wide] = [s for s in statements if s["Resource"] == "arn:aws:bedrock:*::foundation-model/*"]
    assert wide["Condition"] == {"StringEquals": {"bedrock:InferenceProfileArn":
        f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/"
        "us.anthropic.claude-3-haiku-20240307-v1:0"}}


def test_guardrail_and_knowledge_base_are_granted_only_when_named():
    defaults = {o for o, _ in deployed_statements(Evaluator(template(), {}))}
    assert not {"GuardrailPolicy", "KnowledgeBasePolicy", "KendraPolicy"} & defaults
    scenario = SCENARIOS["domain with every Bedrock option, Kendra and Connect (PRIVATE client)"]
    actions = {a: s["Resource"] for o, s in deployed_statements(Evaluator(template(), scenario))
               for a in as_list(s["Action"])}
    assert actions["bedrock:ApplyGuardrail"].endswith(":guardrail/abcdef123456")
    assert actions["bedrock:Retrieve"].endswith(":knowledge-base/KB12345678")
    disabled = {o for o, _ in deployed_statements(Evaluator(template(), SCENARIOS["LLM disabled"]))}
    assert "GuardrailPolicy" not in disabled


def test_the_internet_facing_designer_role_cannot_change_the_bot_or_pass_roles():
    evaluator = Evaluator(template(), {})
    role = evaluator.value(template()["Resources"]["AdminFunction"]["Properties"]["Role"])
    owner = role.rsplit("/", 1)[1]
    granted = {action for name, statement in deployed_statements(evaluator) if name == owner
               for action in as_list(statement["Action"])}
    assert not {a for a in granted if a.startswith("lex:")}
    assert "iam:PassRole" not in granted
    assert "lambda:InvokeFunction" in granted  # it starts builds in the bot-build function
