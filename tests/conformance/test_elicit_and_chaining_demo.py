"""QnABot's chaining demo, replayed: elicit a name and an age, chain on the age, elicit free
text, finish. Each reply goes through the Lex handler as Lex sends it."""

from __future__ import annotations

from .conftest import attribute, context, markdown, said


def start(conversation):
    chat = conversation()
    first = chat.ask("Start Chaining Demo")
    return chat, first


def test_the_start_item_answers_and_waits_for_a_name(conversation):
    _, first = start(conversation)
    assert said(first) == "Welcome to the chaining demo. What is your first and last name?"
    pending = context(first)["elicitResponse"]
    assert pending["responsebot"] == "QNAName"
    assert pending["namespace"] == "demo.name"
    assert attribute(first, "demo") == {"name": {}}
    # the dialog stays open, so a voice channel keeps listening for the name
    assert first["sessionState"]["dialogAction"] == {"type": "ElicitIntent"}
    assert first["sessionState"]["intent"]["name"] == "QnaIntent"


def test_a_name_is_confirmed_then_captured_and_the_chain_asks_the_age(conversation):
    chat, _ = start(conversation)
    confirm = chat.ask("my name is john smith")
    assert said(confirm) == "Is John Smith correct (Yes/No)?"
    card = next(m for m in confirm["messages"] if m["contentType"] == "ImageResponseCard")
    assert [b["value"] for b in card["imageResponseCard"]["buttons"]] == ["Yes", "No"]
    chained = chat.ask("yes")
    assert said(chained) == "OK. How old are you, in years?"
    assert attribute(chained, "demo")["name"] == {"FirstName": "John", "LastName": "Smith"}
    assert context(chained)["elicitResponse"]["responsebot"] == "QNAAge"
    assert chained["sessionState"]["sessionAttributes"]["qnabot_qid"] == "Demo.20.Age"


def test_the_age_chooses_the_branch_and_chaining_runs_on_to_the_next_question(conversation):
    chat, _ = start(conversation)
    chat.ask("Jane Doe")
    chat.ask("yes")
    assert said(chat.ask("seventy")) == "Is 70 correct (Yes/No)?"
    senior = chat.ask("yes")
    assert said(senior) == ("OK. Over 60: try the steamship history tour. "
                            "Any comments on the demo?")
    # markdown joins only where both items have it, as QnABot's mergeNext does
    assert markdown(senior) == ("Over 60: try the **steamship history tour**.\n"
                                "***Any comments on the demo?***")
    assert context(senior)["elicitResponse"]["responsebot"] == "QNAFreeText"
    assert attribute(senior, "demo")["age"] == {"Age": "70"}
    assert attribute(senior, "demo")["name"]["FirstName"] == "Jane"


def test_saying_no_asks_again_and_the_other_branches_are_reached(conversation):
    chat, _ = start(conversation)
    chat.ask("Jane Doe")
    chat.ask("yes")
    chat.ask("8")
    assert said(chat.ask("no")) == "Please tell me your age again."
    assert said(chat.ask("I am 9 years old")) == "Is 9 correct (Yes/No)?"
    assert said(chat.ask("yes")).startswith("OK. Under 12: try the harbor ferry cartoon.")

    chat, _ = start(conversation)
    chat.ask("Jane Doe")
    chat.ask("yes")
    chat.ask("thirty")
    assert said(chat.ask("yep")).startswith("OK. Between 12 and 60")


def test_free_text_is_captured_and_the_demo_finishes(conversation):
    chat, _ = start(conversation)
    for reply in ("Ann Lee", "yes", "40", "yes"):
        chat.ask(reply)
    finish = chat.ask("Loved the ferry part")
    assert said(finish) == "Ok. Thanks for trying the demo."
    assert attribute(finish, "demo")["comment"]["FreeText"] == "Loved the ferry part"
    assert "elicitResponse" not in context(finish)
    assert finish["sessionState"]["dialogAction"] == {"type": "Close"}
    after = chat.ask("Start Chaining Demo")
    assert said(after).startswith("Welcome to the chaining demo")


def test_replies_not_understood_are_retried_then_the_chain_goes_on_with_boterror(
        conversation, settings_repo):
    chat, _ = start(conversation)
    first = chat.ask("12345")
    assert said(first) == "Please try again."
    assert context(first)["elicitResponse"]["loopCount"] == 1
    assert said(chat.ask("67890")) == "Please try again."
    gave_up = chat.ask("0000")
    # the start item chains on, so QnABot's failure message gives way to the chain
    assert said(gave_up) == "Ok. How old are you, in years?"
    assert attribute(gave_up, "demo")["name"]["boterror"] == "true"


def test_the_retry_limit_and_messages_are_settings(conversation, settings_repo):
    settings_repo.save({"ELICIT_RESPONSE_MAX_RETRIES": "1",
                        "ELICIT_RESPONSE_DEFAULT_MSG": "Fine. "})
    chat, _ = start(conversation)
    assert said(chat.ask("12345")) == "Fine. How old are you, in years?"


def test_a_rule_reading_a_value_that_never_came_compares_as_javascript_does(
        conversation, settings_repo):
    settings_repo.save({"ELICIT_RESPONSE_MAX_RETRIES": "2"})
    chat, _ = start(conversation)
    chat.ask("Ann Lee")
    chat.ask("yes")  # now at the age question, which chains on the age
    chat.ask("old")
    gave_up = chat.ask("very old")
    assert attribute(gave_up, "demo")["age"]["boterror"] == "true"
    # undefined >= 60 and undefined < 12 are both false: the last branch, as in QnABot
    assert said(gave_up).startswith("Ok. Between 12 and 60")


def test_an_item_without_chaining_gives_the_failure_message(conversation):
    chat = conversation()
    chat.ask("Subscribe me to the newsletter")
    assert said(chat.ask("my email is nope")) == "Please try again."
    assert said(chat.ask("still no")) == "Please try again."
    gave_up = chat.ask("not telling")
    assert said(gave_up) == "Your response was not understood. Please start again."
    assert attribute(gave_up, "signup") == {"boterror": "true"}
    assert "elicitResponse" not in context(gave_up)


def test_an_email_is_captured_without_confirmation(conversation):
    chat = conversation()
    chat.ask("Subscribe me to the newsletter")
    done = chat.ask("it is Jane.Doe@Example.com")
    assert said(done) == "OK."
    assert attribute(done, "signup") == {"EmailAddress": "Jane.Doe@example.com"}
