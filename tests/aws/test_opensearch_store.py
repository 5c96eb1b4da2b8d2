"""The OpenSearch store, checked request by request against a scripted fake server."""

from __future__ import annotations

import numpy as np
import pytest
from opensearchpy import AWSV4SignerAuth

from knowledge.items import parse_item
from knowledge.store import DimensionMismatchError, IndexInfo, SearchField, StoredItem, StoreError
from knowledge.stores import opensearch_store
from knowledge.stores.opensearch_store import OpenSearchStore, cosine_from_knn_score
from tests.aws.opensearch_fake import alias_missing, fake_client, index_missing

INFO = IndexInfo("test/model", 3)


def qna(qid: str, *questions: str, answer: str = "An answer.", **extra) -> StoredItem:
    item = parse_item({"qid": qid, "q": list(questions) or ["A question?"], "a": answer, **extra})
    vectors = np.tile(np.array([1.0, 0.0, 0.0], dtype=np.float32), (len(item.questions), 1))
    return StoredItem(item, vectors, np.array([0.0, 1.0, 0.0], dtype=np.float32))


def passage(qid: str, text: str) -> StoredItem:
    item = parse_item({"qid": qid, "type": "text", "passage": text})
    return StoredItem(item, np.zeros((0, 3), dtype=np.float32),
                      np.array([0.0, 0.0, 1.0], dtype=np.float32))


def mapping_reply(name: str = "qnabot-1", info: IndexInfo = INFO) -> dict:
    return {name: {"mappings": {"_meta": {"model_id": info.model_id,
                                          "dimension": info.dimension, "schema_version": 1}}}}


def bulk_reply(*results: tuple[str, str, int], errors: bool = False) -> dict:
    items = []
    for action, qid, status in results:
        outcome = {"_index": "qnabot-1", "_id": qid, "status": status}
        if status == 429:
            outcome["error"] = {"type": "es_rejected_execution_exception",
                                "reason": "rejected execution of coordinating operation"}
        elif status >= 400:
            outcome["error"] = {"type": "mapper_parsing_exception",
                                "reason": "failed to parse field [answer_vector]",
                                "caused_by": {"type": "illegal_argument_exception",
                                              "reason": "Vector dimension mismatch"}}
        else:
            outcome["result"] = {"index": "created", "delete": "deleted"}[action]
        items.append({action: outcome})
    return {"took": 3, "errors": errors, "items": items}


def hits(*hits: dict) -> dict:
    return {"took": 1, "timed_out": False, "status": 200,
            "hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": list(hits)}}


def question_hit(qid: str, score: float, questions: list[str], offset: int = 0,
                 topic: str = "") -> dict:
    source = {"qid": qid, "questions": [{"text": q} for q in questions]}
    if topic:
        source["topic"] = topic
    return {"_index": "qnabot-1", "_id": qid, "_score": score, "_source": source,
            "inner_hits": {"questions": {"hits": {"total": {"value": 1}, "hits": [
                {"_index": "qnabot-1", "_id": qid, "_score": score,
                 "_nested": {"field": "questions", "offset": offset}}]}}}}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(opensearch_store.secrets, "token_hex", lambda n: "c0ffee")
    client, server = fake_client()
    sleeps: list[float] = []
    store = OpenSearchStore(client, "qnabot", refresh=False, sleep=sleeps.append,
                            clock=lambda: 1700000000.0)
    store.sleeps = sleeps
    return store, server


# --- writing ---------------------------------------------------------------------------------


def test_first_write_creates_the_index_with_knn_mappings_and_the_alias(fake):
    store, server = fake
    server.reply(404, index_missing())
    server.reply(200, {"acknowledged": True, "index": "qnabot-1700000000000-c0ffee"})
    server.reply(200, bulk_reply(("index", "Hi.1", 201)))

    assert store.put([qna("Hi.1", "Hello")], index=INFO) == 1

    create = server.requests[1]
    assert (create.method, create.path) == ("PUT", "/qnabot-1700000000000-c0ffee")
    body = create.body
    assert body["aliases"] == {"qnabot": {}}
    assert body["settings"] == {"index": {"knn": True}}
    mappings = body["mappings"]
    assert mappings["_meta"] == {"model_id": "test/model", "dimension": 3, "schema_version": 1}
    props = mappings["properties"]
    assert props["qid"] == {"type": "keyword"}
    assert props["topic"] == {"type": "keyword"}
    assert props["clientFilterValues"] == {"type": "keyword"}
    assert props["item"] == {"type": "object", "enabled": False}
    assert props["questions"]["type"] == "nested"
    vector = {"type": "knn_vector", "dimension": 3,
              "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene",
                         "parameters": {"m": 16, "ef_construction": 128}}}
    assert props["questions"]["properties"]["vector"] == vector
    assert props["answer_vector"] == vector and props["passage_vector"] == vector
    assert props["questions"]["properties"]["text"] == {"type": "text", "analyzer": "english"}


def test_bulk_lines_carry_each_item_with_its_vectors_and_filters(fake):
    store, server = fake
    server.reply(200, mapping_reply())
    server.reply(200, bulk_reply(("index", "Hi.1", 201), ("index", "P.1", 201)))

    store.put([qna("Hi.1", "Hello", "Hi there", t="greetings", clientFilterValues="web, app"),
               passage("P.1", "Humpty Dumpty sat on a wall.")], index=INFO)

    bulk = server.requests[1]
    assert (bulk.method, bulk.path, bulk.params) == ("POST", "/qnabot/_bulk", {})
    action, doc, action2, doc2 = bulk.lines
    assert action == {"index": {"_id": "Hi.1"}}
    assert doc == {
        "qid": "Hi.1", "type": "qna", "topic": "greetings",
        "clientFilterValues": ["web", "app"],
        "item": {"qid": "Hi.1", "q": ["Hello", "Hi there"], "a": "An answer.", "t": "greetings",
                 "clientFilterValues": "web, app", "type": "qna"},
        "questions": [{"text": "Hello", "vector": [1.0, 0.0, 0.0]},
                      {"text": "Hi there", "vector": [1.0, 0.0, 0.0]}],
        "answer": "An answer.", "answer_vector": [0.0, 1.0, 0.0],
    }
    assert action2 == {"index": {"_id": "P.1"}}
    assert doc2["passage"] == "Humpty Dumpty sat on a wall."
    assert doc2["passage_vector"] == [0.0, 0.0, 1.0]
    assert "questions" not in doc2 and "answer" not in doc2


def test_large_imports_are_sent_in_chunks(fake, monkeypatch):
    store, server = fake
    monkeypatch.setattr(opensearch_store, "_MAX_BULK_DOCS", 2)
    server.reply(200, mapping_reply())
    server.reply(200, bulk_reply(("index", "A.1", 201), ("index", "A.2", 201)))
    server.reply(200, bulk_reply(("index", "A.3", 201)))

    assert store.put([qna(f"A.{n}") for n in (1, 2, 3)], index=INFO) == 3
    assert [len(r.lines) for r in server.requests[1:]] == [4, 2]


def test_rejected_documents_are_reported_by_qid_and_the_others_are_written(fake):
    store, server = fake
    server.reply(200, mapping_reply())
    server.reply(200, bulk_reply(("index", "Good.1", 201), ("index", "Bad.1", 400),
                                 errors=True))

    with pytest.raises(StoreError) as error:
        store.put([qna("Good.1"), qna("Bad.1")], index=INFO)
    message = str(error.value)
    assert "rejected 1 of 2 documents" in message
    assert "Bad.1: failed to parse field [answer_vector] (Vector dimension mismatch)" in message
    assert "Good.1" not in message


def test_throttled_documents_are_retried_with_backoff(fake):
    store, server = fake
    server.reply(200, mapping_reply())
    server.reply(200, bulk_reply(("index", "A.1", 201), ("index", "A.2", 429), errors=True))
    server.reply(200, bulk_reply(("index", "A.2", 201)))

    assert store.put([qna("A.1"), qna("A.2")], index=INFO) == 2
    retry = server.requests[2]
    assert [line for line in retry.lines if "index" in line] == [{"index": {"_id": "A.2"}}]
    assert store.sleeps == [0.5]


def test_a_throttled_bulk_request_is_sent_again(fake):
    store, server = fake
    server.reply(200, mapping_reply())
    server.reply(429, {"error": {"type": "es_rejected_execution_exception",
                                 "reason": "too many requests"}, "status": 429})
    server.reply(200, bulk_reply(("index", "A.1", 201)))

    assert store.put([qna("A.1")], index=INFO) == 1
    assert server.requests[1].raw_body == server.requests[2].raw_body
    assert store.sleeps == [0.5]


def test_documents_throttled_too_often_are_reported(fake):
    store, server = fake
    server.reply(200, mapping_reply())
    for _ in range(opensearch_store._MAX_ATTEMPTS):
        server.reply(200, bulk_reply(("index", "A.1", 429), errors=True))

    with pytest.raises(StoreError, match=r"A\.1: still throttled \(429\) after 6 attempts"):
        store.put([qna("A.1")], index=INFO)
    assert store.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_vectors_of_another_dimension_are_refused_before_any_write(fake):
    store, server = fake
    server.reply(200, mapping_reply(info=IndexInfo("other/model", 8)))

    with pytest.raises(DimensionMismatchError):
        store.put([qna("A.1")], index=INFO)
    assert len(server.requests) == 1


def test_replace_all_fills_a_new_index_then_swaps_the_alias_and_drops_the_old_one(fake):
    store, server = fake
    new_info = IndexInfo("new/model", 3)
    server.reply(200, {"qnabot-1": {"aliases": {"qnabot": {}}}})
    server.reply(200, {"acknowledged": True})
    server.reply(200, bulk_reply(("index", "A.1", 201)))
    server.reply(200, {"acknowledged": True})
    server.reply(200, {"acknowledged": True})

    assert store.put([qna("A.1")], replace_all=True, index=new_info) == 1

    get_alias, create, bulk, swap, drop = server.requests
    assert (get_alias.method, get_alias.path) == ("GET", "/_alias/qnabot")
    assert create.path == "/qnabot-1700000000000-c0ffee" and "aliases" not in create.body
    assert create.body["mappings"]["_meta"]["model_id"] == "new/model"
    assert bulk.path == "/qnabot-1700000000000-c0ffee/_bulk"
    assert (swap.method, swap.path) == ("POST", "/_aliases")
    assert swap.body == {"actions": [
        {"remove": {"index": "qnabot-1", "alias": "qnabot"}},
        {"add": {"index": "qnabot-1700000000000-c0ffee", "alias": "qnabot"}}]}
    assert (drop.method, drop.path) == ("DELETE", "/qnabot-1")


def test_a_failed_replace_leaves_the_old_index_live_and_removes_the_new_one(fake):
    store, server = fake
    server.reply(200, {"qnabot-1": {"aliases": {"qnabot": {}}}})
    server.reply(200, {"acknowledged": True})
    server.reply(200, bulk_reply(("index", "A.1", 400), errors=True))
    server.reply(200, {"acknowledged": True})

    with pytest.raises(StoreError, match="A.1"):
        store.put([qna("A.1")], replace_all=True, index=INFO)
    assert [(r.method, r.path) for r in server.requests[-1:]] == [
        ("DELETE", "/qnabot-1700000000000-c0ffee")]
    assert not any(r.path == "/_aliases" for r in server.requests)


def test_delete_counts_only_items_that_existed(fake):
    store, server = fake
    server.reply(200, {"qnabot-1": {"aliases": {"qnabot": {}}}})
    server.reply(200, bulk_reply(("delete", "A.1", 200), ("delete", "Gone", 404)))

    assert store.delete(["A.1", "Gone"]) == 1
    assert server.requests[1].lines == [{"delete": {"_id": "A.1"}}, {"delete": {"_id": "Gone"}}]


# --- reading ---------------------------------------------------------------------------------


def test_index_info_comes_from_the_mapping_meta(fake):
    store, server = fake
    server.reply(200, mapping_reply())
    assert store.index_info() == INFO
    assert server.requests[0].path == "/qnabot/_mapping"


def test_a_never_written_store_reads_as_empty(fake):
    store, server = fake
    for _ in range(5):
        server.reply(404, index_missing())
    assert store.index_info() is None
    assert store.count() == 0
    assert store.get_many(["A.1"]) == {}
    assert store.list().total == 0
    assert list(store.iter_items()) == []


def test_get_many_fetches_only_the_item_json(fake):
    store, server = fake
    server.reply(200, {"docs": [
        {"_index": "qnabot-1", "_id": "A.1", "found": True,
         "_source": {"item": {"qid": "A.1", "q": ["Q"], "a": "A", "type": "qna"}}},
        {"_index": "qnabot-1", "_id": "B.1", "found": False}]})

    items = store.get_many(["A.1", "B.1", "A.1"])
    assert list(items) == ["A.1"] and items["A.1"].answer == "A"
    request = server.requests[0]
    assert request.path == "/qnabot/_mget" and request.params == {"_source_includes": "item"}
    assert request.body == {"ids": ["A.1", "B.1"]}


def test_listing_escapes_wildcards_so_the_filter_is_plain_text(fake):
    store, server = fake
    server.reply(200, hits())
    server.reply(200, hits())
    store.list(qid_filter="a*b?c\\", offset=20, limit=10)
    store.list(qid_filter="Alexa.", prefix=True)

    contains, prefix = (r.body for r in server.requests)
    assert contains == {"query": {"wildcard": {"qid": {"value": "*a\\*b\\?c\\\\*"}}},
                        "sort": [{"qid": "asc"}], "from": 20, "size": 10,
                        "track_total_hits": True, "_source": ["item"]}
    assert prefix["query"] == {"prefix": {"qid": {"value": "Alexa."}}}


def test_iter_items_pages_with_search_after(fake, monkeypatch):
    store, server = fake
    monkeypatch.setattr(opensearch_store, "_PAGE", 1)
    item = {"qid": "A.1", "q": ["Q"], "a": "A", "type": "qna"}
    server.reply(200, hits({"_id": "A.1", "_source": {"item": item}, "sort": ["A.1"]}))
    server.reply(200, hits())

    assert [i.qid for i in store.iter_items()] == ["A.1"]
    assert server.requests[1].body["search_after"] == ["A.1"]


# --- searching -------------------------------------------------------------------------------


def test_question_search_runs_knn_and_bm25_then_fills_in_missing_scores(fake):
    store, server = fake
    vector = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    # first round: A found by both, B only by vectors, C only by keywords
    server.reply(200, {"responses": [
        hits(question_hit("A", 0.95, ["Hi", "Hello there"], offset=1, topic="greet"),
             question_hit("B", 0.80, ["Bye"])),
        hits(question_hit("A", 7.5, ["Hi", "Hello there"], offset=1, topic="greet"),
             question_hit("C", 3.0, ["Hello world", "Yo"], offset=0)),
    ]})
    # second round: C's vector score; B has no keyword in common (no hit)
    server.reply(200, {"responses": [hits(question_hit("C", 0.6, ["Hello world", "Yo"],
                                                       offset=1)), hits()]})

    matches = store.search(SearchField.QUESTIONS, vector=vector, text="hello", k=5)

    first, second = server.requests
    assert first.path == "/_msearch"
    header, knn, header2, bm25 = first.lines
    assert header == header2 == {"index": "qnabot"}
    no_client = {"bool": {"must_not": [{"exists": {"field": "clientFilterValues"}}]}}
    assert knn == {
        "size": 5, "_source": ["qid", "topic", "questions.text"],
        "query": {"nested": {
            "path": "questions", "score_mode": "max",
            "query": {"knn": {"questions.vector": {
                "vector": [1.0, 0.0, 0.0], "k": 5,
                "filter": {"bool": {"filter": [no_client]}}}}},
            "inner_hits": {"size": 1, "_source": False}}}}
    assert bm25 == {
        "size": 5, "_source": ["qid", "topic", "questions.text"],
        "query": {"bool": {"must": [{"nested": {
            "path": "questions", "score_mode": "max",
            "query": {"match": {"questions.text": {"query": "hello"}}},
            "inner_hits": {"size": 1, "_source": False}}}], "filter": [no_client]}}}
    _, knn_c, _, bm25_b = second.lines
    assert knn_c["query"]["nested"]["query"]["knn"]["questions.vector"]["k"] == 1
    assert knn_c["query"]["nested"]["query"]["knn"]["questions.vector"]["filter"] == {
        "bool": {"filter": [no_client, {"terms": {"qid": ["C"]}}]}}
    assert bm25_b["query"]["bool"]["filter"] == [no_client, {"terms": {"qid": ["B"]}}]

    assert [(m.qid, m.vector_score, m.keyword_score, m.matched_text, m.topic)
            for m in matches] == [
        ("A", 0.9, 7.5, "Hello there", "greet"),
        ("B", 0.6, 0.0, "Bye", ""),
        ("C", 0.2, 3.0, "Yo", ""),
    ]


def test_keyword_only_search_sends_one_query_and_reports_no_vector_score(fake):
    store, server = fake
    server.reply(200, {"responses": [hits(
        {"_id": "P.1", "_score": 2.5, "_source": {"qid": "P.1", "passage": "Humpty sat."}})]})

    matches = store.search(SearchField.PASSAGES, vector=None, text="humpty", k=3,
                           client_filter="web")

    (request,) = server.requests
    _, body = request.lines
    assert body["query"]["bool"]["must"] == [{"match": {"passage": {"query": "humpty"}}}]
    assert body["query"]["bool"]["filter"] == [{"bool": {"should": [
        {"bool": {"must_not": [{"exists": {"field": "clientFilterValues"}}]}},
        {"term": {"clientFilterValues": {"value": "web", "case_insensitive": True}}}],
        "minimum_should_match": 1}}]
    assert [(m.qid, m.vector_score, m.keyword_score, m.matched_text) for m in matches] == [
        ("P.1", 0.0, 2.5, "Humpty sat.")]


def test_answer_search_uses_the_answer_fields(fake):
    store, server = fake
    server.reply(200, {"responses": [hits(
        {"_id": "A.1", "_score": 0.75, "_source": {"qid": "A.1", "answer": "It is red."}})]})

    matches = store.search(SearchField.ANSWERS, vector=np.array([0, 1, 0], dtype=np.float32),
                           text=" ", k=2)

    (request,) = server.requests
    _, body = request.lines
    assert body["query"] == {"knn": {"answer_vector": {"vector": [0.0, 1.0, 0.0], "k": 2,
                                                       "filter": body["query"]["knn"][
                                                           "answer_vector"]["filter"]}}}
    assert body["_source"] == ["qid", "topic", "answer"]
    assert [(m.qid, m.vector_score, m.matched_text) for m in matches] == [
        ("A.1", 0.5, "It is red.")]


def test_searching_before_anything_was_written_finds_nothing(fake):
    store, server = fake
    server.reply(200, {"responses": [{"error": index_missing()["error"], "status": 404}]})
    assert store.search(SearchField.QUESTIONS, vector=None, text="hi", k=3) == []


def test_a_failed_search_says_why(fake):
    store, server = fake
    server.reply(200, {"responses": [{"error": {
        "type": "search_phase_execution_exception", "reason": "all shards failed",
        "caused_by": {"type": "illegal_argument_exception",
                      "reason": "query vector has invalid dimension: 3. Dimension should be: 8"}},
        "status": 400}]})
    with pytest.raises(StoreError, match="all shards failed.*Dimension should be: 8"):
        store.search(SearchField.QUESTIONS, vector=None, text="hi", k=3)


def test_refused_credentials_become_a_store_error_that_says_what_to_check(fake):
    store, server = fake
    server.reply(403, {"error": {"type": "security_exception",
                                 "reason": "no permissions for [indices:data/read/search]"},
                       "status": 403})
    with pytest.raises(StoreError) as error:
        store.list()
    message = str(error.value)
    assert "HTTP 403" in message and "no permissions" in message
    assert "OPENSEARCH_AUTH" in message


def test_knn_scores_convert_back_to_cosine():
    assert cosine_from_knn_score(1.0) == 1.0
    assert cosine_from_knn_score(0.5) == 0.0
    assert cosine_from_knn_score(0.0) == -1.0


# --- configuration ---------------------------------------------------------------------------


def test_environment_without_a_url_is_refused_with_the_variable_to_set():
    with pytest.raises(StoreError, match="OPENSEARCH_URL"):
        OpenSearchStore.from_environment({})


def test_environment_with_basic_auth_uses_the_username_and_password():
    store = OpenSearchStore.from_environment({
        "OPENSEARCH_URL": "https://search.example.com:9200", "OPENSEARCH_AUTH": "basic",
        "OPENSEARCH_USERNAME": "admin", "OPENSEARCH_PASSWORD": "secret",
        "OPENSEARCH_INDEX": "faq"})
    connection = store.client.transport.connection_pool.connections[0]
    assert store.alias == "faq" and store.engine == "lucene" and store.refresh
    assert connection.headers["authorization"].startswith("Basic ")


def test_environment_for_aws_domains_signs_with_sigv4(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    es = OpenSearchStore.from_environment({
        "OPENSEARCH_URL": "https://search-qna-abc.us-east-1.es.amazonaws.com",
        "AWS_REGION": "us-east-1"})
    aoss = OpenSearchStore.from_environment({
        "OPENSEARCH_URL": "https://abc123.us-east-1.aoss.amazonaws.com",
        "AWS_REGION": "us-east-1"})
    for store, service in ((es, "es"), (aoss, "aoss")):
        auth = store.client.transport.connection_pool.connections[0].session.auth
        assert isinstance(auth, AWSV4SignerAuth)
        assert (auth.signer.service, auth.signer.region) == (service, "us-east-1")
    assert (es.engine, es.refresh) == ("lucene", True)
    assert (aoss.engine, aoss.refresh, aoss.custom_ids) == ("faiss", False, False)
    assert es.custom_ids is True


def test_an_unknown_auth_mode_is_refused():
    with pytest.raises(StoreError, match="sigv4-es, sigv4-aoss, basic, none"):
        OpenSearchStore.from_environment({"OPENSEARCH_URL": "http://localhost:9200",
                                          "OPENSEARCH_AUTH": "kerberos"})


def test_deleting_from_a_never_written_store_sends_no_bulk(fake):
    store, server = fake
    server.reply(404, alias_missing())
    assert store.delete(["A.1"]) == 0
    assert len(server.requests) == 1


def test_an_import_failing_midway_sends_nothing(fake, monkeypatch):
    store, server = fake
    monkeypatch.setattr(opensearch_store, "_MAX_BULK_DOCS", 1)
    server.reply(200, mapping_reply())

    def failing():
        yield qna("A.1")
        yield qna("A.2")
        raise ValueError("corrupt file")

    with pytest.raises(ValueError, match="corrupt file"):
        store.put(failing(), index=INFO)
    assert [r.path for r in server.requests] == ["/qnabot/_mapping"]


def test_a_pasted_essay_is_cut_to_the_clause_limit(fake):
    store, server = fake
    server.reply(200, {"responses": [hits()]})
    essay = " ".join(f"word{n}" for n in range(3000)) + " word1"

    store.search(SearchField.QUESTIONS, vector=None, text=essay, k=3)

    _, body = server.requests[0].lines
    sent = body["query"]["bool"]["must"][0]["nested"]["query"]["match"]["questions.text"]["query"]
    assert sent.split() == [f"word{n}" for n in range(256)]


def test_index_info_is_read_once_per_interval_but_never_trusted_before_a_write(fake):
    store, server = fake
    server.reply(200, mapping_reply())
    assert store.index_info() == INFO
    assert store.index_info() == INFO  # answered from memory: one request so far
    assert len(server.requests) == 1
    server.reply(200, mapping_reply(info=IndexInfo("other/model", 8)))  # re-indexed elsewhere
    with pytest.raises(DimensionMismatchError):
        store.put([qna("A.1")], index=INFO)
    assert [r.path for r in server.requests] == ["/qnabot/_mapping"] * 2


def test_an_import_is_refreshed_once_after_its_last_chunk(fake, monkeypatch):
    store, server = fake
    store.refresh = True
    monkeypatch.setattr(opensearch_store, "_MAX_BULK_DOCS", 1)
    server.reply(200, mapping_reply())
    server.reply(200, bulk_reply(("index", "A.1", 201)))
    server.reply(200, bulk_reply(("index", "A.2", 201)))
    server.reply(200, {"_shards": {"total": 1, "successful": 1, "failed": 0}})

    store.put([qna("A.1"), qna("A.2")], index=INFO)

    assert [(r.method, r.path) for r in server.requests[1:]] == [
        ("POST", "/qnabot/_bulk"), ("POST", "/qnabot/_bulk"), ("POST", "/qnabot/_refresh")]
