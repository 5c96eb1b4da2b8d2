"""A small in-memory stand-in for the OpenSearch REST API, for running the store contract here.

It implements only the requests :class:`~knowledge.stores.opensearch_store.OpenSearchStore`
sends (aliases, index create/delete, ``_bulk``, ``_refresh``, ``_mget``, ``_count``,
``_search``, ``_msearch``, ``_mapping``) with the same response shapes, exact k-NN (cosine reported as
``(1 + cos) / 2``, as OpenSearch does) and a plain BM25 over an English-like analyzer. It is
not OpenSearch: it checks the store's logic (unions, follow-up queries, paging, aliases,
errors) end to end through the real opensearch-py client; the real engine is checked by
``test_opensearch_contract.py`` with ``OPENSEARCH_URL``.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

import numpy as np
from opensearchpy import OpenSearch

from tests.aws.opensearch_fake import client_answering

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset("a an and are as at be but by for if in into is it no not of on or such that "
                  "the their then there these they this to was will with".split())


def analyze(text: str) -> list[str]:
    """Lower-cased words without English stopwords, a plural "s" trimmed."""
    terms = []
    for word in _WORD.findall(text.lower()):
        if word in _STOP:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        terms.append(word)
    return terms


def _missing(name: str) -> tuple[int, dict]:
    error = {"type": "index_not_found_exception", "reason": f"no such index [{name}]",
             "index": name}
    return 404, {"error": {**error, "root_cause": [error]}, "status": 404}


class Emulator:
    """Indexes (name -> {"mappings", "docs"}) and aliases (alias -> index names).

    With ``serverless=True`` it answers like an OpenSearch Serverless vector collection: a bulk
    ``index`` action carrying an ``_id`` is refused (the service assigns ids), and ``_mget``,
    ``_refresh`` and the ``refresh`` parameter are not supported.
    """

    def __init__(self, serverless: bool = False) -> None:
        self.indexes: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, set[str]] = {}
        self.serverless = serverless
        self.refused: list[str] = []
        self._next_id = 0

    def _unsupported(self, what: str) -> tuple[int, dict]:
        self.refused.append(what)
        return 400, {"error": {"type": "illegal_argument_exception",
                               "reason": f"{what} is not supported in OpenSearch Serverless"},
                     "status": 400}

    # --- routing -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict, body: str) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if self.serverless and ("refresh" in params or parts[-1:] in (["_refresh"], ["_mget"])):
            return self._unsupported(f"{method} {path} {sorted(params)}")
        if parts == ["_aliases"]:
            return self._update_aliases(json.loads(body))
        if parts == ["_msearch"]:
            return 200, {"responses": self._msearch(body)}
        if parts[0] == "_alias":
            names = self.aliases.get(parts[1])
            if not names:
                return 404, {"error": f"alias [{parts[1]}] missing", "status": 404}
            return 200, {n: {"aliases": {parts[1]: {}}} for n in names}
        target, action = parts[0], (parts[1] if len(parts) > 1 else "")
        if action == "" and method == "PUT":
            return self._create(target, json.loads(body))
        if action == "" and method == "DELETE":
            for name in self._resolve(target):
                self.indexes.pop(name, None)
                for names in self.aliases.values():
                    names.discard(name)
            return 200, {"acknowledged": True}
        if action == "_bulk":
            return self._bulk(target, body, params)
        names = self._resolve(target)
        if not names:
            return _missing(target)
        if action == "_refresh":
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if action == "_mapping":
            return 200, {n: {"mappings": self.indexes[n]["mappings"]} for n in names}
        docs = self._docs(names)
        if action == "_count":
            return 200, {"count": len(docs)}
        if action == "_mget":
            wanted = json.loads(body)["ids"]
            return 200, {"docs": [
                {"_id": i, "found": True, "_source": {"item": docs[i]["item"]}} if i in docs
                else {"_id": i, "found": False} for i in wanted]}
        if action == "_search":
            return 200, self._search(docs, json.loads(body))
        raise AssertionError(f"emulator: unsupported {method} {path}")

    def _resolve(self, target: str) -> list[str]:
        if target in self.aliases:
            return sorted(self.aliases[target])
        return [target] if target in self.indexes else []

    def _docs(self, names: list[str]) -> dict[str, dict]:
        docs: dict[str, dict] = {}
        for name in names:
            docs.update(self.indexes[name]["docs"])
        return docs

    # --- indexes and writes --------------------------------------------------------------------

    def _create(self, name: str, body: dict) -> tuple[int, Any]:
        if name in self.indexes or name in self.aliases:
            return 400, {"error": {"type": "resource_already_exists_exception",
                                   "reason": f"index [{name}] already exists"}, "status": 400}
        self.indexes[name] = {"mappings": body["mappings"], "docs": {}}
        for alias in body.get("aliases", {}):
            self.aliases.setdefault(alias, set()).add(name)
        return 200, {"acknowledged": True, "index": name}

    def _update_aliases(self, body: dict) -> tuple[int, Any]:
        for action in body["actions"]:
            (kind, spec), = action.items()
            names = self.aliases.setdefault(spec["alias"], set())
            (names.add if kind == "add" else names.discard)(spec["index"])
        return 200, {"acknowledged": True}

    def _bulk(self, target: str, body: str, params: dict) -> tuple[int, Any]:
        names = self._resolve(target)
        if len(names) != 1:
            return _missing(target)
        docs = self.indexes[names[0]]["docs"]
        lines = body.splitlines()
        items = []
        position = 0
        while position < len(lines):
            action = json.loads(lines[position])
            (kind, meta), = action.items()
            if kind == "index" and self.serverless and "_id" in meta:
                self.refused.append("custom document id")
                items.append({kind: {"status": 400, "error": {
                    "type": "illegal_argument_exception",
                    "reason": "Document ID is not supported in create/index operation "
                              "request"}}})
                position += 2
                continue
            if kind == "index":
                source = json.loads(lines[position + 1])
                self._check_dimensions(names[0], source)
                if "_id" in meta:
                    doc_id = meta["_id"]
                else:
                    self._next_id += 1
                    doc_id = f"1%{self._next_id:08d}"
                docs[doc_id] = source
                items.append({kind: {"_id": doc_id, "status": 201, "result": "created"}})
                position += 2
                continue
            doc_id = meta["_id"]
            existed = docs.pop(doc_id, None) is not None
            items.append({kind: {"_id": doc_id, "status": 200 if existed else 404,
                                 "result": "deleted" if existed else "not_found"}})
            position += 1
        return 200, {"took": 1, "errors": False, "items": items}

    def _check_dimensions(self, name: str, source: dict) -> None:
        dimension = self.indexes[name]["mappings"]["_meta"]["dimension"]
        vectors = [q["vector"] for q in source.get("questions", ())]
        vectors += [source[f] for f in ("answer_vector", "passage_vector") if f in source]
        assert all(len(v) == dimension for v in vectors), "vector of the wrong dimension"

    # --- search --------------------------------------------------------------------------------

    def _msearch(self, body: str) -> list[dict]:
        lines = body.splitlines()
        responses = []
        for header, query in zip(lines[::2], lines[1::2], strict=True):
            names = self._resolve(json.loads(header)["index"])
            if not names:
                status, error = _missing(json.loads(header)["index"])
                responses.append(error)
                continue
            responses.append({**self._search(self._docs(names), json.loads(query)),
                              "status": 200})
        return responses

    def _search(self, docs: dict[str, dict], body: dict) -> dict:
        scored = []
        for qid, doc in docs.items():
            result = self._score(body["query"], doc, docs)
            if result is not None:
                scored.append((qid, doc, *result))
        if "sort" in body:
            scored.sort(key=lambda entry: (entry[1]["qid"], entry[0]))
            if "search_after" in body:
                scored = [e for e in scored if e[1]["qid"] > body["search_after"][0]]
        else:
            scored.sort(key=lambda entry: (-entry[2], entry[0]))
        start = body.get("from", 0)
        page = scored[start:start + body.get("size", 10)]
        hits = []
        for qid, doc, score, offset in page:
            hit = {"_index": "emulated", "_id": qid, "_score": score,
                   "_source": _select(doc, body.get("_source", True))}
            if offset is not None:
                hit["inner_hits"] = {"questions": {"hits": {"hits": [
                    {"_id": qid, "_nested": {"field": "questions", "offset": offset}}]}}}
            if "sort" in body:
                hit["sort"] = [doc["qid"]]
            hits.append(hit)
        return {"hits": {"total": {"value": len(scored), "relation": "eq"}, "hits": hits}}

    def _score(self, query: dict, doc: dict, docs: dict) -> tuple[float, int | None] | None:
        """(score, best nested offset) when ``doc`` matches ``query``, else None."""
        (kind, spec), = query.items()
        if kind == "match_all":
            return 1.0, None
        if kind in ("prefix", "wildcard"):
            (field, value), = spec.items()
            text = doc.get(field, "")
            if kind == "prefix":
                return (1.0, None) if text.startswith(value["value"]) else None
            return (1.0, None) if _wildcard(value["value"]).fullmatch(text) else None
        if kind == "bool":
            for clause in spec.get("filter", ()):
                if self._score(clause, doc, docs) is None:
                    return None
            for clause in spec.get("must_not", ()):
                if self._score(clause, doc, docs) is not None:
                    return None
            should = [self._score(c, doc, docs) for c in spec.get("should", ())]
            if spec.get("should") and sum(r is not None for r in should) < spec.get(
                    "minimum_should_match", 1):
                return None
            score, offset = 0.0, None
            for clause in spec.get("must", ()):
                result = self._score(clause, doc, docs)
                if result is None:
                    return None
                score, offset = score + result[0], result[1] if result[1] is not None else offset
            return score, offset
        if kind == "exists":
            return (1.0, None) if spec["field"] in doc else None
        if kind == "term":
            (field, value), = spec.items()
            if isinstance(value, dict):  # {"value": v, "case_insensitive": true}
                value, fold = value["value"], value.get("case_insensitive", False)
                if fold:
                    stored = [str(v).casefold() for v in _as_list(doc.get(field))]
                    return (1.0, None) if str(value).casefold() in stored else None
            return (1.0, None) if value in _as_list(doc.get(field)) else None
        if kind == "terms":
            (field, values), = spec.items()
            return (1.0, None) if set(_as_list(doc.get(field))) & set(values) else None
        if kind == "ids":
            return (1.0, None) if doc["qid"] in spec["values"] else None
        if kind == "nested":
            return self._nested(spec, doc, docs)
        if kind == "knn":
            return self._knn(spec, doc, docs, nested=None)
        if kind == "match":
            (field, value), = spec.items()
            return self._bm25(field, value["query"], doc.get(field), docs)
        raise AssertionError(f"emulator: unsupported query {kind}")

    def _nested(self, spec: dict, doc: dict, docs: dict) -> tuple[float, int | None] | None:
        (kind, inner), = spec["query"].items()
        if kind == "knn":
            return self._knn(inner, doc, docs, nested=spec["path"])
        (field, value), = inner.items()
        best = None
        for offset, child in enumerate(doc.get(spec["path"], ())):
            leaf = field.split(".", 1)[1]
            result = self._bm25(field, value["query"], child.get(leaf), docs, nested=True)
            if result is not None and (best is None or result[0] > best[0]):
                best = (result[0], offset)
        return best

    def _knn(self, spec: dict, doc: dict, docs: dict, nested: str | None):
        (field, knn), = spec.items()
        candidates = docs
        if "filter" in knn:
            candidates = {q: d for q, d in docs.items()
                          if self._score(knn["filter"], d, docs) is not None}
            if doc["qid"] not in {d["qid"] for d in candidates.values()}:
                return None
        ranked = sorted(((self._cosine(field, d, knn["vector"], nested), d["qid"])
                         for d in candidates.values()), key=lambda e: (-e[0][0], e[1]))
        ranked = [(result, q) for result, q in ranked if result[0] > -2][:knn["k"]]
        for (cosine, offset), qid in ranked:
            if qid == doc["qid"]:
                return (1 + cosine) / 2, offset
        return None

    @staticmethod
    def _cosine(field: str, doc: dict, vector: list[float], nested: str | None):
        query = np.asarray(vector)
        if nested:
            leaf = field.split(".", 1)[1]
            best = (-3.0, None)
            for offset, child in enumerate(doc.get(nested, ())):
                value = float(np.dot(query, child[leaf]) /
                              (np.linalg.norm(query) * np.linalg.norm(child[leaf])))
                best = max(best, (value, offset), key=lambda e: e[0])
            return best
        if field not in doc:
            return -3.0, None
        stored = np.asarray(doc[field])
        return float(np.dot(query, stored) / (np.linalg.norm(query) *
                                              np.linalg.norm(stored))), None

    @staticmethod
    def _bm25(field: str, text: str, value: Any, docs: dict, nested: bool = False):
        if not isinstance(value, str):
            return None
        terms = analyze(value)
        query = analyze(text)
        if not terms or not set(query) & set(terms):
            return None
        leaf = field.split(".", 1)[1] if nested else field
        corpus = ([c.get(leaf, "") for d in docs.values() for c in d.get("questions", ())]
                  if nested else [d[field] for d in docs.values() if isinstance(d.get(field),
                                                                                    str)])
        lengths = [len(analyze(c)) for c in corpus] or [1]
        average = sum(lengths) / len(lengths)
        score = 0.0
        for term in query:
            frequency = terms.count(term)
            if not frequency:
                continue
            containing = sum(1 for c in corpus if term in analyze(c))
            idf = math.log(1 + (len(corpus) - containing + 0.5) / (containing + 0.5))
            score += idf * frequency * 2.2 / (frequency + 1.2 * (0.25 + 0.75 * len(terms) /
                                                                  average))
        return score, None


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str) -> re.Pattern:
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)


def _select(doc: dict, includes: Any) -> dict:
    if includes is True:
        return copy.deepcopy(doc)
    selected: dict[str, Any] = {}
    for path in includes:
        head, _, leaf = path.partition(".")
        if head not in doc:
            continue
        if leaf:
            selected[head] = [{leaf: child[leaf]} for child in doc[head] if leaf in child]
        else:
            selected[head] = copy.deepcopy(doc[head])
    return selected


def emulated_client(serverless: bool = False) -> tuple[OpenSearch, Emulator]:
    """An opensearch-py client whose requests are answered by a new :class:`Emulator`."""
    emulator = Emulator(serverless=serverless)
    return client_answering(emulator.handle), emulator
