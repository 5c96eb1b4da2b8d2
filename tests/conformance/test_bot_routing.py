"""Bot routing: an item hands the conversation to a specialty bot (Lex V2 or Lambda) and it
comes back on the exit phrase or when the bot is done, with the attributes QnABot names."""

from __future__ import annotations

from .conftest import attribute, context, said


def test_routing_relays_turns_to_the_bot_and_comes_back_when_it_closes(conversation,
                                                                       order_stub):
    chat = conversation()
    chat.attributes["customer"] = "Ann"
    first = chat.ask("I want to order flowers")
    assert said(first) == ("Connecting you to the order bot. "
                           "What type of flowers would you like?")
    assert order_stub.heard == ["I want to order flowers"]  # ${utterance}
    assert context(first)["specialtyBotName"] == "OrderFlowers"
    done = chat.ask("roses")
    assert order_stub.heard[-1] == "roses"
    assert said(done) == ("Your roses are ordered. Welcome back to QnABot."
                          "Anything else I can help with?")
    assert attribute(done, "order") == {"orderId": "A-17"}
    assert "specialtyBot" not in context(done)


def test_the_bot_gets_the_attributes_to_merge_and_keeps_its_own(conversation, order_stub):
    seen = []
    respond = order_stub.respond
    order_stub.respond = lambda text, attributes: (seen.append(dict(attributes)),
                                                   respond(text, attributes))[1]
    chat = conversation()
    chat.attributes["customer"] = "Ann"
    chat.ask("I want to order flowers")
    chat.ask("tulips")
    assert seen[0] == {"customer": "Ann"}
    assert seen[1] == {"customer": "Ann", "step": "type"}


def test_an_exit_phrase_ends_the_routing(conversation, order_stub, settings_repo):
    settings_repo.save({"BOT_ROUTER_EXIT_MSGS": "exit,stop ordering",
                        "BOT_ROUTER_WELCOME_BACK_MSG": "Back with QnABot. "})
    chat = conversation()
    chat.ask("I want to order flowers")
    back = chat.ask("Stop ordering")
    assert said(back) == "Back with QnABot. Anything else I can help with?"
    assert order_stub.heard == ["I want to order flowers"]
    assert said(chat.ask("Start the harbor tour")) == "Stop 1: the ferry dock."


def test_a_lambda_bot_router_gets_qnabots_payload_and_ends_with_qnabot_end_routing(
        conversation, lambdas):
    chat = conversation()
    assert said(chat.ask("Talk to the helpdesk bot")) == "Handing you to the helpdesk."
    reply = chat.ask("my screen is broken")
    assert said(reply) == "Helpdesk here. What is broken?"
    name, payload = lambdas.calls[0]
    assert name == "qna-helpdesk-router"
    assert payload == {"req": {"request": "message", "inputText": "my screen is broken",
                               "sessionAttributes": {}, "userId": chat.session_id}}
    done = chat.ask("it flickers")
    assert lambdas.calls[1][1]["req"]["sessionAttributes"] == {"ticket": "T-1"}
    assert said(done) == "Ticket T-1 updated. Welcome back to QnABot."
    assert "specialtyBot" not in context(done)


def test_a_bot_that_cannot_be_reached_gives_the_conversation_back(conversation, lambdas,
                                                                   settings_repo):
    settings_repo.save({"LAMBDA_HOOK_FUNCTION_PREFIX": "corp-"})
    chat = conversation()
    chat.ask("Talk to the helpdesk bot")
    answer = chat.ask("Start the harbor tour")
    assert said(answer) == "Stop 1: the ferry dock."
    assert lambdas.calls == []
