""""Did you mean" suggestions: which candidates are offered, and what their buttons send."""

from knowledge.items import parse_item
from knowledge.matching import Hit, MatchParams
from knowledge.settings import Settings
from knowledge.store import SearchField
from knowledge.suggestions import QID_PREFIX, suggest, suggestions_for

FARES_CASH = parse_item({"qid": "Fares.Cash", "q": ["Can I pay with cash?", "How much does it cost?"],
                         "a": "Yes, with exact change.", "t": "fares"})
FERRY_FARE = parse_item({"qid": "Ferry.Fare", "q": ["How much does it cost?", "What is the ferry fare?"],
                         "a": "$3.", "t": "ferry"})
LONG = parse_item({"qid": "Trip.Planner", "q": [
    "How do I plan a trip from one side of Harbor City to the other by transit?"], "a": "Use HCT Go."})
PASSAGE = parse_item({"qid": "Fares.EvasionPenalties", "type": "text",
                      "passage": "Riders without a ticket are fined. A first violation is $75.",
                      "refMarkdown": "[Fare Evasion Penalty Schedule](https://example.org/fe)"})
NO_LINK = parse_item({"qid": "History.Ferry", "type": "text",
                      "passage": "Boats have crossed the harbor since 1851. The ferry is public."})
NO_HITS = parse_item({"qid": "CustomNoMatches", "q": ["no_hits"], "a": "Sorry."})


def hit(item, confidence, matched=None, stage=SearchField.QUESTIONS):
    matched = matched or (item.questions[0] if item.questions else item.passage)
    return Hit(item, stage, 0.5, 0.5, 0.0, 0.0, matched, 0.9, confidence=confidence)


def test_the_most_confident_distinct_items_above_the_floor_are_offered_in_order():
    hits = [hit(LONG, 0.05), hit(FARES_CASH, 0.2), hit(PASSAGE, 0.5, stage=SearchField.PASSAGES),
            hit(FARES_CASH, 0.2, stage=SearchField.ANSWERS), hit(NO_LINK, 0.15)]
    offered = suggest(hits, limit=3, min_confidence=0.1)
    assert [s.qid for s in offered] == ["Fares.EvasionPenalties", "Fares.Cash", "History.Ferry"]
    assert [s.qid for s in suggest(hits, limit=1, min_confidence=0.1)] == ["Fares.EvasionPenalties"]
    assert suggest(hits, limit=0, min_confidence=0.0) == []
    assert suggest(hits, limit=3, min_confidence=0.6) == []


def test_a_question_another_candidate_also_stores_is_never_what_a_button_sends():
    # "How much does it cost?" is both items' question: tapped, it could come back to the other
    hits = [hit(FERRY_FARE, 0.4, matched="How much does it cost?"),
            hit(FARES_CASH, 0.3, matched="How much does it cost?")]
    offered = {s.qid: s for s in suggest(hits, limit=3, min_confidence=0.1)}
    assert offered["Ferry.Fare"].value == offered["Ferry.Fare"].label == "What is the ferry fare?"
    assert offered["Fares.Cash"].value == "Can I pay with cash?"


def test_the_matched_question_is_preferred_when_it_is_the_items_own():
    offered = suggest([hit(FARES_CASH, 0.4, matched="How much does it cost?")], limit=3,
                      min_confidence=0.1)
    assert offered[0].value == "How much does it cost?"  # no other candidate stores it


def test_passages_and_questions_too_long_for_a_lex_button_send_their_qid():
    offered = {s.qid: s for s in suggest(
        [hit(PASSAGE, 0.5, stage=SearchField.PASSAGES), hit(LONG, 0.3),
         hit(NO_LINK, 0.2, stage=SearchField.PASSAGES)], limit=3, min_confidence=0.1)}
    assert offered["Fares.EvasionPenalties"].label == "Fare Evasion Penalty Schedule"
    assert offered["Fares.EvasionPenalties"].value == QID_PREFIX + "Fares.EvasionPenalties"
    assert offered["Trip.Planner"].value == "QID::Trip.Planner"
    assert len(offered["Trip.Planner"].label) <= 50 and offered["Trip.Planner"].label.endswith("…")
    assert offered["History.Ferry"].label == "Boats have crossed the harbor since 1851."


def test_keyword_mode_offers_nothing_and_special_items_are_never_offered():
    assert suggest([Hit(FARES_CASH, SearchField.QUESTIONS, 0.5, 0.0, 0.5, 0.0, "x", 0.5)],
                   limit=3, min_confidence=0.0) == []  # no confidence without embeddings
    params = MatchParams.from_settings(Settings.defaults())
    assert [s.qid for s in suggestions_for([hit(NO_HITS, 0.6), hit(FARES_CASH, 0.2)], params)] \
        == ["Fares.Cash"]
    off = MatchParams.from_settings(Settings.defaults().with_overrides(NO_HITS_SUGGESTIONS=0))
    assert suggestions_for([hit(FARES_CASH, 0.2)], off) == []


def test_search_json_lists_the_buttons_a_turn_without_an_answer_would_offer():
    from knowledge.matching import SearchResult

    params = MatchParams.from_settings(Settings.defaults())
    unsure = SearchResult("fare fines", "hybrid", [hit(PASSAGE, 0.5, stage=SearchField.PASSAGES),
                                                   hit(FARES_CASH, 0.3)], params=params)
    assert [(s["qid"], s["value"]) for s in unsure.to_json()["did_you_mean"]] == [
        ("Fares.EvasionPenalties", "QID::Fares.EvasionPenalties"),
        ("Fares.Cash", "Can I pay with cash?")]
    answered = Hit(FARES_CASH, SearchField.QUESTIONS, 0.95, 0.95, 1.0, 0.0,
                   "Can I pay with cash?", 0.9, confidence=0.9, verdict="similarity")
    assert SearchResult("cash?", "hybrid", [answered], params=params).to_json()[
        "did_you_mean"] == []


def test_two_buttons_that_would_read_the_same_name_their_topic():
    only_generic = [parse_item({"qid": f"{t}.Cost", "q": ["How much does it cost?"], "a": "$1.",
                                "t": t}) for t in ("EchoShow", "QnABot")]
    offered = suggest([hit(only_generic[0], 0.4), hit(only_generic[1], 0.3)], limit=3,
                      min_confidence=0.1)
    assert [(s.label, s.value) for s in offered] == [
        ("How much does it cost? (EchoShow)", "QID::EchoShow.Cost"),
        ("How much does it cost? (QnABot)", "QID::QnABot.Cost")]
