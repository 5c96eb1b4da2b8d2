"""Shared test set-up: a knowledge base with the public fixtures plus a few demo items, and
factories for the pipeline and the handler with test doubles for every port."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from fulfillment import handler
from fulfillment.llm.disabled import DisabledLLM
from fulfillment.memory import InMemoryUserStore, Memory
from fulfillment.pipeline import Services, TurnPipeline
from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.items import parse_item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.matching import Hit, SearchResult
from knowledge.settings import Settings, validate_updates
from knowledge.store import SearchField
from knowledge.stores.sqlite_store import SqliteStore
from tests.shared_fixtures import FIXTURES

#: Demo items beyond the fixtures: the Amazon Lex conversation of the issue, and a passage
#: about CRM integration with a source link.
LEX_ITEMS = [
    {"qid": "Lex.001", "q": ["What is Amazon Lex?", "Tell me about Amazon Lex"],
     "a": "Amazon Lex is an AWS service for building conversational interfaces with voice "
          "and text.", "t": "Lex"},
    {"qid": "Lex.CRM", "q": ["Can Amazon Lex integrate with my CRM?",
                             "Does Amazon Lex work with Salesforce CRM?"],
     "a": "Yes. Amazon Lex integrates with CRM systems through AWS Lambda functions.",
     "t": "Lex"},
    {"qid": "Lex.Pricing", "type": "text",
     "passage": "Amazon Lex pricing is pay as you go: you pay per text or speech request "
                "processed, with no upfront commitments or minimum fees.",
     "refMarkdown": "[Amazon Lex pricing](https://aws.amazon.com/lex/pricing/)", "t": "Lex"},
]


def fixture_items() -> list:
    items = []
    for name in ("blog-samples-final.json", "TextPassage-NurseryRhymeExamples.json"):
        data = json.loads((FIXTURES / name).read_text("utf-8-sig"))
        items.extend(parse_item(raw) for raw in data["qna"])
    return items


def build_kb(path: Path, extra: Iterable[dict] = (), *, fixtures: bool = True) -> ScriptedKB:
    """A knowledge base at ``path`` with the fixtures (unless ``fixtures=False``) and ``extra``
    items, matching :data:`SCRIPTED_MATCHES` as scripted."""
    kb = KnowledgeBase(SqliteStore(path), HashingEmbeddings())
    items = (fixture_items() if fixtures else []) + [parse_item(raw) for raw in extra]
    if items:
        kb.put_items(items)
    return ScriptedKB(kb)


#: Questions whose matches the pipeline tests fix, so that they test the pipeline and not the
#: ranking of the test embeddings (the matcher has its own tests): question -> hits as
#: (qid, stage, score). An empty list means nothing matches.
SCRIPTED_MATCHES = {
    "What did Little Bo-Peep lose?": [("0.BoPeep", "passages", 0.8),
                                      ("0.HumptyDumpty", "passages", 0.3)],
    "Name the capital city of Peru": [],
    "What is the capital of Peru?": [],
    "What did she lose? Little Bo-Peep lost something": [("0.BoPeep", "passages", 0.85)],
}


class ScriptedKB:
    """The knowledge base, with the matches of :data:`SCRIPTED_MATCHES` fixed.

    Other questions are matched by the real knowledge base. Records every search.
    """

    def __init__(self, kb: KnowledgeBase, script: Mapping[str, list] = SCRIPTED_MATCHES):
        self.kb, self.store, self.script = kb, kb.store, script
        self.searches: list[tuple[str, dict]] = []

    def search(self, query: str, settings: Settings, **kwargs) -> SearchResult:
        self.searches.append((query, kwargs))
        if query not in self.script:
            return self.kb.search(query, settings, **kwargs)
        hits = []
        for qid, stage, score in self.script[query]:
            item = self.store.get(qid)
            field = SearchField(stage)
            threshold = settings.get(_THRESHOLDS[field])
            hits.append(Hit(item, field, score, score, 0.0, 0.0,
                            item.passage if field == SearchField.PASSAGES else item.questions[0],
                            threshold, verdict="similarity" if score >= threshold else ""))
        return SearchResult(query=query, mode="hybrid", candidates=hits)


_THRESHOLDS = {SearchField.QUESTIONS: "EMBEDDINGS_SCORE_THRESHOLD",
               SearchField.ANSWERS: "EMBEDDINGS_SCORE_ANSWER_THRESHOLD",
               SearchField.PASSAGES: "EMBEDDINGS_TEXT_PASSAGE_SCORE_THRESHOLD"}


@pytest.fixture
def kb(tmp_path) -> ScriptedKB:
    """The fixtures and the Lex demo items, with deterministic test embeddings and the
    scripted matches of :data:`SCRIPTED_MATCHES`."""
    return build_kb(tmp_path / "k.sqlite", LEX_ITEMS)


@pytest.fixture
def settings() -> Settings:
    return Settings.defaults()


def make_services(kb: KnowledgeBase, llm=None, *, retrievers: Mapping | None = None,
                  hooks=None, memory: Memory | None = None, pii=None,
                  guard=None) -> Services:
    return Services(kb=kb, llm=llm or DisabledLLM(),
                    memory=memory or Memory(InMemoryUserStore()),
                    retrievers=dict(retrievers or {}), hooks=hooks, pii=pii, guard=guard)


def make_pipeline(kb: KnowledgeBase, llm=None, **kwargs) -> TurnPipeline:
    return TurnPipeline(make_services(kb, llm, **kwargs))


class MemorySettingsRepo:
    """An in-memory settings repository (the port of ``knowledge.settings``)."""

    def __init__(self, **values):
        self.values: dict[str, str] = validate_updates(values) if values else {}

    def overrides(self) -> dict[str, str]:
        return dict(self.values)

    def save(self, values) -> None:
        self.values.update(validate_updates(values))

    def remove(self, names) -> None:
        for name in list(self.values if names is None else names):
            self.values.pop(name, None)


@pytest.fixture
def use_service():
    """``use_service(pipeline, repo)`` makes ``lambda_handler`` use them for this test."""

    def install(pipeline: TurnPipeline, repo: MemorySettingsRepo | None = None):
        repo = repo or MemorySettingsRepo()
        handler.set_service(handler.FulfillmentService(pipeline, repo))
        return repo

    yield install
    handler.set_service(None)


def converse_reply(text: str, input_tokens: int = 12, output_tokens: int = 5) -> dict:
    """A Bedrock ``converse`` reply, for Stubber."""
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens,
                      "totalTokens": input_tokens + output_tokens},
            "metrics": {"latencyMs": 120}}
