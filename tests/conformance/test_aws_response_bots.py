"""The chaining demo in AWS mode: the name is read by QnABot's Lex response bot (the stack
maps ``QNAName`` to it in the environment), called through the Lex V2 runtime (Stubber)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from fulfillment import handler
from fulfillment.lex_runtime import LexRuntime
from fulfillment.llm.disabled import DisabledLLM
from fulfillment.memory import InMemoryUserStore, Memory
from fulfillment.pipeline import Services, TurnPipeline
from fulfillment.response_bots import LexResponseBots, LocalResponseBots, ResponseBotRouter
from tests.fulfillment.conftest import MemorySettingsRepo
from tests.fulfillment.lex_events import LexConversation

from .conftest import TODAY, attribute, context, said

NAME_BOT = {"botId": "NAMEBOT001", "botAliasId": "LIVEALIAS1", "localeId": "en_US"}


def lex_turn(dialog: str, state: str, message: str, first: str = "", last: str = "") -> dict:
    slots = {name: {"value": {"originalValue": v, "interpretedValue": v, "resolvedValues": [v]}}
             for name, v in (("FirstName", first), ("LastName", last)) if v}
    return {"sessionState": {"dialogAction": {"type": dialog},
                             "intent": {"name": "NameIntent", "state": state, "slots": slots,
                                        "confirmationState": "None"}},
            "messages": [{"contentType": "PlainText", "content": message}],
            "sessionId": "conf-aws"}


@pytest.fixture
def lex():
    client = boto3.client("lexv2-runtime", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    with stub:
        yield client, stub
    stub.assert_no_pending_responses()


def test_the_name_is_read_by_the_lex_response_bot_and_the_chain_goes_on(kb, lex):
    client, stub = lex
    stub.add_response("recognize_text", lex_turn("ConfirmIntent", "InProgress",
                                                 "Is John Smith correct (Yes/No)?",
                                                 "John", "Smith"),
                      {**NAME_BOT, "sessionId": "conf-aws", "text": "John Smith"})
    stub.add_response("recognize_text", lex_turn("Close", "Fulfilled", "OK. ", "John", "Smith"),
                      {**NAME_BOT, "sessionId": "conf-aws", "text": "yes"})
    bots = ResponseBotRouter(
        LocalResponseBots(clock=lambda: TODAY),
        LexResponseBots(LexRuntime(client),
                        environ={"QNAName": "lexv2::NAMEBOT001/LIVEALIAS1/en_US"}))
    services = Services(kb=kb, llm=DisabledLLM(), memory=Memory(InMemoryUserStore()),
                        response_bots=bots)
    handler.set_service(handler.FulfillmentService(TurnPipeline(services),
                                                   MemorySettingsRepo()))
    try:
        chat = LexConversation(handler.lambda_handler, session_id="conf-aws")
        chat.ask("Start Chaining Demo")
        confirm = chat.ask("John Smith")
        assert said(confirm) == "Is John Smith correct (Yes/No)?"
        assert context(confirm)["elicitResponse"]["progress"] == "ConfirmIntent"
        done = chat.ask("yes")
        assert said(done) == "OK. How old are you, in years?"
        assert attribute(done, "demo")["name"] == {"FirstName": "John", "LastName": "Smith"}
        # the age bot is not mapped to Lex: it is read locally
        assert said(chat.ask("33")) == "Is 33 correct (Yes/No)?"
    finally:
        handler.set_service(None)
