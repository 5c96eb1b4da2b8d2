"""Settings overrides in DynamoDB, against moto."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from knowledge.settings import REGISTRY, validate_updates
from knowledge.settings_dynamodb import DynamoDbSettingsRepo, SettingsTableError
from tests.aws.conftest import create_table

TABLE = "qnabot-settings"


@pytest.fixture
def dynamodb():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE, "SettingName")
        yield client


def row(client, name):
    return client.get_item(TableName=TABLE, Key={"SettingName": {"S": name}}).get("Item")


def test_a_new_table_has_no_overrides_so_defaults_apply(dynamodb):
    repo = DynamoDbSettingsRepo(TABLE, dynamodb)
    assert repo.overrides() == {}
    assert repo.load().get("ES_NO_HITS_QUESTION") == "no_hits"


def test_saved_overrides_are_read_back_with_their_default_and_category(dynamodb):
    repo = DynamoDbSettingsRepo(TABLE, dynamodb)
    repo.save(validate_updates({"EMPTYMESSAGE": "Sorry!", "TOPIC_BOOST": 0.1}))
    repo.save({"ENABLE_DEBUG_RESPONSES": "true"})

    assert repo.overrides() == {"EMPTYMESSAGE": "Sorry!", "TOPIC_BOOST": "0.1",
                                "ENABLE_DEBUG_RESPONSES": "true"}
    assert repo.load().get("TOPIC_BOOST") == 0.1
    assert row(dynamodb, "EMPTYMESSAGE") == {
        "SettingName": {"S": "EMPTYMESSAGE"}, "SettingValue": {"S": "Sorry!"},
        "DefaultValue": {"S": REGISTRY["EMPTYMESSAGE"].default},
        "SettingCategory": {"S": "Answers"}}


def test_an_override_set_to_an_empty_string_stays_empty(dynamodb):
    repo = DynamoDbSettingsRepo(TABLE, dynamodb)
    repo.save({"LLM_QA_PREFIX_MESSAGE": ""})
    assert repo.overrides() == {"LLM_QA_PREFIX_MESSAGE": ""}


def test_removing_overrides_restores_defaults_and_keeps_the_rows(dynamodb):
    repo = DynamoDbSettingsRepo(TABLE, dynamodb)
    repo.save({"EMPTYMESSAGE": "Sorry!", "TOPIC_BOOST": "0.1"})
    repo.remove(["EMPTYMESSAGE", "NEVER_SET"])
    assert repo.overrides() == {"TOPIC_BOOST": "0.1"}
    assert "SettingValue" not in row(dynamodb, "EMPTYMESSAGE")
    assert row(dynamodb, "NEVER_SET") is None

    repo.remove(None)
    assert repo.overrides() == {}


def test_seeding_lists_every_setting_without_touching_overrides(dynamodb):
    repo = DynamoDbSettingsRepo(TABLE, dynamodb)
    repo.save({"EMPTYMESSAGE": "Sorry!"})
    assert repo.seed_defaults() == len(REGISTRY)
    assert dynamodb.scan(TableName=TABLE, Select="COUNT")["Count"] == len(REGISTRY)
    assert repo.overrides() == {"EMPTYMESSAGE": "Sorry!"}
    assert row(dynamodb, "TOPIC_BOOST")["DefaultValue"] == {"S": REGISTRY["TOPIC_BOOST"].default}


def test_many_overrides_are_saved_in_transactions_of_at_most_100(dynamodb, monkeypatch):
    repo = DynamoDbSettingsRepo(TABLE, dynamodb)
    calls = []
    original = dynamodb.transact_write_items
    monkeypatch.setattr(dynamodb, "transact_write_items",
                        lambda **kw: calls.append(len(kw["TransactItems"])) or original(**kw))
    repo.save({f"CUSTOM_{n}": str(n) for n in range(150)})
    assert calls == [100, 50]
    assert len(repo.overrides()) == 150


def test_a_missing_table_is_reported_with_the_variable_to_check(dynamodb):
    repo = DynamoDbSettingsRepo("no-such-table", dynamodb)
    with pytest.raises(SettingsTableError, match="no-such-table.*Check SETTINGS_TABLE"):
        repo.overrides()


def test_custom_settings_are_kept_in_the_table_and_passed_on(dynamodb):
    repo = DynamoDbSettingsRepo(TABLE, dynamodb)
    repo.save(validate_updates({"MY_HOOK_TABLE": "orders"}))

    settings = repo.load()
    assert settings.custom() == {"MY_HOOK_TABLE": "orders"}
    assert settings.all_text()["MY_HOOK_TABLE"] == "orders"
    assert row(dynamodb, "MY_HOOK_TABLE")["SettingCategory"] == {"S": "Custom"}
