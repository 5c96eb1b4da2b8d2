"""Matching and the cascade, over a scripted store so each rule is tested alone."""

import numpy as np
import pytest

from knowledge.classifier import ItemClassifier
from knowledge.embeddings.base import EmbeddingsError
from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.items import parse_item
from knowledge.matching import Matcher, content_words, keyword_coverage, minimum_should_match
from knowledge.settings import Settings
from knowledge.store import FieldMatch, SearchField


class ScriptedStore:
    """Returns the matches scripted per field, and records what was asked."""

    def __init__(self, items, matches):
        self.items = {item.qid: item for item in items}
        self.matches = matches
        self.calls = []

    def search(self, field, *, vector, text, k, client_filter=None):
        self.calls.append((field, vector is not None, text, client_filter))
        return list(self.matches.get(field, []))

    def get_many(self, qids):
        return {q: self.items[q] for q in qids if q in self.items}


def qna(qid, question, topic=""):
    return parse_item({"qid": qid, "q": [question], "a": f"Answer of {qid}", "t": topic})


def passage(qid, text):
    return parse_item({"qid": qid, "type": "text", "passage": text})


SETTINGS = Settings.defaults().with_overrides(
    EMBEDDINGS_SCORE_THRESHOLD=0.6, EMBEDDINGS_TEXT_PASSAGE_SCORE_THRESHOLD=0.45,
    HYBRID_KEYWORD_WEIGHT=0.15, TOPIC_BOOST=0.05, CLASSIFIER_CONFIDENCE_THRESHOLD=0.6,
    CLASSIFIER_NONE_SIMILARITY=0.35)


def matcher(items, matches):
    return Matcher(ScriptedStore(items, matches), HashingEmbeddings())


def test_keywords_tell_near_miss_questions_apart():
    items = [qna("Stops.Next", "How do I hear the next stop?"),
             qna("Stops.Previous", "How do I hear the previous stop?")]
    matches = {SearchField.QUESTIONS: [
        FieldMatch("Stops.Previous", 0.91, 3.0, "How do I hear the previous stop?"),
        FieldMatch("Stops.Next", 0.90, 4.0, "How do I hear the next stop?")]}
    result = matcher(items, matches).search("announce the next stop please", SETTINGS)
    assert result.best.item.qid == "Stops.Next"
    assert result.best.keyword_score > result.candidates[1].keyword_score


def test_embeddings_only_mode_ignores_keywords():
    items = [qna("A", "alpha beta"), qna("B", "gamma delta")]
    matches = {SearchField.QUESTIONS: [FieldMatch("A", 0.70, 0, "alpha beta"),
                                       FieldMatch("B", 0.69, 5, "gamma delta")]}
    result = matcher(items, matches).search("delta gamma please", SETTINGS, mode="embeddings")
    assert result.best.item.qid == "A"
    assert result.best.score == pytest.approx(0.70)


def test_a_question_below_every_threshold_gets_no_hit():
    items = [qna("A", "How do I pay my fare?"), passage("P", "Fares are paid by card.")]
    matches = {SearchField.QUESTIONS: [FieldMatch("A", 0.30, 0, "How do I pay my fare?")],
               SearchField.PASSAGES: [FieldMatch("P", 0.20, 0, "Fares are paid by card.")]}
    result = matcher(items, matches).search("What is the capital of Peru?", SETTINGS)
    assert result.best is None
    assert [h.stage for h in result.candidates] == [SearchField.QUESTIONS, SearchField.PASSAGES]


def test_passages_answer_when_no_question_passes():
    items = [qna("A", "How do I pay my fare?"), passage("P", "Humpty Dumpty sat on a wall.")]
    matches = {SearchField.QUESTIONS: [FieldMatch("A", 0.2, 0, "How do I pay my fare?")],
               SearchField.PASSAGES: [FieldMatch("P", 0.5, 1, "Humpty Dumpty sat on a wall.")]}
    result = matcher(items, matches).search("Where did Humpty Dumpty sit?", SETTINGS)
    assert result.best.item.qid == "P" and result.best.stage == SearchField.PASSAGES


def test_passages_are_skipped_when_the_setting_is_off():
    items = [passage("P", "Humpty Dumpty sat on a wall.")]
    store = ScriptedStore(items, {SearchField.PASSAGES: [FieldMatch("P", 0.9, 1, "Humpty")]})
    result = Matcher(store, HashingEmbeddings()).search(
        "Humpty?", SETTINGS.with_overrides(ES_SCORE_TEXT_ITEM_PASSAGES=False))
    assert result.best is None
    assert SearchField.PASSAGES not in [c[0] for c in store.calls]


def test_answers_are_a_stage_only_when_enabled_and_come_before_passages():
    items = [qna("A", "Unrelated question"), passage("P", "text")]
    matches = {SearchField.ANSWERS: [FieldMatch("A", 0.8, 1, "Answer of A")],
               SearchField.PASSAGES: [FieldMatch("P", 0.9, 1, "text")]}
    store = ScriptedStore(items, matches)
    off = Matcher(store, HashingEmbeddings()).search("q", SETTINGS)
    assert off.best.stage == SearchField.PASSAGES
    assert SearchField.ANSWERS not in {h.stage for h in off.candidates}
    on = Matcher(store, HashingEmbeddings()).search("q", SETTINGS.with_overrides(ES_SCORE_ANSWER_FIELD=True))
    assert on.best.stage == SearchField.ANSWERS


def test_the_classifier_tells_apart_items_whose_questions_score_alike():
    items = [qna("Fares.Monthly", "How much is it per month?"), qna("Parking.Monthly", "Monthly permit?")]
    matches = {SearchField.QUESTIONS: [FieldMatch("Parking.Monthly", 0.62, 0, "Monthly permit?"),
                                       FieldMatch("Fares.Monthly", 0.60, 0, "How much is it per month?")]}
    question = "monthly bus pass price"
    vector = HashingEmbeddings().embed([question])[0]
    # A trained model whose Fares.Monthly weights point at the question, Parking's away from it.
    model = ItemClassifier("hashing", ("Fares.Monthly", "Parking.Monthly"),
                           np.stack([vector, -vector]).astype(np.float32))
    store = ScriptedStore(items, matches)
    trained = Matcher(store, HashingEmbeddings(), lambda: model).search(question, SETTINGS)
    assert trained.best.item.qid == "Fares.Monthly" and trained.classifier == "trained"
    assert trained.best.evidence["classifier"] == pytest.approx(1.0, abs=1e-4)
    untrained = Matcher(store, HashingEmbeddings(), lambda: model).search(
        question, SETTINGS.with_overrides(CLASSIFIER_ENABLE=False))
    assert untrained.candidates[0].item.qid == "Parking.Monthly"
    assert "classifier" not in untrained.candidates[0].evidence


def test_items_the_classifier_has_not_seen_compete_with_their_cosine():
    items = [qna("Old", "old question"), qna("New", "new question")]
    matches = {SearchField.QUESTIONS: [FieldMatch("New", 0.9, 0, "new question"),
                                       FieldMatch("Old", 0.5, 0, "old question")]}
    vector = HashingEmbeddings().embed(["a question"])[0]
    model = ItemClassifier("hashing", ("Old",), (0.5 * vector)[None, :].astype(np.float32))
    result = Matcher(ScriptedStore(items, matches), HashingEmbeddings(), lambda: model).search(
        "a question", SETTINGS)
    assert result.best.item.qid == "New"


def test_the_cascade_stops_at_the_first_passing_stage_unless_all_stages_are_asked_for():
    items = [qna("A", "fare"), passage("P", "fare policy")]
    matches = {SearchField.QUESTIONS: [FieldMatch("A", 0.9, 1, "fare")],
               SearchField.PASSAGES: [FieldMatch("P", 0.9, 1, "fare policy")]}
    store = ScriptedStore(items, matches)
    assert [h.item.qid for h in Matcher(store, None).search(
        "fare", SETTINGS, mode="keywords").candidates] == ["A"]
    everything = Matcher(store, HashingEmbeddings()).search("fare", SETTINGS, all_stages=True)
    assert [h.item.qid for h in everything.candidates] == ["A", "P"]


def test_the_session_topic_picks_the_follow_up_of_the_current_thing():
    items = [qna("Ferry.Cost", "How much does it cost?", topic="ferry"),
             qna("Card.Cost", "How much does it cost?", topic="tidecard")]
    same = "How much does it cost?"
    matches = {SearchField.QUESTIONS: [FieldMatch("Card.Cost", 0.95, 2, same),
                                       FieldMatch("Ferry.Cost", 0.95, 2, same)]}
    m = matcher(items, matches)
    assert m.search(same, SETTINGS, topic="ferry").best.item.qid == "Ferry.Cost"
    assert m.search(same, SETTINGS, topic="tidecard").best.item.qid == "Card.Cost"
    assert m.search(same, SETTINGS, topic="ferry").best.topic_boost == pytest.approx(0.05)
    assert m.search(same, SETTINGS, topic="ferry").best.evidence["topic"] == pytest.approx(0.05)


class BrokenEmbeddings(HashingEmbeddings):
    def embed(self, texts, input_type="q"):
        raise EmbeddingsError("Bedrock is throttling")


def test_failing_embeddings_fall_back_to_keywords_and_say_so():
    items = [qna("Bikes.Bus", "Can I bring my bike on the bus?")]
    store = ScriptedStore(items, {SearchField.QUESTIONS: [
        FieldMatch("Bikes.Bus", 0.0, 3.2, "Can I bring my bike on the bus?")]})
    result = Matcher(store, BrokenEmbeddings()).search("bike on the bus", SETTINGS)
    assert result.mode == "keywords" and "Bedrock is throttling" in result.degraded
    assert result.best.item.qid == "Bikes.Bus"
    assert store.calls[0][1] is False  # no vector was sent


def test_keyword_mode_needs_most_of_the_question_words():
    items = [qna("Bikes.Bus", "Can I bring my bike on the bus?")]
    store = ScriptedStore(items, {SearchField.QUESTIONS: [
        FieldMatch("Bikes.Bus", 0.0, 1.0, "Can I bring my bike on the bus?")]})
    result = Matcher(store, None).search("Can I bring my dog to the museum?", SETTINGS, mode="keywords")
    assert result.best is None


def test_client_filter_is_passed_to_the_store():
    store = ScriptedStore([], {})
    Matcher(store, HashingEmbeddings()).search("q", SETTINGS, client_filter="staff")
    assert all(call[3] == "staff" for call in store.calls)


def test_items_deleted_between_search_and_fetch_are_skipped():
    store = ScriptedStore([], {SearchField.QUESTIONS: [FieldMatch("Gone", 0.99, 1, "x")]})
    assert Matcher(store, HashingEmbeddings()).search("x", SETTINGS).candidates == []


def test_search_result_json_has_what_the_test_tab_shows():
    items = [qna("A", "How do I pay my fare?", topic="fares")]
    result = matcher(items, {SearchField.QUESTIONS: [FieldMatch("A", 0.8, 2, "How do I pay my fare?")]}
                     ).search("pay fare", SETTINGS)
    best = result.to_json()["best"]
    assert best["qid"] == "A" and best["stage"] == "questions" and best["passed"] is True
    assert set(best) >= {"score", "vector_score", "keyword_score", "topic_boost", "threshold", "matched",
                         "confidence", "evidence"}
    assert set(best["evidence"]) >= {"cosine", "keywords", "confidence"}


def test_content_words_drop_stopwords_and_plurals():
    assert content_words("What are the hours of the ferries?") == {"hour", "ferry"}
    assert content_words("monthly passes for buses") == {"monthly", "pass", "bus"}
    assert content_words("Is the bus running?") == {"bus", "running"}
    assert keyword_coverage({"next", "stop"}, "Which is the next stop?") == 1.0
    assert keyword_coverage({"next", "stop"}, "the previous stop") == 0.5
    assert keyword_coverage(set(), "anything") == 0.0


@pytest.mark.parametrize("spec,terms,expected", [
    ("2<75%", 2, 1.0), ("2<75%", 4, 0.75), ("50%", 3, 0.5), ("-25%", 4, 0.75), ("bogus", 4, 1.0)])
def test_minimum_should_match_follows_qnabot_syntax(spec, terms, expected):
    assert minimum_should_match(spec, terms) == expected


def test_query_vector_is_unit_length():
    vector = HashingEmbeddings().embed(["hello world"])[0]
    assert np.linalg.norm(vector) == pytest.approx(1.0)


def test_a_stored_question_asked_verbatim_always_gets_its_item():
    items = [qna("QnABot.001", "What is Q and A Bot"), qna("QnABot.003", "What can Q and A bot do")]
    matches = {SearchField.QUESTIONS: [FieldMatch("QnABot.001", 0.93, 0, "What is Q and A Bot"),
                                       FieldMatch("QnABot.003", 0.90, 0, "What can Q and A bot do")]}
    result = matcher(items, matches).search("what can Q and A bot do?", SETTINGS)
    assert result.best.item.qid == "QnABot.003"
    assert result.best.exact and result.best.verdict == "exact"


def test_a_low_similarity_answers_only_when_the_confidence_is_high():
    items = [qna("Alexa.001", "What is an Amazon Echo Show"), qna("FireTV.001", "What is Amazon Fire TV?")]
    clear = {SearchField.QUESTIONS: [FieldMatch("Alexa.001", 0.52, 0, "What is an Amazon Echo Show"),
                                     FieldMatch("FireTV.001", 0.30, 0, "What is Amazon Fire TV?")]}
    close = {SearchField.QUESTIONS: [FieldMatch("Alexa.001", 0.52, 0, "What is an Amazon Echo Show"),
                                     FieldMatch("FireTV.001", 0.45, 0, "What is Amazon Fire TV?")]}
    settings = SETTINGS.with_overrides(HYBRID_KEYWORD_WEIGHT=0, CLASSIFIER_CONFIDENCE_THRESHOLD=0.9)
    best = matcher(items, clear).search("the Alexa device with the screen", settings).best
    assert best.verdict == "confident" and best.confidence > 0.9
    assert matcher(items, close).search("the Alexa device with the screen", settings).best is None


def test_a_question_far_from_every_item_goes_to_none_of_these():
    items = [qna("A", "alpha"), qna("B", "beta")]
    matches = {SearchField.QUESTIONS: [FieldMatch("A", 0.40, 0, "alpha"), FieldMatch("B", 0.10, 0, "beta")]}
    settings = SETTINGS.with_overrides(HYBRID_KEYWORD_WEIGHT=0)
    assert matcher(items, matches).search("zzz", settings).best.item.qid == "A"
    far = settings.with_overrides(CLASSIFIER_NONE_SIMILARITY=0.45)
    result = matcher(items, matches).search("zzz", far)
    assert result.best is None and result.candidates[0].confidence < 0.5


def test_the_session_topic_does_not_override_a_clearly_better_match():
    items = [qna("Alexa.001", "What is an Amazon Echo Show", topic="EchoShow"),
             qna("FireTV.001", "What is Amazon Fire TV?", topic="")]
    matches = {SearchField.QUESTIONS: [FieldMatch("FireTV.001", 0.60, 0, "What is Amazon Fire TV?"),
                                       FieldMatch("Alexa.001", 0.45, 0, "What is an Amazon Echo Show")]}
    settings = SETTINGS.with_overrides(HYBRID_KEYWORD_WEIGHT=0, TOPIC_BOOST=0.1, EMBEDDINGS_SCORE_THRESHOLD=0.9,
                                       CLASSIFIER_CONFIDENCE_THRESHOLD=0.7)
    best = matcher(items, matches).search("video streaming device", settings, topic="EchoShow").best
    assert best.item.qid == "FireTV.001" and best.verdict == "confident"
