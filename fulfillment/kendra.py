"""Amazon Kendra as a :class:`~fulfillment.retrieval.Retriever`.

Searches every index in ``ALT_SEARCH_KENDRA_INDEXES`` (an index that fails is skipped when
another one answers). With
``LLM_QA_USE_KENDRA_RETRIEVAL_API`` it calls ``retrieve`` (semantic passages, made for LLM
answers); otherwise ``query``, keeping results whose confidence reaches
``ALT_SEARCH_KENDRA_FALLBACK_CONFIDENCE_SCORE``. At most
``ALT_SEARCH_KENDRA_MAX_DOCUMENT_COUNT`` passages are returned, each with its title and link.

Example:
    >>> retriever = KendraRetriever(client=stubbed_kendra)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fulfillment.retrieval import RetrievalError, RetrievedPassage
from knowledge.aws import aws_client
from knowledge.settings import Settings

#: Kendra accepts query texts of at most 1000 characters.
MAX_QUERY_CHARS = 1000
CONFIDENCE_RANK = {"VERY_HIGH": 4, "HIGH": 3, "MEDIUM": 2, "LOW": 1, "NOT_AVAILABLE": 0}


def _answer_text(item: Mapping[str, Any]) -> str:
    for attribute in item.get("AdditionalAttributes") or ():
        if attribute.get("Key") == "AnswerText":
            value = (attribute.get("Value") or {}).get("TextWithHighlightsValue") or {}
            if value.get("Text"):
                return value["Text"]
    return ((item.get("DocumentExcerpt") or {}).get("Text")) or ""


def passages_from_query(response: Mapping[str, Any], minimum: str) -> list[RetrievedPassage]:
    """Passages of a ``query`` reply whose confidence is at least ``minimum``, best first."""
    floor = CONFIDENCE_RANK.get(minimum, 3)
    found = []
    for item in response.get("ResultItems") or ():
        confidence = (item.get("ScoreAttributes") or {}).get("ScoreConfidence", "NOT_AVAILABLE")
        text = _answer_text(item).strip()
        if CONFIDENCE_RANK.get(confidence, 0) < floor or not text:
            continue
        found.append(RetrievedPassage(
            text=text, title=((item.get("DocumentTitle") or {}).get("Text") or "").strip(),
            url=item.get("DocumentURI") or "", confidence=confidence))
    found.sort(key=lambda p: -CONFIDENCE_RANK.get(p.confidence, 0))  # stable: Kendra order kept
    return found


def passages_from_retrieve(response: Mapping[str, Any]) -> list[RetrievedPassage]:
    """Passages of a ``retrieve`` reply, in Kendra's order."""
    return [
        RetrievedPassage(
            text=item["Content"].strip(), title=(item.get("DocumentTitle") or "").strip(),
            url=item.get("DocumentURI") or "",
            confidence=(item.get("ScoreAttributes") or {}).get("ScoreConfidence", ""))
        for item in response.get("ResultItems") or ()
        if isinstance(item.get("Content"), str) and item["Content"].strip()
    ]


class KendraRetriever:
    """Kendra ``retrieve`` or ``query`` over the configured indexes."""

    source = "kendra"

    def __init__(self, client: Any = None):
        self._client = client

    def _kendra(self) -> Any:
        if self._client is None:
            self._client = aws_client("kendra", read_timeout=5)
        return self._client

    def configured(self, settings: Settings) -> bool:
        return bool(settings.get("ALT_SEARCH_KENDRA_INDEXES"))

    def retrieve(self, query: str, settings: Settings) -> list[RetrievedPassage]:
        from botocore.exceptions import BotoCoreError, ClientError

        limit = settings.get("ALT_SEARCH_KENDRA_MAX_DOCUMENT_COUNT")
        use_retrieve = settings.get("LLM_QA_USE_KENDRA_RETRIEVAL_API")
        text = query[:MAX_QUERY_CHARS]
        found: list[RetrievedPassage] = []
        errors: list[str] = []
        for index_id in settings.get("ALT_SEARCH_KENDRA_INDEXES"):
            try:
                if use_retrieve:
                    response = self._kendra().retrieve(IndexId=index_id, QueryText=text,
                                                       PageSize=limit)
                    found.extend(passages_from_retrieve(response))
                else:
                    response = self._kendra().query(IndexId=index_id, QueryText=text,
                                                    PageSize=max(limit, 10))
                    found.extend(passages_from_query(
                        response, settings.get("ALT_SEARCH_KENDRA_FALLBACK_CONFIDENCE_SCORE")))
            except (ClientError, BotoCoreError) as exc:
                errors.append(f"Kendra index {index_id} failed: {exc}")
        if errors and not found:  # one failing index does not hide the others' passages
            raise RetrievalError("; ".join(errors))
        if not use_retrieve:
            found.sort(key=lambda p: -CONFIDENCE_RANK.get(p.confidence, 0))
        return found[:limit]
