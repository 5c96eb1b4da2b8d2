"""Elicit response: an item asks a question, and the next turn's reply is captured.

An item with ``elicitResponse`` (``responsebot_hook``: which of QnABot's response bots reads
the reply, ``response_sessionattr_namespace``: where its slots go) is answered as usual and
leaves a dialog open in ``qnabotcontext.elicitResponse`` (:class:`ElicitStart`). On the next
turns :class:`ElicitStage` sends the reply to the bot (:mod:`fulfillment.response_bots`):

* the bot asks to confirm ("Is 42 correct (Yes/No)?", with Yes/No buttons) or asks again;
* a reply it does not understand gets ``ELICIT_RESPONSE_RETRY_MESSAGE``, up to
  ``ELICIT_RESPONSE_MAX_RETRIES`` times; then ``<namespace>.boterror`` is ``"true"`` and the
  user gets ``ELICIT_RESPONSE_BOT_FAILURE_MESSAGE`` (unless the item chains on: then the
  chain decides, as in QnABot);
* once fulfilled, the slots are stored in the session at the namespace (``demo.age`` ->
  ``SessionAttributes.demo.age.Age``) and the item's ``conditionalChaining`` is followed, its
  answer joined after the bot's last words ("OK. ").

Example (QnABot's ConditionalChainingDemo): "Start Chaining Demo" asks for a name; "John
Smith" -> "Is John Smith correct (Yes/No)?"; "yes" -> "OK. Hi John. Now tell me your age".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fulfillment.chaining import follow_rule
from fulfillment.lex_event import ACCEPT_CONTENT_TYPES
from fulfillment.model import Answer, CardButton, ResponseCard
from fulfillment.pipeline import TurnState
from fulfillment.response_bots import ResponseBotError, ResponseBots
from fulfillment.session import context_entry, count_value, set_value

log = logging.getLogger(__name__)

#: The ``qnabotcontext`` entry holding an open elicit-response dialog (QnABot's name).
CONTEXT_KEY = "elicitResponse"
_TAGS = re.compile(r"</?[^>]+>")
_CONFIRM_CARD = ResponseCard("Info", buttons=(CardButton("Yes", "Yes"), CardButton("No", "No")))


def keypad_confirmation(state: TurnState, bot: str, progress: str) -> str:
    """The reply, with Amazon Connect's keypad answers to "Is X correct?" made words, as
    QnABot does for callers: 1 (or "one", "correct") is Yes, 2 (or "two") is No."""
    reply = state.question
    from_connect = ACCEPT_CONTENT_TYPES in state.request.request_attributes
    if not from_connect or progress != "ConfirmIntent" or bot in ("QNAYesNo", "QNAYesNoExit"):
        return reply
    word = reply.strip().lower()
    return "Yes" if word in ("1", "one", "correct") else "No" if word in ("2", "two") else reply


class ElicitStage:
    """Answers a turn while an item's question is waiting for its reply."""

    name = "elicit"

    def __init__(self, bots: ResponseBots):
        self.bots = bots

    def answer(self, state: TurnState) -> Answer | None:
        """The bot's next words, or the chained item's answer once the reply is captured;
        None when no elicit-response dialog is open."""
        dialog = context_entry(state.request, CONTEXT_KEY)
        bot = dialog.get("responsebot")
        if not isinstance(bot, str) or not bot:
            return None
        state.debug.dialog = f"elicit response ({bot})"
        settings = state.settings
        try:
            kept = dialog.get("botState")
            progress = str(dialog.get("progress") or "")
            turn = self.bots.recognize(
                bot, keypad_confirmation(state, bot, progress), user_id=state.request.user_id,
                state=kept if isinstance(kept, Mapping) else {}, progress=progress)
            outcome, message, slots, bot_state = (turn.dialog_state, turn.message,
                                                  turn.slots, turn.state)
        except ResponseBotError as exc:
            state.debug.degraded.append(f"response bot {bot} failed: {exc}")
            log.warning("response bot %s failed: %s", bot, exc)
            outcome, message, slots, bot_state = "Failed", "", {}, {}
        namespace = dialog.get("namespace")
        namespace = namespace.strip() if isinstance(namespace, str) else ""
        chaining = dialog.get("chainingConfig")
        chaining = chaining if isinstance(chaining, str) else ""
        answer = Answer(text="", source="elicit")
        keep_open = True
        if outcome == "ConfirmIntent":
            answer.text, answer.card = message, _CONFIRM_CARD
        elif outcome == "Failed":
            retries = count_value(dialog.get("loopCount")) + 1
            dialog["loopCount"] = retries
            if retries >= settings.get("ELICIT_RESPONSE_MAX_RETRIES"):
                keep_open = False
                if namespace:
                    answer = set_value(state.request, answer, f"{namespace}.boterror", "true")
                if not chaining:
                    answer.text = settings.get("ELICIT_RESPONSE_BOT_FAILURE_MESSAGE")
            else:
                outcome, answer.text = "ErrorHandling", settings.get(
                    "ELICIT_RESPONSE_RETRY_MESSAGE")
        elif outcome in ("Fulfilled", "ReadyForFulfillment", "Close"):
            keep_open = False
            answer.text = message
            if namespace:
                answer = set_value(state.request, answer, namespace, slots)
        else:  # ElicitSlot, ElicitIntent: the bot asks again
            answer.text = message or settings.get("ELICIT_RESPONSE_RETRY_MESSAGE")
        answer.text = answer.text or settings.get("ELICIT_RESPONSE_DEFAULT_MSG")
        if "<speak>" in answer.text:  # a Lex bot's SSML prompt: spoken as SSML, shown as text
            ssml = answer.text if "</speak>" in answer.text else f"{answer.text}</speak>"
            answer.text, answer.ssml = _TAGS.sub("", answer.text).strip(), ssml
        if keep_open:
            answer.context[CONTEXT_KEY] = {**dialog, "progress": outcome, "botState": bot_state}
            return answer
        if chaining:
            chained = follow_rule(state, answer, chaining)
            if chained is not None:
                return chained
        return answer


class ElicitStart:
    """Opens the dialog when the answered item has ``elicitResponse``."""

    name = "elicit_start"

    def apply(self, state: TurnState, answer: Answer) -> Answer:
        """The answer, with the dialog opened and the namespace emptied for the reply."""
        item = state.item
        if item is None or answer.qid != item.qid:
            return answer
        settings: dict[str, Any] = dict(item.elicit_response)
        bot = settings.get("responsebot_hook")
        namespace = settings.get("response_sessionattr_namespace")
        if not (isinstance(bot, str) and bot.strip() and isinstance(namespace, str) and
                namespace.strip()):
            return answer
        answer = set_value(state.request, answer, namespace.strip(), {})
        answer.context[CONTEXT_KEY] = {
            "responsebot": bot.strip(), "namespace": namespace.strip(),
            "chainingConfig": item.conditional_chaining or None, "loopCount": 0,
            "progress": "", "botState": {}, "qid": item.qid,
        }
        return answer
