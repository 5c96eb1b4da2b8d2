"""QnABot's response bots: the bots that read the reply to an item's ``elicitResponse``.

:class:`ResponseBots` is the port. :class:`LocalResponseBots` plays QnABot's bots
(``QNAYesNo``, ``QNADate``, ``QNAName`` ... and their ``NoConfirm`` variants) without Lex: it
parses the reply with :mod:`fulfillment.slot_values` and, for the bots that confirm, asks
"Is X correct (Yes/No)?" first, as the Lex bots do. :class:`LexResponseBots` asks the real
bots through the Lex V2 runtime (the stack maps each simple name to its bot in an environment
variable, see :mod:`fulfillment.lex_runtime`), or any ``lexv2::`` bot an item names.
:class:`ResponseBotRouter` uses Lex for a bot the environment maps, and the local bots
otherwise.

Example:
    >>> bots = LocalResponseBots()
    >>> turn = bots.recognize("QNAAgeNoConfirm", "I'm 42", user_id="u1", state={})
    >>> turn.dialog_state, turn.slots
    ('Fulfilled', {'Age': '42'})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from fulfillment import slot_values as parse
from fulfillment.lex_runtime import LexRuntime, bot_identity, dialog_state, slot_values

#: QnABot's free-text bot: the reply itself, never asked about (no Lex bot involved).
FREE_TEXT_BOT = "QNAFreeText"
#: Dialog states that end the bot's part (QnABot's ``botIsFulfilled``).
FINISHED_STATES = frozenset({"Fulfilled", "ReadyForFulfillment", "Close", "Failed"})


class ResponseBotError(RuntimeError):
    """The response bot is unknown or could not be reached."""


@dataclass(frozen=True)
class BotTurn:
    """One reply of a response bot.

    ``dialog_state`` is Lex's (``ElicitSlot``, ``ConfirmIntent``, ``Fulfilled``, ``Failed`` ...);
    ``state`` is what a local bot keeps for its next turn (Lex keeps its own).
    """

    dialog_state: str
    message: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


class ResponseBots(Protocol):
    """Port: send the user's reply to a response bot."""

    def recognize(self, bot: str, text: str, *, user_id: str, state: Mapping[str, Any],
                  progress: str = "") -> BotTurn:
        """The bot's reply; raises :class:`ResponseBotError` when it cannot answer."""
        ...


@dataclass(frozen=True)
class SlotSpec:
    """A local response bot: how it reads a reply, and how it asks to confirm."""

    read: Callable[[str], dict[str, str] | None]
    confirm: str = ""  # "Is {Age} correct (Yes/No)?"; empty for bots that do not confirm
    again: str = ""  # what it says when the user says the value is wrong


def _one(slot: str, parser: Callable[[str], str | None]) -> Callable[[str], dict | None]:
    def read(text: str) -> dict[str, str] | None:
        value = parser(text)
        return None if value is None else {slot: value}
    return read


def _free_text(text: str) -> dict[str, str]:
    # Sentiment comes from Amazon Comprehend in QnABot, when enabled; none is detected here.
    return {"FreeText": text, "Sentiment": "", "SentimentPositive": "",
            "SentimentNegative": "", "SentimentNeutral": "", "SentimentMixed": ""}


def local_bots(clock: Callable[[], datetime], region: str = "US") -> dict[str, SlotSpec]:
    """QnABot's response bots, by name, parsed locally (``clock`` anchors relative dates)."""
    bots: dict[str, SlotSpec] = {
        "QNAYesNo": SlotSpec(_one("Yes_No", parse.parse_yes_no)),
        "QNAYesNoExit": SlotSpec(_one("Yes_No_Exit", parse.parse_yes_no_exit)),
        FREE_TEXT_BOT: SlotSpec(_free_text),
    }
    confirmed = {  # name: (slot, parser, what to ask again)
        "QNADate": ("Date", parse.date_parser(clock), "the date"),
        "QNADayOfWeek": ("DayOfWeek", parse.parse_day_of_week, "the day of the week"),
        "QNAMonth": ("Month", parse.parse_month, "the month"),
        "QNANumber": ("Number", parse.parse_number, "the number"),
        "QNAAge": ("Age", parse.parse_age, "your age"),
        "QNAPhoneNumber": ("PhoneNumber", parse.phone_parser(region), "the phone number"),
        "QNATime": ("Time", parse.time_parser(clock), "the time"),
        "QNAEmailAddress": ("EmailAddress", parse.parse_email, "the email address"),
        "QNAPin": ("Pin", parse.parse_pin, "all the digits"),
        "QNAWage": ("Wage", parse.parse_wage, "your wage"),
        "QNASocialSecurity": ("SSN", parse.parse_ssn, "the social security number"),
    }
    for name, (slot, parser, what) in confirmed.items():
        spec = SlotSpec(_one(slot, parser), f"Is {{{slot}}} correct (Yes/No)?",
                        f"Please tell me {what} again.")
        bots[name] = spec
        bots[f"{name}NoConfirm"] = SlotSpec(spec.read)
    bots["QNAName"] = SlotSpec(parse.parse_name, "Is {FirstName} {LastName} correct (Yes/No)?",
                               "Please tell me your name again.")
    bots["QNANameNoConfirm"] = SlotSpec(parse.parse_name)
    return bots


class LocalResponseBots:
    """QnABot's response bots played without Lex, with Lex's confirm-then-fulfil dialog."""

    def __init__(self, clock: Callable[[], datetime] = datetime.now, region: str = "US"):
        self.bots = local_bots(clock, region)

    def known(self, bot: str) -> bool:
        """True when ``bot`` is one of QnABot's response bots."""
        return bot in self.bots

    def recognize(self, bot: str, text: str, *, user_id: str, state: Mapping[str, Any],
                  progress: str = "") -> BotTurn:
        """Read the reply: ask to confirm, fulfil, or fail (the user is asked again)."""
        spec = self.bots.get(bot)
        if spec is None:
            raise ResponseBotError(f"unknown response bot {bot!r}; QnABot's are "
                                   f"{', '.join(sorted(self.bots))}")
        pending = state.get("pending")
        if isinstance(pending, Mapping):
            answer = parse.parse_yes_no(text)
            if answer == "Yes":
                return BotTurn("Fulfilled", "OK. ", dict(pending))
            if answer == "No":
                return BotTurn("ElicitSlot", spec.again)
        slots = spec.read(text.strip()) if text.strip() else None
        if slots is None:
            return BotTurn("Failed")
        if spec.confirm:
            return BotTurn("ConfirmIntent", spec.confirm.format(**slots), slots,
                           {"pending": slots})
        return BotTurn("Fulfilled", "" if bot == FREE_TEXT_BOT else "OK. ", slots)


class LexResponseBots:
    """QnABot's response bots in Amazon Lex V2 (the bots the stack creates)."""

    def __init__(self, runtime: LexRuntime | None = None,
                 environ: Mapping[str, str] | None = None):
        self.runtime = runtime or LexRuntime()
        self.environ = environ

    def known(self, bot: str) -> bool:
        """True when ``bot`` designates a Lex V2 bot (mapped by the environment or inline)."""
        return bot_identity(bot, self.environ) is not None

    def recognize(self, bot: str, text: str, *, user_id: str, state: Mapping[str, Any],
                  progress: str = "") -> BotTurn:
        """Lex's reply; the phone and date bots get QnABot's lead-in while eliciting."""
        identity = bot_identity(bot, self.environ)
        if identity is None:
            raise ResponseBotError(f"{bot!r} is not a Lex V2 bot (lexv2::BotId/AliasId/Locale)")
        eliciting = progress in ("", "ElicitSlot", "ElicitIntent")
        if eliciting and bot in ("QNAPhoneNumber", "QNAPhoneNumberNoConfirm"):
            text = f"my number is {text}"
        elif eliciting and bot in ("QNADate", "QNADateNoConfirm"):
            text = f"the date is {text}"
        try:
            response = self.runtime.recognize_text(identity, text, user_id)
        except RuntimeError as exc:
            raise ResponseBotError(str(exc)) from exc
        messages = response.get("messages") or []
        message = str(messages[0].get("content") or "") if messages else ""
        return BotTurn(dialog_state(response), message, slot_values(response))


class ResponseBotRouter:
    """Lex for the bots the environment maps to Lex V2, the local bots for the others."""

    def __init__(self, local: LocalResponseBots | None = None,
                 lex: LexResponseBots | None = None):
        self.local = local or LocalResponseBots()
        self.lex = lex or LexResponseBots()

    def recognize(self, bot: str, text: str, *, user_id: str, state: Mapping[str, Any],
                  progress: str = "") -> BotTurn:
        """The reply of whichever bot ``bot`` names (free text never leaves the process)."""
        if bot != FREE_TEXT_BOT and self.lex.known(bot):
            return self.lex.recognize(bot, text, user_id=user_id, state=state,
                                      progress=progress)
        return self.local.recognize(bot, text, user_id=user_id, state=state, progress=progress)
