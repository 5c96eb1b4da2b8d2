"""Guided navigation with QnABot's built-in Next/Previous hooks, run in process."""

from __future__ import annotations

from .conftest import context, said


def qid(response: dict) -> str:
    return response["sessionState"]["sessionAttributes"]["qnabot_qid"]


def test_next_follows_each_items_next_and_previous_walks_back(conversation):
    chat = conversation()
    assert said(chat.ask("Start the harbor tour")) == "Stop 1: the ferry dock."
    second = chat.ask("Next")
    assert (said(second), qid(second)) == ("Stop 2: the lighthouse.", "Tour.2.Lighthouse")
    assert context(second)["navigation"] == {"next": "Tour.3.Museum",
                                             "previous": ["Tour.1.Dock"]}
    third = chat.ask("Next stop")
    assert qid(third) == "Tour.3.Museum"
    assert context(third)["navigation"]["previous"] == ["Tour.1.Dock", "Tour.2.Lighthouse"]
    back = chat.ask("Previous")
    assert (said(back), qid(back)) == ("Stop 2: the lighthouse.", "Tour.2.Lighthouse")
    assert context(back)["navigation"]["previous"] == ["Tour.1.Dock"]
    assert said(chat.ask("Go back")) == "Stop 1: the ferry dock."
    assert said(chat.ask("Previous")) == "There is no previous stop."


def test_next_at_the_end_says_so_and_keeps_the_place(conversation):
    chat = conversation()
    chat.ask("Tell me about the maritime museum")
    end = chat.ask("Next")
    assert said(end) == "There is no next stop."
    assert context(end)["previous"]["qid"] == "Tour.3.Museum"
    assert said(chat.ask("Previous")) == "There is no previous stop."
