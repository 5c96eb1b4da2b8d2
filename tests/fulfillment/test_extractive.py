"""Extractive passage answers: the sentences that answer, whole, short enough for voice."""

import numpy as np

from fulfillment.extractive import VOICE_MAX_CHARS, choose, extract
from knowledge.embeddings.base import EmbeddingsError
from knowledge.embeddings.hashing import HashingEmbeddings

PASSAGE = ("Riders must carry proof of payment on every train. The fine for a first offence is $75. "
           "It rises to $150 for a second offence within a year. Inspectors work on all lines.")


def test_the_best_sentence_answers_with_the_sentence_it_leans_on():
    sentences = ["Riders must carry proof of payment.", "The fine for a first offence is $75 on any line.",
                 "It rises to $150 for a second offence within a year.", "Inspectors work on all lines."]
    picked = choose(sentences, np.array([0.2, 0.5, 0.7, 0.1]), max_chars=600)
    assert picked.sentences == (sentences[1], sentences[2])  # "It" needs the sentence before


def test_a_close_runner_up_after_the_best_sentence_joins_it_and_far_ones_do_not():
    sentences = ["Ferries cancel when winds exceed 35 knots in the harbor.",
                 "Fog below a quarter mile also cancels sailings.", "Tickets are refunded."]
    assert choose(sentences, np.array([0.7, 0.66, 0.2]), max_chars=600).sentences == tuple(sentences[:2])
    assert choose(sentences, np.array([0.7, 0.3, 0.2]), max_chars=600).sentences == (sentences[0],)


def test_voice_answers_keep_only_the_best_sentence_when_two_are_too_long():
    sentences = ["A" * 200 + ".", "B" * 200 + "."]
    picked = choose(sentences, np.array([0.9, 0.88]), max_chars=VOICE_MAX_CHARS)
    assert picked.sentences == (sentences[0],)


def test_extracts_are_whole_sentences_of_the_passage():
    picked = extract("What is the fine for a first offence?", PASSAGE, HashingEmbeddings())
    assert picked is not None and picked.sentences
    assert all(sentence in PASSAGE and sentence.endswith(".") for sentence in picked.sentences)


class Broken(HashingEmbeddings):
    def embed(self, texts, input_type="q"):
        raise EmbeddingsError("down")


def test_without_working_embeddings_there_is_no_extract():
    assert extract("fine?", PASSAGE, Broken()) is None
    assert extract("fine?", "", HashingEmbeddings()) is None


def test_a_passage_answer_without_an_llm_is_its_answering_sentences_with_the_link_on_text(
        tmp_path, settings):
    from fulfillment.model import Request
    from knowledge.items import parse_item
    from knowledge.knowledge_base import KnowledgeBase
    from knowledge.stores.sqlite_store import SqliteStore
    from tests.fulfillment.conftest import make_pipeline

    kb = KnowledgeBase(SqliteStore(tmp_path / "k.sqlite"), HashingEmbeddings())
    kb.put_items([parse_item({"qid": "Fares.Evasion", "type": "text", "passage": PASSAGE,
                              "refMarkdown": "[Fare evasion](https://example.org/fines)"})])
    passages_only = settings.with_overrides(EMBEDDINGS_TEXT_PASSAGE_SCORE_THRESHOLD=0,
                                            LLM_QA_ENABLE=False)
    pipeline = make_pipeline(kb)
    text = pipeline.run(Request(session_id="s1", transcript="What is the fine for a first offence?"),
                        passages_only).answer
    assert text.source == "text" and text.text in PASSAGE and len(text.text) < len(PASSAGE)
    assert text.markdown.endswith("[Fare evasion](https://example.org/fines)")
    voice = pipeline.run(Request(session_id="s2", transcript="What is the fine for a first offence?",
                                 input_mode="Speech"), passages_only).answer
    assert len(voice.text) <= VOICE_MAX_CHARS and voice.text in PASSAGE
