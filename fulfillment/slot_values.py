"""QnABot's response-bot slot types, parsed without Lex.

Each of QnABot's elicit-response bots (``QNAYesNo``, ``QNADate``, ``QNAName`` ...) fills one
or two slots from the user's reply. Here each slot type is a parser: the reply in, the slot's
value as Lex would give it (its ``interpretedValue``) out, or None when the reply is not one.
Well-kept libraries do the hard parts: ``dateparser`` (dates and times), ``phonenumbers``,
``email-validator`` and ``word2number`` (numbers said in words); each is imported on first use.

Example:
    >>> parse_yes_no("yeah"), parse_pin("it is 1 2 3 4"), parse_age("I am 42 years old")
    ('Yes', '1234', '42')
    >>> parse_name("my name is john smith")
    {'FirstName': 'John', 'LastName': 'Smith'}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

_YES = {"yes", "ok", "okay", "yeah", "sure", "yep", "affirmative", "aye", "correct", "one",
        "1", "y", "yup", "right"}
_NO = {"no", "nope", "na", "negative", "non", "incorrect", "two", "2", "n", "nah", "wrong"}
_EXIT = {"exit", "agent", "rep", "representative", "stop", "quit", "help", "bye", "goodbye",
         "three", "3"}
_LEAD_INS = re.compile(
    r"^(?:(?:i said|it is|it's|its|it was|the answer is|my answer is|that is|that's|"
    r"my \w+(?: \w+)? is|the \w+(?: \w+)? is|i am|i'm|im|this is|call me|i was born on|"
    r"on|in|at)\s+)+", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[^\w\s@.+'/:-]")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _clean(text: str) -> str:
    """The reply without lead-ins ("it is", "my pin is" ...), punctuation or extra spaces."""
    text = _PUNCTUATION.sub(" ", text.strip()).strip().rstrip(".")
    return " ".join(_LEAD_INS.sub("", text).split())


def _choice(text: str, choices: dict[str, set[str]]) -> str | None:
    words = _clean(text).lower().split()
    found = {value for value, synonyms in choices.items()
             if " ".join(words) in synonyms or any(w in synonyms for w in words)}
    return found.pop() if len(found) == 1 else None


def parse_yes_no(text: str) -> str | None:
    """``Yes`` or ``No`` (QnABot's ``QNAYesNo`` synonyms), else None."""
    return _choice(text, {"Yes": _YES, "No": _NO})


def parse_yes_no_exit(text: str) -> str | None:
    """``Yes``, ``No`` or ``Exit`` (``QNAYesNoExit``), else None."""
    return _choice(text, {"Yes": _YES, "No": _NO, "Exit": _EXIT})


def parse_number(text: str) -> str | None:
    """A number in digits or words ("forty two") as Lex writes it ("42", "3.5")."""
    cleaned = _clean(re.sub(r"(?<=\d),(?=\d{3})", "", text)).lower()
    match = re.search(r"[-+]?\d+(?:\.\d+)?", cleaned)
    if match:
        value = float(match.group())
    else:
        from word2number import w2n

        try:
            value = float(w2n.word_to_num(cleaned))
        except ValueError:
            return None
    return str(int(value)) if value == int(value) else str(value)


def parse_age(text: str) -> str | None:
    """An age in years (0 to 130)."""
    number = parse_number(re.sub(r"\byears?( old)?\b", "", text, flags=re.IGNORECASE))
    if number is None or "." in number or not 0 <= int(number) <= 130:
        return None
    return number


def _digits(text: str) -> str:
    return "".join(re.findall(r"\d", text))


def parse_pin(text: str) -> str | None:
    """Exactly four digits (``QNAPin``), spoken apart or together."""
    digits = _digits(text)
    return digits if len(digits) == 4 else None


def parse_ssn(text: str) -> str | None:
    """A social security number, as ``123-45-6789`` (``QNASocialSecurity``)."""
    digits = _digits(text)
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}" if len(digits) == 9 else None


def parse_wage(text: str) -> str | None:
    """A wage of one to seven digits (``QNAWage``), ``$`` and thousands separators allowed."""
    match = re.search(r"\d[\d,]*", text)
    digits = match.group().replace(",", "") if match else ""
    return digits if 1 <= len(digits) <= 7 else None


def parse_name(text: str) -> dict[str, str] | None:
    """``FirstName`` and ``LastName`` (``QNAName``): one to three words of letters."""
    words = [w for w in _clean(text).split() if w]
    if not 1 <= len(words) <= 3 or not all(re.fullmatch(r"[^\W\d_][\w'.-]*", w)
                                           for w in words):
        return None
    capital = [w[:1].upper() + w[1:] for w in words]
    return {"FirstName": capital[0], "LastName": capital[-1] if len(capital) > 1 else ""}


def parse_email(text: str) -> str | None:
    """An email address, typed or spoken ("jane at example dot com"), normalized."""
    from email_validator import EmailNotValidError, validate_email

    spoken = re.sub(r"\s+at\s+", "@", text.strip(), flags=re.IGNORECASE)
    spoken = re.sub(r"\s+dot\s+", ".", spoken, flags=re.IGNORECASE)
    for candidate in (*re.findall(r"\S+@\S+", text), *re.findall(r"\S+@\S+", spoken)):
        try:
            return validate_email(candidate.strip(".,;:()<>"),
                                  check_deliverability=False).normalized
        except EmailNotValidError:
            continue
    return None


def phone_parser(region: str) -> Callable[[str], str | None]:
    """A parser of phone numbers of ``region`` (``US``, ``GB`` ...; others in ``+`` form)."""
    def parse_phone(text: str) -> str | None:
        import phonenumbers

        for match in phonenumbers.PhoneNumberMatcher(text, region):
            number = match.number
            if phonenumbers.region_code_for_number(number) == region:
                return phonenumbers.national_significant_number(number)
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        digits = _digits(text)
        if 7 <= len(digits) <= 15 and re.fullmatch(r"[\d\s().+-]+", text.strip()):
            return digits
        return None
    return parse_phone


def _dateparser_settings(now: datetime, **more) -> dict:
    return {"RELATIVE_BASE": now, "PREFER_DATES_FROM": "future", **more}


def date_parser(clock: Callable[[], datetime]) -> Callable[[str], str | None]:
    """A parser of dates ("tomorrow", "March 3rd 2027", "3/4/2027") as ``YYYY-MM-DD``."""
    def parse_date(text: str) -> str | None:
        import dateparser

        cleaned = _clean(text)
        settings = _dateparser_settings(clock())
        found = dateparser.parse(cleaned, settings=settings)
        if found is None:
            from dateparser.search import search_dates

            hits = search_dates(cleaned, settings=settings)
            found = hits[0][1] if hits else None
        return found.date().isoformat() if found else None
    return parse_date


def time_parser(clock: Callable[[], datetime]) -> Callable[[str], str | None]:
    """A parser of times of day ("3pm", "15:30", "noon") as ``HH:MM``."""
    def parse_time(text: str) -> str | None:
        import dateparser

        cleaned = _clean(text).lower().replace("noon", "12:00 pm").replace("midnight", "0:00")
        if not re.search(r"\d", cleaned):
            return None
        found = dateparser.parse(cleaned, settings=_dateparser_settings(clock()))
        return found.strftime("%H:%M") if found else None
    return parse_time


def _named(names: tuple[str, ...], text: str, numbered: bool) -> str | None:
    words = _clean(text).lower().split()
    for word in words:
        for index, name in enumerate(names):
            if word == name.lower() or (len(word) >= 3 and name.lower().startswith(word)):
                return name
            if numbered and word.lstrip("0") == str(index + 1):
                return name
    return None


def parse_day_of_week(text: str) -> str | None:
    """A day of the week ("tue", "Tuesday") as its English name."""
    return _named(_DAYS, text, numbered=False)


def parse_month(text: str) -> str | None:
    """A month ("Sept", "09", "September") as its English name."""
    return _named(_MONTHS, text, numbered=True)
