"""Sentence splitting for passage classes and extractive answers."""

from knowledge.sentences import split_sentences


def test_sentences_end_at_stops_but_not_after_abbreviations_or_initials():
    text = 'Dr. Lee rode the No. 5 bus at 6 a.m. Then she paid $2.50. "Great!" she said. J. Smith agreed.'
    assert split_sentences(text) == ["Dr. Lee rode the No. 5 bus at 6 a.m. Then she paid $2.50.",
                                     '"Great!" she said.', "J. Smith agreed."]


def test_lines_and_list_items_are_sentences_and_nothing_is_lost():
    text = "Bring:\n- a TideCard\n- photo ID. Keep both."
    assert split_sentences(text) == ["Bring:", "a TideCard", "photo ID.", "Keep both."]
    assert split_sentences("") == []
