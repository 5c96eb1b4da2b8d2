"""The stack-setup custom resource: settings seed and OpenSearch role mapping."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from infra import setup
from knowledge.settings import REGISTRY
from knowledge.settings_dynamodb import DynamoDbSettingsRepo
from tests.aws.conftest import create_table


@pytest.fixture
def repo():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "settings", "SettingName")
        yield DynamoDbSettingsRepo("settings", client)


class RecordingTransport:
    def __init__(self):
        self.requests = []

    def perform_request(self, method, path, body=None):
        self.requests.append((method, path, body))
        return {"status": "OK"}


def test_setup_seeds_defaults_sets_the_template_overrides_and_maps_roles(repo):
    transport = RecordingTransport()
    result = setup.apply({"Settings": {"ALT_SEARCH_KENDRA_INDEXES": "", "LLM_MODEL_ID": "m1"},
                          "OpenSearchRoleArns": ["arn:aws:iam::1:role/b", "arn:aws:iam::1:role/a"]},
                         repo=repo, transport=transport)

    assert result == {"SeededSettings": len(REGISTRY), "Overrides": ["LLM_MODEL_ID"],
                      "MappedRoles": 2}
    assert repo.overrides() == {"LLM_MODEL_ID": "m1"}
    (m1, p1, role), (m2, p2, mapping) = transport.requests
    assert (m1, p1) == ("PUT", "/_plugins/_security/api/roles/qnabot_app")
    assert role["index_permissions"] == [{"index_patterns": ["qnabot*"],
                                          "allowed_actions": ["indices_all"]}]
    assert (m2, p2) == ("PUT", "/_plugins/_security/api/rolesmapping/qnabot_app")
    assert mapping == {"backend_roles": ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"]}


def test_on_serverless_no_role_mapping_is_sent(repo):
    transport = RecordingTransport()
    assert setup.apply({"OpenSearchRoleArns": []}, repo=repo, transport=transport)[
        "MappedRoles"] == 0
    assert transport.requests == []


def test_an_invalid_override_fails_the_setup_with_the_setting_named(repo):
    with pytest.raises(ValueError, match="LLM_QA_NO_HITS_REGEX"):
        setup.apply({"Settings": {"LLM_QA_NO_HITS_REGEX": "("}}, repo=repo,
                    transport=RecordingTransport())
