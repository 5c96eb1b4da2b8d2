"""The knowledge-base service: store items with their vectors, and match questions.

Entry points (CLI, Lambda handlers, the admin API) call this; it talks to the ports only.

Example:
    >>> kb = KnowledgeBase(store, embeddings)  # doctest: +SKIP
    >>> kb.put_items([parse_item({"qid": "Hi.1", "q": ["Hello"], "a": "Hi!"})])  # doctest: +SKIP
    1
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice

import numpy as np

from knowledge.classifier import (
    ClassifierRepo,
    ClassifierService,
    ItemClassifier,
    MemoryClassifierRepo,
    TrainingSet,
)
from knowledge.embeddings.base import Embeddings, InputType
from knowledge.items import Item
from knowledge.matching import Matcher, MatchMode, SearchResult
from knowledge.sentences import split_sentences
from knowledge.settings import Settings
from knowledge.store import DimensionMismatchError, IndexInfo, Store, StoredItem

logger = logging.getLogger(__name__)

#: Items embedded and written per batch during imports.
BATCH_SIZE = 256
#: Vectors kept in memory during one import, so a text repeated across batches is embedded
#: (or looked up in the embeddings cache) once: 16 MB, 10,000 vectors of 384 dimensions.
MEMO_BYTES = 16 * 2**20
#: Up to this many items the classifier retrains before ``put_items`` returns (milliseconds);
#: above, on a background thread.
INLINE_TRAINING_ITEMS = 100


def batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive lists of at most ``size`` items."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class _Memo:
    """Vectors by (input type, text), for one import; holds at most ``limit`` of them."""

    def __init__(self, limit: int):
        self.limit = limit
        self._vectors: dict[tuple[str, str], np.ndarray] = {}

    def get(self, key: tuple[str, str]) -> np.ndarray | None:
        return self._vectors.get(key)

    def add(self, key: tuple[str, str], vector: np.ndarray) -> None:
        if len(self._vectors) < self.limit:
            self._vectors[key] = vector


class KnowledgeBase:
    """Items, their vectors, and matching, over one store and one embeddings model."""

    def __init__(self, store: Store, embeddings: Embeddings,
                 classifier_repo: ClassifierRepo | None = None, *,
                 retrain_large: Callable[[], None] | None = None):
        """``retrain_large`` starts the classifier's training after the items of a knowledge
        base above :data:`INLINE_TRAINING_ITEMS` changed, without holding up the change. By
        default a thread of this process trains; a Lambda function, frozen once it has
        answered, passes one that has the import/export function train
        (:mod:`content_designer.jobs_s3`)."""
        self.store = store
        self.embeddings = embeddings
        self.retrain_large = retrain_large
        self.classifier = ClassifierService(classifier_repo or MemoryClassifierRepo(),
                                            self.training_set,
                                            lambda: self.embeddings.model_id)
        self.matcher = Matcher(store, embeddings, self.classifier.current)

    @property
    def index(self) -> IndexInfo:
        """What vectors written now are made with."""
        return IndexInfo(self.embeddings.model_id, self.embeddings.dimension)

    def check_index(self) -> None:
        """Raise :class:`DimensionMismatchError` if the stored vectors come from another model."""
        stored = self.store.index_info()
        if stored is not None and stored != self.index:
            raise DimensionMismatchError(stored, self.index)

    def embed_items(self, items: Sequence[Item]) -> list[StoredItem]:
        """Embed the questions and answers of ``items``, each distinct text once."""
        return self._embed_items(items, _Memo(0))

    def _embed_items(self, items: Sequence[Item], memo: _Memo) -> list[StoredItem]:
        question_lists = [item.questions for item in items]
        answers = [item.answer for item in items]
        q_matrix, q_rows = self._embed_unique(
            [q for questions in question_lists for q in questions], "q", memo)
        a_matrix, a_rows = self._embed_unique(answers, "a", memo)
        # One gather for the whole batch; each item's vectors are a slice of it.
        q_vectors = q_matrix[q_rows]
        result, start = [], 0
        for item, questions, a_row in zip(items, question_lists, a_rows, strict=True):
            end = start + len(questions)
            result.append(StoredItem(item=item, question_vectors=q_vectors[start:end],
                                     answer_vector=a_matrix[a_row]))
            start = end
        return result

    def _embed_unique(self, texts: list[str], input_type: InputType,
                      memo: _Memo) -> tuple[np.ndarray, list[int]]:
        """The vectors of the distinct ``texts`` (sorted), and each text's row among them.

        Texts in ``memo`` (seen earlier in the same import) are not looked up again.
        """
        distinct = sorted(set(texts))
        vectors = np.empty((len(distinct), self.embeddings.dimension), dtype=np.float32)
        missing = []
        for row, text in enumerate(distinct):
            known = memo.get((input_type, text))
            if known is None:
                missing.append(row)
            else:
                vectors[row] = known
        if missing:
            fresh = np.asarray(
                self.embeddings.embed([distinct[row] for row in missing], input_type))
            if fresh.shape != (len(missing), vectors.shape[1]):
                raise ValueError(
                    f"The embeddings model {self.embeddings.model_id} returned vectors of shape "
                    f"{fresh.shape} for {len(missing)} texts, not {vectors.shape[1]} dimensions "
                    f"each; check the embeddings settings.")
            vectors[missing] = fresh
            for row in missing:
                memo.add((input_type, distinct[row]), vectors[row].copy())
        row_of = {text: row for row, text in enumerate(distinct)}
        return vectors, [row_of[text] for text in texts]

    def put_items(self, items: Iterable[Item], *, replace_all: bool = False,
                  on_stored: Callable[[int], None] | None = None) -> int:
        """Embed and upsert ``items`` in one store transaction; return how many were written.

        With ``replace_all`` the knowledge base holds exactly these items afterwards (and may
        switch to a new embeddings model). ``on_stored`` is called with each batch's size, for
        progress bars. A text repeated across the import is embedded (or looked up in the
        embeddings cache) once, up to :data:`MEMO_BYTES` of vectors.
        """
        if not replace_all:
            self.check_index()
        memo = _Memo(MEMO_BYTES // (4 * self.embeddings.dimension))

        def stored_items() -> Iterator[StoredItem]:
            for batch in batched(items, BATCH_SIZE):
                yield from self._embed_items(batch, memo)
                if on_stored:
                    on_stored(len(batch))

        written = self.store.put(stored_items(), replace_all=replace_all, index=self.index)
        self.refresh_classifier()
        return written

    def refresh_classifier(self) -> None:
        """Retrain the classifier after the items changed: at once for a small knowledge
        base, else through ``retrain_large`` or on a background thread, where turns keep the
        previous model meanwhile (items it has not seen compete with their cosine) and edits
        in quick succession share one training. Failing to start it keeps the change and
        the previous model, and says why in ``classifier.last_error``."""
        if self.store.count() <= INLINE_TRAINING_ITEMS:
            self.classifier.run_once()
        elif self.retrain_large is None:
            self.classifier.retrain_soon()
        else:
            try:
                self.retrain_large()
            except Exception as exc:  # noqa: BLE001 - the items are stored either way
                self.classifier.last_error = f"could not start classifier training: {exc}"
                logger.warning("%s", self.classifier.last_error)

    def wait_for_classifier(self, timeout: float | None = None) -> None:
        """Block until a retraining in progress is saved (CLI commands, evaluation, tests)."""
        self.classifier.wait(timeout)

    def close(self) -> None:
        """Let a classifier retraining in progress save its model, then close the store's
        connections (a store closed mid-training leaves the knowledge base without a model
        until the next change: ``bench/run.py`` measured dev through the cosine that way)."""
        self.classifier.wait()
        close = getattr(self.store, "close", None)  # the Store port itself has no close
        if callable(close):
            close()

    def train_classifier(self) -> ItemClassifier | None:
        """Train (or confirm current) the classifier now; None for an empty knowledge base."""
        return self.classifier.retrain()

    def training_set(self) -> TrainingSet | None:
        """The classifier's examples: each QnA item's questions and answer; each passage and
        its sentences. Question, answer and passage vectors are the stored ones
        (:meth:`Store.iter_stored`), so training embeds nothing an import embedded (in Lambda
        the embeddings cache starts empty); only a passage's sentences are embedded, through
        the cache."""
        self.check_index()  # stored vectors of another model would train a wrong model
        rows = []
        for stored in self.store.iter_stored():
            item = stored.item
            if item.kind == "qna" and item.questions:
                rows.append((item.qid, stored.question_vectors, stored.answer_vector))
            elif item.kind == "text":
                sentences = [s for s in split_sentences(item.passage) if len(s) > 20]
                vectors = [stored.answer_vector[None, :]]
                if len(sentences) > 1:
                    vectors.append(np.asarray(self.embeddings.embed(sentences, "q")))
                rows.append((item.qid, np.concatenate(vectors), None))
        return TrainingSet.of(rows) if rows else None

    def reindex(self, on_stored: Callable[[int], None] | None = None) -> int:
        """Re-embed every item with the configured model (after switching models)."""
        items = list(self.store.iter_items())
        return self.put_items(items, replace_all=True, on_stored=on_stored)

    def search(self, query: str, settings: Settings, *, topic: str = "", context: str = "",
               client_filter: str | None = None, mode: MatchMode | None = None,
               all_stages: bool = False) -> SearchResult:
        """Match a question through the cascade (see :class:`knowledge.matching.Matcher`)."""
        self.check_index()
        return self.matcher.search(query, settings, topic=topic, context=context,
                                   client_filter=client_filter, mode=mode,
                                   all_stages=all_stages)
