"""The response-bot slot types, parsed locally as Lex would fill them."""

from __future__ import annotations

from datetime import datetime

import pytest

from fulfillment import slot_values as sv

NOW = datetime(2026, 12, 2, 12, 0)  # a Wednesday


@pytest.mark.parametrize(("parser", "reply", "value"), [
    (sv.parse_yes_no, "Yeah", "Yes"),
    (sv.parse_yes_no, "I said no", "No"),
    (sv.parse_yes_no, "1", "Yes"),
    (sv.parse_yes_no, "maybe", None),
    (sv.parse_yes_no_exit, "goodbye", "Exit"),
    (sv.parse_number, "forty two", "42"),
    (sv.parse_number, "it is 3.5", "3.5"),
    (sv.parse_number, "1,200", "1200"),
    (sv.parse_number, "lots", None),
    (sv.parse_age, "I'm 42 years old", "42"),
    (sv.parse_age, "twenty five", "25"),
    (sv.parse_age, "250", None),
    (sv.parse_pin, "my pin is 1 2 3 4", "1234"),
    (sv.parse_pin, "12345", None),
    (sv.parse_ssn, "123-45-6789", "123-45-6789"),
    (sv.parse_ssn, "12-34", None),
    (sv.parse_wage, "$45,000", "45000"),
    (sv.parse_wage, "12345678", None),
    (sv.parse_email, "it's Jane.Doe@Example.COM", "Jane.Doe@example.com"),
    (sv.parse_email, "jane at example dot com", "jane@example.com"),
    (sv.parse_email, "no email", None),
    (sv.phone_parser("US"), "my number is (206) 555-0123", "2065550123"),
    (sv.phone_parser("US"), "+44 20 7946 0958", "+442079460958"),
    (sv.phone_parser("US"), "call me maybe", None),
    (sv.date_parser(lambda: NOW), "tomorrow", "2026-12-03"),
    (sv.date_parser(lambda: NOW), "March 3rd 2027", "2027-03-03"),
    (sv.date_parser(lambda: NOW), "next friday", "2026-12-04"),
    (sv.date_parser(lambda: NOW), "banana", None),
    (sv.time_parser(lambda: NOW), "3pm", "15:00"),
    (sv.time_parser(lambda: NOW), "at 9:15 am", "09:15"),
    (sv.time_parser(lambda: NOW), "later", None),
    (sv.parse_day_of_week, "tue", "Tuesday"),
    (sv.parse_month, "Sept", "September"),
    (sv.parse_month, "09", "September"),
])
def test_each_slot_type_reads_what_lex_would(parser, reply, value):
    assert parser(reply) == value


def test_a_name_is_first_and_last_and_a_sentence_is_no_name():
    assert sv.parse_name("my name is john smith") == {"FirstName": "John", "LastName": "Smith"}
    assert sv.parse_name("Cher") == {"FirstName": "Cher", "LastName": ""}
    assert sv.parse_name("I would like to know about the ferry") is None
    assert sv.parse_name("42") is None
