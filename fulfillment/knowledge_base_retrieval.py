"""An Amazon Bedrock knowledge base (``KNOWLEDGE_BASE_ID``) as a
:class:`~fulfillment.retrieval.Retriever`, through ``bedrock-agent-runtime`` ``retrieve``.

The passages are answered from like Kendra's: by the LLM with citations, or as they are when
the LLM is off. At most ``KNOWLEDGE_BASE_MAX_NUMBER_OF_RETRIEVED_RESULTS`` are used.

Example:
    >>> retriever = BedrockKnowledgeBaseRetriever(client=stubbed_agent_runtime)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fulfillment.retrieval import RetrievalError, RetrievedPassage
from knowledge.aws import aws_client
from knowledge.settings import Settings


def _location(result: Mapping[str, Any]) -> str:
    location = result.get("location") or {}
    for key, field in (("s3Location", "uri"), ("webLocation", "url"),
                       ("confluenceLocation", "url"), ("salesforceLocation", "url"),
                       ("sharePointLocation", "url")):
        value = (location.get(key) or {}).get(field)
        if value:
            return value
    return ""


def passages_from_kb(response: Mapping[str, Any]) -> list[RetrievedPassage]:
    """Passages of a knowledge-base ``retrieve`` reply, best first."""
    passages = []
    for result in response.get("retrievalResults") or ():
        text = ((result.get("content") or {}).get("text") or "").strip()
        if not text:
            continue
        url = _location(result)
        title = url.rstrip("/").rsplit("/", 1)[-1] if url else ""
        passages.append(RetrievedPassage(text=text, title=title, url=url,
                                         score=result.get("score")))
    return passages


class BedrockKnowledgeBaseRetriever:
    """Retrieve from one Bedrock knowledge base."""

    source = "knowledge_base"

    def __init__(self, client: Any = None):
        self._client = client

    def _agent_runtime(self) -> Any:
        if self._client is None:
            self._client = aws_client("bedrock-agent-runtime", read_timeout=5)
        return self._client

    def configured(self, settings: Settings) -> bool:
        return bool(settings.get("KNOWLEDGE_BASE_ID").strip())

    def retrieve(self, query: str, settings: Settings) -> list[RetrievedPassage]:
        from botocore.exceptions import BotoCoreError, ClientError

        kb_id = settings.get("KNOWLEDGE_BASE_ID").strip()
        count = settings.get("KNOWLEDGE_BASE_MAX_NUMBER_OF_RETRIEVED_RESULTS")
        try:
            response = self._agent_runtime().retrieve(
                knowledgeBaseId=kb_id,
                retrievalQuery={"text": query[:1000]},
                retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": count}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise RetrievalError(f"Bedrock knowledge base {kb_id} failed: {exc}") from exc
        return passages_from_kb(response)[:count]
