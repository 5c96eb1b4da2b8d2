"""The Amazon Connect contact flow for QnABot, as the content designer offers it for download.

QnABot's Connect wizard hands the admin a contact flow to import into the Connect instance
(Routing > Flows > Import): it greets the caller, passes each spoken question to the bot's
``live`` alias, and keeps listening, prompting with the session attribute the fulfillment
Lambda fills for voice turns (the ``CONNECT_NEXT_PROMPT_VARNAME`` setting, default
``connect_nextPrompt``). This module writes that flow in Connect's flow language
(``Version 2019-10-30``), which ``connect:CreateContactFlow`` and the console's import accept.

The stack associates the alias with the instance when ``ConnectInstanceArn`` is given
(``AWS::Connect::IntegrationAssociation``); otherwise add the bot in the Connect console
(instance > Flows > Amazon Lex) before importing.

Example:
    >>> flow = contact_flow("arn:aws:lex:us-east-1:123456789012:bot-alias/BOT1234567/ALIAS12345")
    >>> flow["Version"], [a["Type"] for a in flow["Actions"]][:2]
    ('2019-10-30', ['UpdateFlowLoggingBehavior', 'UpdateContactTextToSpeechVoice'])
"""

from __future__ import annotations

import re
from typing import Any

FLOW_VERSION = "2019-10-30"
DEFAULT_GREETING = "Hello, I am the Q and A bot. What is your question?"
DEFAULT_RETRY = "Sorry, I did not catch that. Please ask your question again."
DEFAULT_GOODBYE = "Thank you for calling. Goodbye."
DEFAULT_NEXT_PROMPT_VARNAME = "connect_nextPrompt"
#: Polly voices QnABot's Lex bot uses per locale (the rest fall back to Joanna).
VOICES = {"en_US": "Joanna", "en_GB": "Amy", "en_AU": "Olivia", "en_IN": "Kajal",
          "es_US": "Lupe", "es_ES": "Lucia", "fr_CA": "Gabrielle", "fr_FR": "Lea",
          "de_DE": "Vicki", "it_IT": "Bianca", "ja_JP": "Takumi", "pt_BR": "Camila",
          "ko_KR": "Seoyeon"}

_ALIAS_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:lex:[a-z0-9-]+:\d{12}:bot-alias/[A-Z0-9]{10}/"
                        r"[A-Z0-9]{10}$")
_VARNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class ContactFlowError(ValueError):
    """The flow cannot be made from what was given (the message says what to fix)."""


def bot_alias_arn(region: str, account_id: str, bot_id: str, alias_id: str,
                  partition: str = "aws") -> str:
    """The ARN Connect uses for a Lex V2 bot alias.

    >>> bot_alias_arn("us-east-1", "123456789012", "BOT1234567", "ALIAS12345")
    'arn:aws:lex:us-east-1:123456789012:bot-alias/BOT1234567/ALIAS12345'
    """
    return f"arn:{partition}:lex:{region}:{account_id}:bot-alias/{bot_id}/{alias_id}"


def contact_flow(alias_arn: str, *, locale: str = "en_US", greeting: str = DEFAULT_GREETING,
                 next_prompt_varname: str = DEFAULT_NEXT_PROMPT_VARNAME) -> dict[str, Any]:
    """The contact flow (flow-language JSON) that connects callers to the bot alias.

    Raises :class:`ContactFlowError` for an alias ARN or variable name Connect would refuse.
    """
    if not _ALIAS_ARN.match(alias_arn or ""):
        raise ContactFlowError(
            f'"{alias_arn}" is not a Lex V2 bot alias ARN (arn:aws:lex:<region>:<account>:'
            "bot-alias/<bot id>/<alias id>); deploy the stack so the bot exists first")
    if not _VARNAME.match(next_prompt_varname or ""):
        raise ContactFlowError(f'CONNECT_NEXT_PROMPT_VARNAME "{next_prompt_varname}" must be a '
                               "session attribute name (letters, digits, _)")
    voice = VOICES.get(locale, "Joanna")
    bot = {"AliasArn": alias_arn}
    on_error = [{"NextAction": "retry", "ErrorType": "NoMatchingError"}]
    actions = [
        {"Identifier": "logging", "Type": "UpdateFlowLoggingBehavior",
         "Parameters": {"FlowLoggingBehavior": "Enabled"},
         "Transitions": {"NextAction": "voice"}},
        {"Identifier": "voice", "Type": "UpdateContactTextToSpeechVoice",
         "Parameters": {"TextToSpeechVoice": voice, "TextToSpeechEngine": "Neural"},
         "Transitions": {"NextAction": "greeting", "Errors": [
             {"NextAction": "greeting", "ErrorType": "NoMatchingError"}]}},
        # First turn: the greeting is the prompt; Lex speaks the answer (short SSML).
        {"Identifier": "greeting", "Type": "ConnectParticipantWithLexBot",
         "Parameters": {"Text": greeting, "LexV2Bot": bot},
         "Transitions": {"NextAction": "next-question", "Errors": on_error}},
        # Every later turn prompts with what the fulfillment Lambda left for it.
        {"Identifier": "next-question", "Type": "ConnectParticipantWithLexBot",
         "Parameters": {"SSML": f"$.Lex.SessionAttributes.{next_prompt_varname}",
                        "LexV2Bot": bot},
         "Transitions": {"NextAction": "next-question", "Errors": on_error}},
        {"Identifier": "retry", "Type": "ConnectParticipantWithLexBot",
         "Parameters": {"Text": DEFAULT_RETRY, "LexV2Bot": bot},
         "Transitions": {"NextAction": "next-question", "Errors": [
             {"NextAction": "goodbye", "ErrorType": "NoMatchingError"}]}},
        {"Identifier": "goodbye", "Type": "MessageParticipant",
         "Parameters": {"Text": DEFAULT_GOODBYE},
         "Transitions": {"NextAction": "disconnect", "Errors": [
             {"NextAction": "disconnect", "ErrorType": "NoMatchingError"}]}},
        {"Identifier": "disconnect", "Type": "DisconnectParticipant", "Parameters": {},
         "Transitions": {}},
    ]
    return {"Version": FLOW_VERSION, "StartAction": "logging", "Actions": actions,
            "Metadata": {"name": "QnABot", "description":
                         "Answers callers' questions with the QnABot Lex V2 bot "
                         f"({alias_arn.rsplit(':', 1)[1]}, {locale})"}}
