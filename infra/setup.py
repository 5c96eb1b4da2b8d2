"""The stack-setup custom resource: seed the settings table and open OpenSearch to the
functions' roles.

On Create and Update it

* writes every registry setting's default into the settings table
  (:meth:`DynamoDbSettingsRepo.seed_defaults`; admins' overrides are kept) and sets the
  overrides the template passes from its parameters (``ALT_SEARCH_KENDRA_INDEXES`` from
  ``DefaultKendraIndexId``, ``LLM_MODEL_ID`` from ``LLMBedrockModelId``), when not empty;
* on an OpenSearch Service domain with fine-grained access control, where this function's
  role is the master user, creates the ``qnabot_app`` role (all index actions on
  ``<alias>*``, nothing else) and maps the other functions' IAM roles to it.

Delete does nothing: the tables and the domain go with the stack.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from bot.custom_resource import send_response
from knowledge.settings import validate_updates
from knowledge.settings_dynamodb import DynamoDbSettingsRepo

logger = logging.getLogger(__name__)
APP_ROLE = "qnabot_app"


def security_requests(alias: str, role_arns: list[str]) -> list[tuple[str, str, dict]]:
    """The security-plugin calls that let ``role_arns`` use the knowledge-base indexes.

    Example:
        >>> [p.split("/")[-2] for _, p, _ in security_requests("qnabot", ["arn:aws:iam::1:role/f"])]
        ['roles', 'rolesmapping']
    """
    # cluster_composite_ops: _bulk, _msearch and _mget, which the security plugin checks at
    # the cluster level; everything else is limited to the knowledge-base indexes.
    role = {"cluster_permissions": ["cluster_composite_ops"],
            "index_permissions": [{"index_patterns": [f"{alias}*"],
                                   "allowed_actions": ["indices_all"]}]}
    mapping = {"backend_roles": sorted(set(role_arns))}
    return [("PUT", f"/_plugins/_security/api/roles/{APP_ROLE}", role),
            ("PUT", f"/_plugins/_security/api/rolesmapping/{APP_ROLE}", mapping)]


def apply(properties: dict[str, Any], *, repo: Any = None, transport: Any = None) -> dict:
    """Seed the settings and map the roles; return what was done."""
    repo = repo or DynamoDbSettingsRepo(os.environ["SETTINGS_TABLE"])
    seeded = repo.seed_defaults()
    wanted = {k: v for k, v in (properties.get("Settings") or {}).items() if str(v).strip()}
    if wanted:
        repo.save(validate_updates(wanted))
    roles = [arn for arn in properties.get("OpenSearchRoleArns") or () if arn]
    mapped = 0
    if roles:
        if transport is None:
            from knowledge.stores.opensearch_store import OpenSearchStore

            store = OpenSearchStore.from_environment()
            transport, alias = store.client.transport, store.alias
        else:
            alias = os.environ.get("OPENSEARCH_INDEX", "qnabot")
        for method, path, body in security_requests(alias, roles):
            transport.perform_request(method, path, body=body)
        mapped = len(set(roles))
    return {"SeededSettings": seeded, "Overrides": sorted(wanted), "MappedRoles": mapped}


def lambda_handler(event: dict[str, Any], context: Any = None) -> None:
    """Custom-resource entry point; always answers CloudFormation."""
    try:
        data = {} if event["RequestType"] == "Delete" else apply(
            event.get("ResourceProperties") or {})
        send_response(event, "SUCCESS", physical_id="qnabot-setup",
                      data={k: json.dumps(v) if isinstance(v, list) else v
                            for k, v in data.items()})
    except Exception as exc:  # CloudFormation must get an answer whatever went wrong
        logger.exception("stack setup failed")
        send_response(event, "FAILED", physical_id="qnabot-setup",
                      reason=f"{type(exc).__name__}: {exc}")
