"""Every QnABot 7.4 setting is honoured or documented, and QnABot's values work here."""

from __future__ import annotations

from pathlib import Path

import pytest

from fulfillment.pipeline import cascade
from knowledge.settings import COMPAT_CATEGORY, REGISTRY, SettingError, Settings, validate_updates
from knowledge.settings_qnabot import (
    DOC_PATH,
    QNABOT_SETTINGS,
    honoured_defaults,
    markdown_table,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_qnabot_setting_is_declared_with_qnabots_default_unless_honoured():
    for qnabot in QNABOT_SETTINGS:
        declared = REGISTRY[qnabot.name]
        if declared.category == COMPAT_CATEGORY:
            assert declared.default == qnabot.default, qnabot.name


def test_each_setting_not_used_or_with_another_default_says_why():
    honoured = honoured_defaults()
    for qnabot in QNABOT_SETTINGS:
        if qnabot.name not in honoured or honoured[qnabot.name] != qnabot.default:
            assert qnabot.note, f"{qnabot.name}: say why it is not used or why its default differs"


def test_the_settings_doc_is_the_generated_table():
    assert (ROOT / DOC_PATH).read_text(encoding="utf-8") == markdown_table(honoured_defaults()), \
        "run make settings-doc"


@pytest.mark.parametrize(("value", "stages"), [
    ("KENDRA-FIRST", ["qna", "text", "kendra", "knowledge_base", "no_hits"]),
    ("KNOWLEDGEBASE-FIRST", ["qna", "text", "knowledge_base", "kendra", "no_hits"]),
    ("knowledgebase-first", ["qna", "text", "knowledge_base", "kendra", "no_hits"]),
    ("kendra,text", ["qna", "kendra", "text", "no_hits"]),
])
def test_qnabots_fallback_order_values_keep_every_source(value, stages):
    settings = Settings.defaults().with_overrides(FALLBACK_ORDER=value)
    assert [stage.name for stage in cascade(settings)] == stages


def test_a_fallback_order_naming_no_source_is_refused():
    with pytest.raises(SettingError, match="FALLBACK_ORDER: unknown KENDRA_FIRST"):
        validate_updates({"FALLBACK_ORDER": "KENDRA_FIRST"})


def test_pii_rejection_question_is_qnabots():
    assert Settings.defaults().get("PII_REJECTION_QUESTION") == "pii_rejection_question"


def test_custom_and_qnabot_only_settings_reach_hooks_and_templates():
    settings = Settings.from_overrides({"MY_HOOK_TABLE": "orders", "ENABLE_SENTIMENT_SUPPORT":
                                        "false"})
    everything = settings.all_text()
    assert everything["MY_HOOK_TABLE"] == "orders"
    assert everything["ENABLE_SENTIMENT_SUPPORT"] == "false"
    assert everything["ES_PHRASE_BOOST"] == "4"  # QnABot's default, though unused here
    assert settings.get("MY_HOOK_TABLE") == "orders"


def test_hooks_get_every_setting_typed_as_qnabot_types_them():
    from fulfillment.hooks import hook_payload
    from fulfillment.model import Answer, Request
    from knowledge.items import parse_item

    settings = Settings.from_overrides({"MY_HOOK_TABLE": "orders", "MY_LIMIT": "25",
                                        "ES_USE_FUZZY_MATCH": "TRUE"})
    item = parse_item({"qid": "Hook.1", "q": ["Run it"], "a": "Ran.", "l": "qna-hook"})
    payload = hook_payload(Request("s1", "Run it"), item, Answer("Ran.", "qna", qid="Hook.1"),
                           settings)
    sent = payload["req"]["_settings"]
    assert (sent["MY_HOOK_TABLE"], sent["MY_LIMIT"], sent["ES_USE_FUZZY_MATCH"]) == (
        "orders", 25, True)
    assert sent["ENABLE_DEBUG_RESPONSES"] is False and sent["ES_PHRASE_BOOST"] == 4
