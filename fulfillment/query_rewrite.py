"""Turn a follow-up into a standalone question with the LLM, only when that can help.

QnABot asks the LLM to rewrite every question that has chat history. We skip the call, as
QnABot does, when there is no history, for ``PROTECTED_UTTERANCES`` and for ``QID::<qid>``;
and also when :func:`knowledge.followups.needs_context` says the question stands on its own,
a cheap check of the words (no model) shared with matching: a follow-up refers back ("Can
**it** integrate with my CRM?") or continues a thought ("**And** the price?", "**What about**
Fire TV?"); "What is Amazon Fire TV?" needs no history.

The search then uses "original / rewritten", as QnABot does (:func:`search_string`).

:class:`RewriteCache` remembers rewrites by their prompt (the history kept, the question, the
template, system prompt and parameters) and the LLM, so asking the same follow-up in the same
conversation again, a retried turn, or the evaluation's repeated runs, cost no second call.

Example:
    >>> clean_generated_query('Here is the standalone question:\\n"Can Amazon Lex use a CRM?"')
    'Can Amazon Lex use a CRM?'
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fulfillment.memory import ChatMessage
from knowledge.followups import needs_context
from knowledge.items import QID_PREFIX
from knowledge.settings import Settings

MAX_QUERY_CHARS = 1000

_PREAMBLE = re.compile(
    r"^\s*(?:sure[,!.]?\s*)?(?:here(?:'s| is)\s+(?:the|a|your)\s+)?(?:re-?written|rewritten|"
    r"standalone|stand-alone|reformulated|generated)?\s*(?:question|query)\s*(?:is)?\s*:\s*",
    re.IGNORECASE)


@dataclass(frozen=True)
class RewriteDecision:
    """Whether to ask the LLM for a rewrite, and why not when not."""

    ask: bool
    reason: str = ""


def decide(question: str, history: Sequence[ChatMessage], settings: Settings, *,
           llm_enabled: bool, smart_skip: bool = True) -> RewriteDecision:
    """Apply the skip rules in order; ``smart_skip=False`` gives QnABot's behaviour."""
    if not llm_enabled:
        return RewriteDecision(False, "llm disabled")
    if not settings.get("LLM_GENERATE_QUERY_ENABLE"):
        return RewriteDecision(False, "LLM_GENERATE_QUERY_ENABLE is false")
    if not history:
        return RewriteDecision(False, "no history")
    if question.strip().upper().startswith(QID_PREFIX):
        return RewriteDecision(False, "QID:: question")
    protected = {u.strip().lower() for u in settings.get("PROTECTED_UTTERANCES")}
    if question.strip().lower().rstrip("?!.") in protected:
        return RewriteDecision(False, "protected utterance")
    if smart_skip and not needs_context(question):
        return RewriteDecision(False, "self-contained question")
    return RewriteDecision(True)


def clean_generated_query(text: str) -> str:
    """The LLM's rewrite as one line: preamble, quotes and extra lines removed, at most 1000
    characters. Empty when nothing usable is left."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in lines:
        candidate = _PREAMBLE.sub("", line).strip()
        if not candidate or (candidate.endswith(":") and len(lines) > 1):
            continue  # a preamble line of its own ("Here is the rewritten question:")
        candidate = candidate.strip("\"'“”‘’`* ").strip()
        if candidate:
            return candidate[:MAX_QUERY_CHARS].strip()
    return ""


def search_string(original: str, rewritten: str) -> str:
    """What the knowledge base is searched with: QnABot's "original / rewritten".

    >>> search_string("Can it use my CRM?", "Can Amazon Lex use my CRM?")
    'Can it use my CRM? / Can Amazon Lex use my CRM?'
    """
    if not rewritten or rewritten.strip().lower() == original.strip().lower():
        return original
    return f"{original} / {rewritten}"


class RewriteCache:
    """Rewrites by (LLM, prompt): a bounded, thread-safe LRU cache.

    >>> cache = RewriteCache(max_entries=2)
    >>> key = cache.key("LOCAL", "Human: Who is Humpty?\\nQ: Where did he sit?", "", {})
    >>> cache.put(key, "Where did Humpty Dumpty sit?")
    >>> cache.get(key)
    'Where did Humpty Dumpty sit?'
    """

    def __init__(self, max_entries: int = 2048):
        self.max_entries = max_entries
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(llm_name: str, prompt: str, system: str, parameters: Mapping[str, Any]) -> str:
        """The cache key of a rewrite prompt (a digest: user text is not kept twice)."""
        material = json.dumps([llm_name, prompt, system, dict(parameters or {})],
                              sort_keys=True, default=str)
        return hashlib.sha256(material.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        """The cached rewrite, or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, rewritten: str) -> None:
        """Remember a rewrite (an empty one is not cached: the next turn may do better)."""
        if not rewritten or self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = rewritten
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
