"""The OpenSearch adapter of the :class:`~knowledge.store.Store` port (Amazon OpenSearch
Service, OpenSearch Serverless, or a self-managed cluster).

Layout
------
Readers and writers always go through an *alias* (``OPENSEARCH_INDEX``, default ``qnabot``)
that points at one physical index named ``<alias>-<milliseconds>-<random>``. One document per
item, its id the qid (on OpenSearch Serverless, which refuses custom document ids in vector
collections, an id the service assigns; items are then found by their ``qid`` field)::

    qid                 keyword (sorting, listing, ids)
    type, topic         keyword
    clientFilterValues  keyword, one value per client (absent = every client)
    questions           nested: [{text, vector}], in the item's question order
    answer, answer_vector    a QnA item's answer, text + knn_vector
    passage, passage_vector  a text item's passage, text + knn_vector
    item                the item's QnABot JSON, stored but not indexed

Vectors use HNSW with ``cosinesimil``. The engine is ``lucene`` by default and ``faiss`` on
OpenSearch Serverless (the only HNSW engine its vector collections accept); set
``OPENSEARCH_KNN_ENGINE`` to override. OpenSearch reports a cosine k-NN hit as
``score = (1 + cos) / 2`` (Lucene always; Faiss from OpenSearch 2.19), so
:func:`cosine_from_knn_score` turns it back into the cosine the matcher's thresholds expect.
The embeddings model id and dimension are kept in the index mapping's ``_meta``.

Writes
------
Imports are sent with ``_bulk`` in chunks (by count and by bytes). Documents rejected with 429
(throttling) are retried with exponential backoff; other per-document errors are collected and
raised together in one :class:`~knowledge.store.StoreError` naming each qid. OpenSearch has no
multi-document transactions: ``put(..., replace_all=True)`` (import with replace, re-index) is
atomic for readers because it fills a *new* index and then swaps the alias in one ``_aliases``
call, deleting the old index afterwards; a plain upsert is applied document by document.
On Serverless (``custom_ids=False``) an upsert writes the new documents first and then deletes
the older documents of the same qids, so an item is never missing; a reader may see both for
the few seconds before the collection refreshes (searches keep one hit per qid).

Search
------
One ``_msearch`` runs the k-NN query (nested, ``score_mode: max``, inner hits telling which
question matched) and the BM25 query. A second ``_msearch`` fills in the missing score of
candidates found by only one of them: the BM25 query restricted to their qids, and the k-NN
query filtered to their qids (with a filter smaller than ``k``, Lucene and Faiss score the
filtered documents exactly).

Example:
    >>> store = OpenSearchStore.from_environment()  # doctest: +SKIP
    >>> store.count()  # doctest: +SKIP
    42
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
from opensearchpy import OpenSearch, RequestsHttpConnection
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    NotFoundError,
    TransportError,
)
from opensearchpy.exceptions import (
    ConnectionError as OpenSearchConnectionError,
)

from knowledge.client_filters import client_term
from knowledge.items import Item
from knowledge.store import (
    DimensionMismatchError,
    FieldMatch,
    IndexInfo,
    ItemPage,
    SearchField,
    StoredItem,
    StoreError,
)

#: Bump when the mapping changes; stored in ``_meta`` so an old index can be recognised.
SCHEMA_VERSION = 1
AUTH_MODES = ("sigv4-es", "sigv4-aoss", "basic", "none")
_MAX_BULK_DOCS = 500
_MAX_BULK_BYTES = 5 * 1024 * 1024  # well under the 10 MiB request limit of the smallest domains
_MAX_ATTEMPTS = 6
_PAGE = 1000
#: qids per ``terms`` lookup (Serverless: items found by their qid field).
_TERMS_BATCH = 500
_MAX_QUERY_WORDS = 256
_MAX_QUERY_CHARS = 4096
_SPOOL_IN_MEMORY = 32 * 1024 * 1024
_NO_HITS: dict[str, Any] = {"hits": {"total": {"value": 0}, "hits": []}}
_RAISE = object()
#: Seconds a read index_info() answer is reused.
INDEX_INFO_TTL = 30.0


def cosine_from_knn_score(score: float) -> float:
    """The cosine similarity behind an OpenSearch ``cosinesimil`` k-NN score.

    OpenSearch scores cosine hits as ``(1 + cos) / 2`` so that scores are never negative.

    Example:
        >>> cosine_from_knn_score(0.9)
        0.8
    """
    return round(max(-1.0, min(1.0, 2.0 * score - 1.0)), 7)


def escape_wildcard(text: str) -> str:
    r"""``text`` as a literal inside a ``wildcard`` query (``*``, ``?`` and ``\`` escaped).

    Example:
        >>> escape_wildcard("a*b?")
        'a\\*b\\?'
    """
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


@dataclass(frozen=True)
class _FieldLayout:
    """Where one search stage's text and vectors live in a document."""

    text: str
    vector: str
    nested: str = ""  # the nested path, for questions


_LAYOUT = {
    SearchField.QUESTIONS: _FieldLayout("questions.text", "questions.vector", nested="questions"),
    SearchField.ANSWERS: _FieldLayout("answer", "answer_vector"),
    SearchField.PASSAGES: _FieldLayout("passage", "passage_vector"),
}


def index_body(info: IndexInfo, *, engine: str = "lucene") -> dict[str, Any]:
    """Settings and mappings of a physical index for vectors of ``info.dimension``.

    Example:
        >>> body = index_body(IndexInfo("test/hashing-8", 8))
        >>> body["mappings"]["properties"]["answer_vector"]["dimension"]
        8
    """
    vector = {
        "type": "knn_vector",
        "dimension": info.dimension,
        "method": {
            "name": "hnsw",
            "space_type": "cosinesimil",
            "engine": engine,
            "parameters": {"m": 16, "ef_construction": 128},
        },
    }
    text = {"type": "text", "analyzer": "english"}
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {
            "dynamic": "strict",
            "_meta": {"model_id": info.model_id, "dimension": info.dimension,
                      "schema_version": SCHEMA_VERSION},
            "properties": {
                "qid": {"type": "keyword"},
                "type": {"type": "keyword"},
                "topic": {"type": "keyword"},
                "clientFilterValues": {"type": "keyword"},
                "questions": {"type": "nested",
                              "properties": {"text": text, "vector": vector}},
                "answer": text,
                "answer_vector": vector,
                "passage": text,
                "passage_vector": vector,
                "item": {"type": "object", "enabled": False},
            },
        },
    }


def _vector_json(vector: np.ndarray) -> list[float]:
    # Seven decimals keep float32 precision (cosines exact to ~1e-6) and short JSON numbers.
    return np.round(np.asarray(vector, dtype=np.float64), 7).tolist()


def query_text(text: str) -> str:
    """``text`` cut to its first distinct words, so a pasted essay cannot exceed OpenSearch's
    limit of 1,024 clauses per query. The text is analysed, never parsed as query syntax.

    Example:
        >>> query_text("reset reset   password")
        'reset password'
    """
    words = dict.fromkeys(text.split())
    return " ".join(list(words)[:_MAX_QUERY_WORDS])[:_MAX_QUERY_CHARS]


def document(stored: StoredItem) -> dict[str, Any]:
    """The OpenSearch document of one item.

    Example:
        >>> from knowledge.items import parse_item
        >>> item = parse_item({"qid": "Hi.1", "q": ["Hello"], "a": "Hi!"})
        >>> doc = document(StoredItem(item, np.ones((1, 2)), np.ones(2)))
        >>> doc["questions"][0]["text"], doc["answer"]
        ('Hello', 'Hi!')
    """
    item = stored.item
    doc: dict[str, Any] = {"qid": item.qid, "type": item.kind, "item": item.to_json()}
    if item.topic:
        doc["topic"] = item.topic
    if item.client_filter_values:
        doc["clientFilterValues"] = list(item.client_filter_values)
    if item.kind == "qna":
        doc["questions"] = [
            {"text": question, "vector": _vector_json(vector)}
            for question, vector in zip(item.questions, stored.question_vectors, strict=True)
        ]
        doc["answer"] = item.answer
        doc["answer_vector"] = _vector_json(stored.answer_vector)
    elif item.kind == "text":
        doc["passage"] = item.passage
        doc["passage_vector"] = _vector_json(stored.answer_vector)
    return doc


_VECTOR_FIELDS = ("answer_vector", "passage_vector")


def _stored_item(source: dict[str, Any]) -> StoredItem | None:
    """The item of a document with its vectors; None for a slot type (no vectors).

    Example:
        >>> from knowledge.items import parse_item
        >>> item = parse_item({"qid": "Hi.1", "q": ["Hello"], "a": "Hi!"})
        >>> _stored_item(document(StoredItem(item, np.ones((1, 2)), np.ones(2)))).answer_vector
        array([1., 1.], dtype=float32)
    """
    answer = next((source[name] for name in _VECTOR_FIELDS if name in source), None)
    if answer is None:
        return None
    answer_vector = np.asarray(answer, dtype=np.float32)
    questions = [q["vector"] for q in source.get("questions") or () if "vector" in q]
    question_vectors = np.asarray(questions, dtype=np.float32).reshape(-1, len(answer_vector))
    return StoredItem(Item(source["item"]), question_vectors, answer_vector)


def client_filter_clause(client_filter: str | None) -> dict[str, Any]:
    """Items without ``clientFilterValues``, or (with a client) those listing its word.

    Documents hold the item's filter words lowercased (:mod:`knowledge.client_filters`); the
    term also ignores case, as QnABot's query does, for documents indexed before that.

    Example:
        >>> client_filter_clause(None)
        {'bool': {'must_not': [{'exists': {'field': 'clientFilterValues'}}]}}
    """
    unrestricted = {"bool": {"must_not": [{"exists": {"field": "clientFilterValues"}}]}}
    term = client_term(client_filter)
    if term is None:
        return unrestricted
    listed = {"term": {"clientFilterValues": {"value": term, "case_insensitive": True}}}
    return {"bool": {"should": [unrestricted, listed], "minimum_should_match": 1}}


def _source_fields(field: SearchField) -> list[str]:
    return ["qid", "topic", "questions.text" if field is SearchField.QUESTIONS else
            _LAYOUT[field].text]


def vector_query(field: SearchField, vector: np.ndarray, k: int,
                 filters: list[dict[str, Any]]) -> dict[str, Any]:
    """The k-NN query body of one stage, filtered (client filter, ids) inside the k-NN search."""
    layout = _LAYOUT[field]
    knn: dict[str, Any] = {"vector": _vector_json(vector), "k": k}
    if filters:
        knn["filter"] = {"bool": {"filter": filters}}
    query: dict[str, Any] = {"knn": {layout.vector: knn}}
    if layout.nested:
        query = {"nested": {"path": layout.nested, "score_mode": "max", "query": query,
                            "inner_hits": {"size": 1, "_source": False}}}
    return {"size": k, "_source": _source_fields(field), "query": query}


def keyword_query(field: SearchField, text: str, size: int,
                  filters: list[dict[str, Any]]) -> dict[str, Any]:
    """The BM25 query body of one stage (best-scoring question for nested questions)."""
    layout = _LAYOUT[field]
    query: dict[str, Any] = {"match": {layout.text: {"query": query_text(text)}}}
    if layout.nested:
        query = {"nested": {"path": layout.nested, "score_mode": "max", "query": query,
                            "inner_hits": {"size": 1, "_source": False}}}
    return {"size": size, "_source": _source_fields(field),
            "query": {"bool": {"must": [query], "filter": filters}}}


@dataclass
class _Candidate:
    qid: str
    topic: str
    texts: list[str]  # the questions, or the single answer / passage
    vector_score: float = 0.0
    vector_offset: int | None = None
    keyword_score: float = 0.0
    keyword_offset: int | None = None

    def match(self) -> FieldMatch:
        offset = self.vector_offset if self.vector_offset is not None else self.keyword_offset
        text = self.texts[offset or 0] if self.texts else ""
        return FieldMatch(self.qid, self.vector_score, self.keyword_score, text, self.topic)


def _candidate(hit: dict[str, Any], field: SearchField) -> _Candidate:
    source = hit.get("_source") or {}
    if field is SearchField.QUESTIONS:
        texts = [q.get("text", "") for q in source.get("questions") or ()]
    else:
        texts = [source.get(_LAYOUT[field].text, "")]
    return _Candidate(qid=source.get("qid", hit["_id"]), topic=source.get("topic", ""),
                      texts=texts)


def _best_offset(hit: dict[str, Any]) -> int | None:
    for inner in (hit.get("inner_hits") or {}).values():
        hits = inner.get("hits", {}).get("hits") or ()
        if hits:
            return hits[0].get("_nested", {}).get("offset")
    return None


class OpenSearchStore:
    """Items in an OpenSearch index behind an alias; see the module docstring for the layout."""

    def __init__(self, client: OpenSearch, alias: str = "qnabot", *, engine: str = "lucene",
                 refresh: bool = True, custom_ids: bool = True,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        """``refresh`` makes writes visible before returning (OpenSearch Serverless refreshes
        on its own and rejects the parameter). ``custom_ids=False`` never sends a document id
        (Serverless vector collections refuse them) and finds items by their ``qid`` field.
        ``sleep`` and ``clock`` are injectable for tests.
        """
        self.client = client
        self.alias = alias
        self.engine = engine
        self.refresh = refresh
        self.custom_ids = custom_ids
        self._sleep = sleep
        self._clock = clock
        self._known_info: tuple[float, IndexInfo] | None = None

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> OpenSearchStore:
        """Build the store from ``OPENSEARCH_URL``, ``OPENSEARCH_INDEX`` (default ``qnabot``),
        ``OPENSEARCH_AUTH`` (``sigv4-es``, ``sigv4-aoss``, ``basic`` or ``none``; default
        ``sigv4-es`` for ``*.amazonaws.com`` hosts, else ``none``), ``OPENSEARCH_USERNAME`` /
        ``OPENSEARCH_PASSWORD`` (basic), ``AWS_REGION`` (SigV4) and ``OPENSEARCH_KNN_ENGINE``.

        Example:
            >>> OpenSearchStore.from_environment({"OPENSEARCH_URL": "http://localhost:9200"}).alias
            'qnabot'
        """
        env = os.environ if environ is None else environ
        url = env.get("OPENSEARCH_URL", "").strip()
        if not url:
            raise StoreError("OPENSEARCH_URL is not set: set it to the OpenSearch endpoint, "
                             "e.g. https://search-qnabot-abc.us-east-1.es.amazonaws.com")
        default_auth = "sigv4-es" if ".amazonaws.com" in url else "none"
        if ".aoss.amazonaws.com" in url:
            default_auth = "sigv4-aoss"
        auth_mode = env.get("OPENSEARCH_AUTH", default_auth).strip().lower() or default_auth
        if auth_mode not in AUTH_MODES:
            raise StoreError(f'OPENSEARCH_AUTH="{auth_mode}" is not one of '
                             f'{", ".join(AUTH_MODES)}')
        options: dict[str, Any] = {"hosts": [url], "timeout": 30, "max_retries": 2,
                                   "retry_on_timeout": True}
        if auth_mode.startswith("sigv4"):
            options.update(http_auth=_sigv4_auth(auth_mode.removeprefix("sigv4-"),
                                                 env.get("AWS_REGION", "")),
                           connection_class=RequestsHttpConnection, pool_maxsize=20)
        elif auth_mode == "basic":
            user, password = env.get("OPENSEARCH_USERNAME", ""), env.get("OPENSEARCH_PASSWORD", "")
            if not user:
                raise StoreError("OPENSEARCH_AUTH=basic needs OPENSEARCH_USERNAME and "
                                 "OPENSEARCH_PASSWORD")
            options["http_auth"] = (user, password)
        serverless = auth_mode == "sigv4-aoss"
        engine = env.get("OPENSEARCH_KNN_ENGINE", "faiss" if serverless else "lucene")
        return cls(OpenSearch(**options), alias=env.get("OPENSEARCH_INDEX", "qnabot") or "qnabot",
                   engine=engine, refresh=not serverless, custom_ids=not serverless)

    # --- reads ---------------------------------------------------------------------------------

    def index_info(self) -> IndexInfo | None:
        """The model recorded in the index mapping's ``_meta``, or None before the first write.

        Every search checks it, so a known answer is kept for :data:`INDEX_INFO_TTL` seconds
        (a re-index by another process shows within that time; this store's own writes at once).
        """
        now = time.monotonic()
        if self._known_info is not None and now - self._known_info[0] < INDEX_INFO_TTL:
            return self._known_info[1]
        info = self._read_index_info()
        self._known_info = (now, info) if info is not None else None
        return info

    def _read_index_info(self) -> IndexInfo | None:
        mappings = self._call("read the index mapping",
                              lambda: self.client.indices.get_mapping(index=self.alias),
                              missing={})
        if not mappings:
            return None
        name, mapping = sorted(mappings.items())[-1]
        meta = mapping["mappings"].get("_meta") or {}
        if "dimension" not in meta:
            raise StoreError(f'index "{name}" behind "{self.alias}" was not created by qnabot '
                             "(its mapping has no _meta). Set OPENSEARCH_INDEX to another name.")
        return IndexInfo(meta["model_id"], int(meta["dimension"]))

    def get(self, qid: str) -> Item | None:
        """The item with this qid, or None."""
        return self.get_many([qid]).get(qid)

    def get_many(self, qids: Sequence[str]) -> dict[str, Item]:
        """The items with these qids (missing ones are left out)."""
        if not qids:
            return {}
        wanted = list(dict.fromkeys(qids))
        if not self.custom_ids:
            found: dict[str, Item] = {}
            for start in range(0, len(wanted), _TERMS_BATCH):
                body = {"query": {"terms": {"qid": wanted[start:start + _TERMS_BATCH]}},
                        "size": _PAGE, "_source": ["item"]}
                reply = self._call("fetch items", lambda b=body: self.client.search(
                    index=self.alias, body=b), missing=_NO_HITS)
                for hit in reply["hits"]["hits"]:
                    item = Item(hit["_source"]["item"])
                    found.setdefault(item.qid, item)
            return found
        reply = self._call("fetch items", lambda: self.client.mget(
            index=self.alias, body={"ids": wanted}, _source_includes="item"),
            missing={"docs": []})
        return {doc["_id"]: Item(doc["_source"]["item"]) for doc in reply["docs"]
                if doc.get("found")}

    def count(self) -> int:
        """How many items are stored."""
        reply = self._call("count items", lambda: self.client.count(index=self.alias),
                           missing={"count": 0})
        return int(reply["count"])

    def list(self, *, qid_filter: str = "", prefix: bool = False, offset: int = 0,
             limit: int = 100) -> ItemPage:
        """Items sorted by qid whose qid contains (or starts with) ``qid_filter``, as literal text.

        OpenSearch pages with from/size up to 10,000 items deep; use :meth:`iter_items` beyond.
        """
        if offset < 0 or limit < 0:
            raise ValueError(f"offset and limit must not be negative (got {offset}, {limit})")
        body = {"query": self._qid_query(qid_filter, prefix), "sort": [{"qid": "asc"}],
                "from": offset, "size": limit, "track_total_hits": True, "_source": ["item"]}
        reply = self._call("list items", lambda: self.client.search(index=self.alias, body=body),
                           missing=_NO_HITS)
        hits = reply["hits"]
        return ItemPage([Item(h["_source"]["item"]) for h in hits["hits"]],
                        int(hits["total"]["value"]))

    @staticmethod
    def _qid_query(qid_filter: str, prefix: bool) -> dict[str, Any]:
        if not qid_filter:
            return {"match_all": {}}
        if prefix:
            return {"prefix": {"qid": {"value": qid_filter}}}
        return {"wildcard": {"qid": {"value": f"*{escape_wildcard(qid_filter)}*"}}}

    def iter_items(self) -> Iterator[Item]:
        """Every item sorted by qid, paged with ``search_after`` (no scroll context to leak)."""
        for source in self._iter_sources(["item"]):
            yield Item(source["item"])

    def iter_stored(self) -> Iterator[StoredItem]:
        """Every QnA and text item with the vectors of its document, sorted by qid; see
        :meth:`knowledge.store.Store.iter_stored`."""
        for source in self._iter_sources(["item", "questions.vector", *_VECTOR_FIELDS]):
            stored = _stored_item(source)
            if stored is not None:
                yield stored

    def _iter_sources(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        """The ``fields`` of every document sorted by qid, a page at a time (``search_after``)."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"query": {"match_all": {}}, "sort": [{"qid": "asc"}],
                                    "size": _PAGE, "_source": fields}
            if after is not None:
                body["search_after"] = after
            reply = self._call("read items",
                               lambda b=body: self.client.search(index=self.alias, body=b),
                               missing=_NO_HITS)
            hits = reply["hits"]["hits"]
            for hit in hits:
                yield hit["_source"]
            if len(hits) < _PAGE:
                return
            after = hits[-1]["sort"]

    def search(self, field: SearchField, *, vector: np.ndarray | None, text: str | None,
               k: int, client_filter: str | None = None) -> list[FieldMatch]:
        """Candidates for one stage, each with both scores, best ``vector_score`` first."""
        text = text if text and text.strip() else None
        if k <= 0 or (vector is None and text is None):
            return []
        filters = [client_filter_clause(client_filter)]
        first: list[tuple[str, dict[str, Any]]] = []
        if vector is not None:
            first.append(("vector", vector_query(field, vector, k, filters)))
        if text is not None:
            first.append(("keyword", keyword_query(field, text, k, filters)))
        candidates: dict[str, _Candidate] = {}
        found = {kind: set() for kind in ("vector", "keyword")}
        replies = self._msearch([body for _, body in first])
        if replies is None:
            return []  # nothing was ever written
        for (kind, _), reply in zip(first, replies, strict=True):
            self._absorb(kind, reply, field, candidates, found[kind])

        follow_up: list[tuple[str, dict[str, Any]]] = []
        if vector is not None and (missing := sorted(set(candidates) - found["vector"])):
            follow_up.append(("vector", vector_query(
                field, vector, len(missing), filters + [{"terms": {"qid": missing}}])))
        if text is not None and (missing := sorted(set(candidates) - found["keyword"])):
            follow_up.append(("keyword", keyword_query(
                field, text, len(missing), filters + [{"terms": {"qid": missing}}])))
        if follow_up:
            for (kind, _), reply in zip(follow_up, self._msearch(
                    [body for _, body in follow_up]) or [_NO_HITS] * len(follow_up), strict=True):
                self._absorb(kind, reply, field, candidates, found[kind], only_known=True)

        matches = [c.match() for c in candidates.values()]
        matches.sort(key=lambda m: (-m.vector_score, -m.keyword_score, m.qid))
        return matches

    @staticmethod
    def _absorb(kind: str, reply: dict[str, Any], field: SearchField,
                candidates: dict[str, _Candidate], found: set[str],
                only_known: bool = False) -> None:
        for hit in reply["hits"]["hits"]:
            qid = (hit.get("_source") or {}).get("qid") or hit["_id"]
            if qid in found:
                continue  # a second document of the same qid (Serverless, before a refresh)
            if qid not in candidates:
                if only_known:
                    continue
                candidates[qid] = _candidate(hit, field)
            candidate = candidates[qid]
            found.add(qid)
            if kind == "vector":
                candidate.vector_score = cosine_from_knn_score(hit["_score"])
                candidate.vector_offset = _best_offset(hit)
            else:
                candidate.keyword_score = float(hit["_score"])
                candidate.keyword_offset = _best_offset(hit)

    def _msearch(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The responses of ``bodies`` run in one request, or None when the index is missing."""
        lines = []
        for body in bodies:
            lines += [json.dumps({"index": self.alias}), json.dumps(body)]
        reply = self._call("search", lambda: self.client.msearch(body="\n".join(lines) + "\n"))
        responses = reply["responses"]
        for response in responses:
            if _is_index_missing(response.get("error")):
                return None
            if "error" in response:
                raise StoreError(f'OpenSearch search on "{self.alias}" failed: '
                                 f"{_reason(response['error'])}")
        return responses

    # --- writes --------------------------------------------------------------------------------

    def put(self, items: Iterable[StoredItem], *, replace_all: bool = False,
            index: IndexInfo) -> int:
        """Upsert items by qid; with ``replace_all``, build a new index and swap the alias."""
        self._known_info = None
        if replace_all:
            return self._replace_all(items, index)
        stored = self._read_index_info()  # never a cached answer before writing
        if stored is None:
            self._create_index(index, alias=True)
        elif stored.dimension != index.dimension:
            raise DimensionMismatchError(stored, index)
        return self._bulk_index(self.alias, items)

    def delete(self, qids: Sequence[str]) -> int:
        """Delete these items; return how many existed."""
        if not qids or not self._physical_indexes():
            return 0
        if self.custom_ids:
            actions = [(qid, {"delete": {"_id": qid}}, None) for qid in dict.fromkeys(qids)]
        else:
            actions = [(qid, {"delete": {"_id": doc_id}}, None)
                       for qid, doc_id in self._document_ids(list(dict.fromkeys(qids)))]
        results = self._bulk(self.alias, actions)
        return len({result["_qid"] for result in results if result.get("result") == "deleted"})

    def _replace_all(self, items: Iterable[StoredItem], index: IndexInfo) -> int:
        old = self._physical_indexes()
        new = self._create_index(index, alias=False)
        try:
            written = self._bulk_index(new, items)
            actions = [{"remove": {"index": name, "alias": self.alias}} for name in old]
            actions.append({"add": {"index": new, "alias": self.alias}})
            self._call("swap the index alias",
                       lambda: self.client.indices.update_aliases(body={"actions": actions}))
        except BaseException:
            self._delete_index_quietly(new)
            raise
        for name in old:
            self._delete_index_quietly(name)
        return written

    def _create_index(self, info: IndexInfo, *, alias: bool) -> str:
        # Time orders the names; the random part keeps two writes in one millisecond apart.
        name = f"{self.alias}-{int(self._clock() * 1000)}-{secrets.token_hex(3)}".lower()
        body = index_body(info, engine=self.engine)
        if alias:
            body["aliases"] = {self.alias: {}}
        self._call(f'create index "{name}"',
                   lambda: self.client.indices.create(index=name, body=body))
        return name

    def _delete_index_quietly(self, name: str) -> None:
        # A leftover index costs space, not correctness: readers only ever see the alias.
        with contextlib.suppress(TransportError):
            self.client.indices.delete(index=name, ignore_unavailable=True)

    def _bulk_index(self, target: str, items: Iterable[StoredItem]) -> int:
        if self.custom_ids:
            actions = ((s.item.qid, {"index": {"_id": s.item.qid}}, document(s)) for s in items)
            return len(self._bulk(target, actions))
        # No custom ids: write the new documents, then delete the older ones of those qids.
        written = self._bulk(target, ((s.item.qid, {"index": {}}, document(s)) for s in items))
        if target == self.alias:
            new_ids = {result.get("_id") for result in written}
            stale = [(qid, doc_id) for qid, doc_id in self._document_ids(
                list(dict.fromkeys(result["_qid"] for result in written)))
                if doc_id not in new_ids]
            if stale:
                self._bulk(target, ((qid, {"delete": {"_id": doc_id}}, None)
                                    for qid, doc_id in stale))
        return len(written)

    def _document_ids(self, qids: list[str]) -> list[tuple[str, str]]:
        """``(qid, document id)`` of every document of these qids (ids the service assigned)."""
        found: list[tuple[str, str]] = []
        for start in range(0, len(qids), _TERMS_BATCH):
            body = {"query": {"terms": {"qid": qids[start:start + _TERMS_BATCH]}},
                    "size": _PAGE, "_source": ["qid"]}
            reply = self._call("find documents", lambda b=body: self.client.search(
                index=self.alias, body=b), missing=_NO_HITS)
            found += [(hit["_source"]["qid"], hit["_id"]) for hit in reply["hits"]["hits"]]
        return found

    def _bulk(self, target: str,
              actions: Iterable[tuple[str, dict[str, Any], dict[str, Any] | None]]
              ) -> list[dict]:
        """Send ``actions`` in chunks; return each action's result or raise listing failures.

        Every action is serialised (spooled to a temporary file past 32 MiB) before the first
        request, so an input that fails midway (a corrupt file, an embeddings error) writes
        nothing. Each result carries the action's qid as ``_qid``.
        """
        results: list[dict[str, Any]] = []
        failures: list[str] = []
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY, mode="w+b") as spool:
            for qid, action, source in actions:
                spool.write(json.dumps(qid, ensure_ascii=False).encode() + b"\n")
                spool.write(json.dumps(action, ensure_ascii=False).encode() + b"\n")
                if source is not None:
                    spool.write(json.dumps(source, ensure_ascii=False).encode() + b"\n")
            spool.seek(0)
            for chunk in _chunks(spool):
                done, failed = self._bulk_chunk(target, chunk)
                results += done
                failures += failed
        if self.refresh and results:  # one refresh for the whole import, not one per chunk
            self._call("refresh the index", lambda: self.client.indices.refresh(index=target))
        if failures:
            shown = "; ".join(failures[:20])
            more = f" (and {len(failures) - 20} more)" if len(failures) > 20 else ""
            raise StoreError(f"OpenSearch rejected {len(failures)} of "
                             f"{len(results) + len(failures)} documents: {shown}{more}. "
                             "Fix those items and import them again.")
        return results

    def _bulk_chunk(self, target: str, chunk: list[tuple[str, str, str]]
                    ) -> tuple[list[dict], list[str]]:
        done: list[dict[str, Any]] = []
        failures: list[str] = []
        pending = chunk
        for attempt in range(_MAX_ATTEMPTS):
            if attempt:
                self._sleep(min(30.0, 0.5 * 2 ** (attempt - 1)))
            body = "".join(action + source for _qid, action, source in pending)
            try:
                reply = self.client.bulk(body=body, index=target)
            except TransportError as exc:
                if exc.status_code == 429:
                    continue  # the whole request was throttled: back off and send it again
                raise self._store_error("write documents", exc) from exc
            throttled = []
            for (qid, action, source), result in zip(pending, reply["items"], strict=True):
                outcome = next(iter(result.values()))
                status = outcome.get("status", 500)
                if status == 429:
                    throttled.append((qid, action, source))
                elif status >= 300 and not (status == 404 and "delete" in result):
                    failures.append(f"{qid}: {_reason(outcome.get('error'))}")
                else:
                    done.append({**outcome, "_qid": qid})
            if not throttled:
                return done, failures
            pending = throttled
        failures += [f"{qid}: still throttled (429) after {_MAX_ATTEMPTS} attempts"
                     for qid, _action, _source in pending]
        return done, failures

    # --- plumbing ------------------------------------------------------------------------------

    def _physical_indexes(self) -> list[str]:
        """The indexes behind the alias (empty before the first write)."""
        try:
            reply = self.client.indices.get_alias(name=self.alias)
        except NotFoundError:
            return []
        except TransportError as exc:
            raise self._store_error("read the index alias", exc) from exc
        return sorted(reply)

    def _call(self, what: str, request: Callable[[], Any], missing: Any = _RAISE) -> Any:
        """Run one request, turning driver errors into :class:`StoreError`.

        ``missing`` is returned when the alias does not exist yet (nothing was ever written).
        """
        try:
            return request()
        except NotFoundError as exc:
            if missing is not _RAISE and _is_index_missing(exc.info):
                return missing
            raise self._store_error(what, exc) from exc
        except TransportError as exc:
            raise self._store_error(what, exc) from exc

    def _store_error(self, what: str, exc: TransportError) -> StoreError:
        if isinstance(exc, OpenSearchConnectionError):
            return StoreError(f"cannot reach OpenSearch to {what}: {exc.error}. Check "
                              "OPENSEARCH_URL and that this network can reach the endpoint.")
        if isinstance(exc, (AuthenticationException, AuthorizationException)):
            return StoreError(
                f"OpenSearch refused to {what} on \"{self.alias}\" (HTTP {exc.status_code}: "
                f"{_reason(exc.info) if isinstance(exc.info, dict) else exc.error}). Check "
                "OPENSEARCH_AUTH and the credentials, and that the role is mapped in the "
                "domain's fine-grained access control or the collection's data access policy.")
        if isinstance(exc, NotFoundError):
            return StoreError(f'OpenSearch index "{self.alias}" is missing while trying to '
                              f"{what}. Import items to create it.")
        detail = _reason(exc.info) if isinstance(exc.info, dict) else exc.error
        return StoreError(f"OpenSearch could not {what} (HTTP {exc.status_code}): {detail}")


def _is_index_missing(error: Any) -> bool:
    if not isinstance(error, dict):
        return False
    inner = error.get("error", error)
    return isinstance(inner, dict) and inner.get("type") == "index_not_found_exception"


def _reason(error: Any) -> str:
    """A one-line reason from an OpenSearch error object."""
    if isinstance(error, dict):
        inner = error.get("error", error)
        if isinstance(inner, dict):
            cause = inner.get("caused_by", {}).get("reason")
            reason = inner.get("reason") or inner.get("type") or json.dumps(inner)
            return f"{reason} ({cause})" if cause else str(reason)
        return str(inner)
    return str(error or "unknown error")


def _chunks(spool: IO[bytes]) -> Iterator[list[tuple[str, str, str]]]:
    """``(qid, action line, source line)`` triples read back from the spooled NDJSON (each
    action preceded by its qid), grouped into bulk requests by count and size (a delete has no
    source line)."""
    chunk: list[tuple[str, str, str]] = []
    size = 0
    while qid_line := spool.readline().decode():
        qid = json.loads(qid_line)
        action_line = spool.readline().decode()
        action = json.loads(action_line)
        source_line = "" if "delete" in action else spool.readline().decode()
        line_bytes = len(action_line.encode()) + len(source_line.encode())
        if chunk and (len(chunk) >= _MAX_BULK_DOCS or size + line_bytes > _MAX_BULK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((qid, action_line, source_line))
        size += line_bytes
    if chunk:
        yield chunk


def _sigv4_auth(service: str, region: str):
    """opensearch-py's SigV4 signer for ``es`` or ``aoss`` with the default AWS credentials."""
    import boto3
    from opensearchpy import AWSV4SignerAuth

    session = boto3.Session()
    region = region or session.region_name or ""
    if not region:
        raise StoreError("SigV4 signing needs AWS_REGION (the region of the OpenSearch endpoint)")
    credentials = session.get_credentials()
    if credentials is None:
        raise StoreError("SigV4 signing found no AWS credentials: configure a profile, "
                         "environment variables or a role")
    return AWSV4SignerAuth(credentials, region, service)
