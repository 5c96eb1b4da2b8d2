"""The conformance set-up: QnABot-format content imported as an admin would, conversations
replayed through the Lex handler, and test doubles for every AWS port (response bots are the
local ones; the specialty bots a stub and a Lambda double)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fulfillment import handler, metrics
from fulfillment.llm.disabled import DisabledLLM
from fulfillment.memory import InMemoryUserStore, Memory
from fulfillment.pipeline import Services, TurnPipeline
from fulfillment.response_bots import LexResponseBots, LocalResponseBots, ResponseBotRouter
from fulfillment.routing import BotReply, SpecialtyBots, StubBot
from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.importer import import_files
from knowledge.knowledge_base import KnowledgeBase
from knowledge.stores.sqlite_store import SqliteStore
from tests.fulfillment.conftest import FIXTURES, MemorySettingsRepo
from tests.fulfillment.lex_events import LexConversation

CONTENT = Path(__file__).parent / "content"
ORDER_BOT = "lexv2::ORDERBOT01/ALIAS01/en_US"
#: "Today" for the local response bots' relative dates.
TODAY = datetime(2026, 12, 2, 12, 0)


class FeedbackRecords:
    """The metrics sink double: keeps every feedback record, and every turn record apart."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.turns: list[dict[str, Any]] = []

    def record_turn(self, record: Mapping[str, Any]) -> None:
        self.turns.append(dict(record))

    def record_feedback(self, record: Mapping[str, Any]) -> None:
        self.records.append(dict(record))


class LambdaDouble:
    """Plays the Lambda functions the content names: a chaining rule and a bot router."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.helpdesk_turns = 0

    def invoke(self, function_name: str, payload: Mapping[str, Any]) -> Any:
        self.calls.append((function_name, json.loads(json.dumps(payload))))
        if function_name == "qna-chaining-rule":
            return {"req": {"question": "Rule function target"}, "res": payload.get("res")}
        if function_name in ("qna-upper", "qna-suffix"):
            event = json.loads(json.dumps(payload))
            message = event["res"]["message"]
            event["res"]["message"] = message.upper() if function_name == "qna-upper" else \
                f"{message} ({event['res']['result']['args'][0]})"
            return event
        if function_name == "qna-helpdesk-router":
            self.helpdesk_turns += 1
            session = dict(payload["req"]["sessionAttributes"])
            if self.helpdesk_turns == 1:
                return {"message": "Helpdesk here. What is broken?",
                        "messageFormat": "PlainText",
                        "sessionAttributes": {**session, "ticket": "T-1"}}
            return {"message": f"Ticket {session.get('ticket')} updated.",
                    "messageFormat": "PlainText",
                    "sessionAttributes": {**session, "QNABOT_END_ROUTING": "true"}}
        raise AssertionError(f"unexpected Lambda {function_name}")


def order_bot(text: str, attributes: Mapping[str, Any]) -> BotReply:
    """A Lex flower-ordering bot: asks the flower type, then closes with an order id."""
    if "order" in text.lower():
        return BotReply("What type of flowers would you like?", "ElicitSlot",
                        {**attributes, "step": "type"})
    return BotReply(f"Your {text} are ordered.", "Close", {**attributes, "orderId": "A-17"})


@pytest.fixture
def lambdas() -> LambdaDouble:
    return LambdaDouble()


@pytest.fixture
def feedback() -> FeedbackRecords:
    return FeedbackRecords()


@pytest.fixture
def order_stub() -> StubBot:
    return StubBot(order_bot)


@pytest.fixture
def settings_repo() -> MemorySettingsRepo:
    return MemorySettingsRepo()


@pytest.fixture
def kb(tmp_path):
    """QnABot's own sample export plus this suite's QnABot-format files, imported."""
    knowledge_base = KnowledgeBase(SqliteStore(tmp_path / "kb.sqlite"), HashingEmbeddings())
    files = [FIXTURES / "blog-samples-final.json", *sorted(CONTENT.glob("*.json"))]
    report = import_files(knowledge_base, files)
    assert report.rejected == 0, report.problems
    yield knowledge_base
    knowledge_base.store.close()


@pytest.fixture
def conversation(kb, lambdas, feedback, order_stub, settings_repo):
    """``conversation()`` starts a Lex session with the fulfillment Lambda handler."""
    services = Services(
        kb=kb, llm=DisabledLLM(), memory=Memory(InMemoryUserStore()), hooks=lambdas,
        response_bots=ResponseBotRouter(LocalResponseBots(clock=lambda: TODAY),
                                        LexResponseBots(environ={})),
        specialty_bots=SpecialtyBots(hooks=lambdas, stubs={ORDER_BOT: order_stub},
                                     environ={}))
    handler.set_service(handler.FulfillmentService(TurnPipeline(services), settings_repo))
    metrics.set_metrics_sink(feedback)
    count = iter(range(1, 1000))
    yield lambda: LexConversation(handler.lambda_handler, session_id=f"conf-{next(count)}")
    handler.set_service(None)
    metrics.set_metrics_sink(None)


def said(response: dict) -> str:
    """Everything the bot said in plain text."""
    return " ".join(m["content"] for m in response["messages"]
                    if m["contentType"] in ("PlainText", "SSML"))


def context(response: dict) -> dict[str, Any]:
    """The response's ``qnabotcontext``."""
    return json.loads(response["sessionState"]["sessionAttributes"]["qnabotcontext"])


def attribute(response: dict, name: str) -> Any:
    """A session attribute of the response, JSON parsed when it holds an object."""
    value = response["sessionState"]["sessionAttributes"].get(name)
    try:
        return json.loads(value) if value and value[:1] in "{[" else value
    except ValueError:
        return value


def markdown(response: dict) -> str:
    app = json.loads(response["sessionState"]["sessionAttributes"]["appContext"])
    return app["altMessages"]["markdown"]
