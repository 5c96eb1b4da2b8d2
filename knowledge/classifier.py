"""A per-knowledge-base classifier: which item is this question asking for?

Each QnA item is a class; its questions (and, with a lower weight, its answer) are the
training examples. The model is a softmax over frozen embeddings, as Amazon Lex classifies
intents: each item has a weight vector that starts at its *prototype* (the mean of its
question vectors) and learns a small correction that pulls it away from similar items, so
"next stop" and "previous stop" are told apart by what their own questions have in common.

The classifier scores a question against a *candidate set* (the items the store found
nearest), not against every item, and it is trained the same way (each example against its
nearest items). So a turn costs one small matrix product whatever the size of the knowledge
base, and training grows with questions x candidates rather than questions x items. A
confidence is always a share among about the same number of contenders, and training takes
the same number of steps whatever the number of examples (:func:`train`), so it means about
the same in a knowledge base of 200 items as in one of 5,000: measured by
``bench/calibration_bench.py`` (data/README.md, "Calibration across sizes"). A bigger
knowledge base still answers fewer turns at the same threshold: more of them have a close
competitor.

Items the model has not seen yet (added since it was trained) are scored by their best
question cosine on the same scale, so a turn never waits for training.

Example:
    >>> rng = np.random.default_rng(0)
    >>> examples = TrainingSet.of([("A", rng.normal(size=(2, 8)), rng.normal(size=8))])
    >>> model = train(examples, model_id="test")
    >>> model.qids
    ('A',)
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

#: Logit scale: cosines (-1..1) become logits (-SCALE..SCALE). 20 makes a cosine lead of 0.1
#: a 7:1 odds lead, about how MiniLM separates a right item from a near miss.
SCALE = 20.0
#: Weight of an item's answer as a training example, relative to one of its questions.
ANSWER_WEIGHT = 0.5
#: How many nearest items each example is trained against (and a turn is scored against).
CANDIDATES = 24
#: L2 penalty on the learned correction (keeps each weight near its prototype).
L2 = 0.002
EPOCHS = 60
LEARNING_RATE = 0.05


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


@dataclass(frozen=True)
class TrainingSet:
    """Examples (unit vectors) with their class rows and weights, and each class's prototype."""

    qids: tuple[str, ...]
    vectors: np.ndarray  # (examples, dim) float32
    labels: np.ndarray  # (examples,) int: row of the item in qids
    weights: np.ndarray  # (examples,) float32
    prototypes: np.ndarray  # (items, dim) float32, unit

    @classmethod
    def of(cls, items: Iterable[tuple[str, np.ndarray, np.ndarray | None]],
           answer_weight: float = ANSWER_WEIGHT) -> TrainingSet:
        """From ``(qid, question vectors, answer vector or None)`` per item."""
        qids, vectors, labels, weights, prototypes = [], [], [], [], []
        for row, (qid, questions, answer) in enumerate(items):
            questions = np.asarray(questions, dtype=np.float32).reshape(-1, questions.shape[-1])
            qids.append(qid)
            prototypes.append(_unit(questions.mean(axis=0)) if len(questions)
                              else np.asarray(answer, dtype=np.float32))
            vectors.append(questions)
            labels += [row] * len(questions)
            weights += [1.0] * len(questions)
            if answer is not None and answer_weight > 0:
                vectors.append(np.asarray(answer, dtype=np.float32)[None, :])
                labels.append(row)
                weights.append(answer_weight)
        if not qids:
            raise ValueError("no items to train the classifier on")
        return cls(tuple(qids), _unit(np.concatenate(vectors).astype(np.float32)),
                   np.asarray(labels), np.asarray(weights, dtype=np.float32),
                   _unit(np.stack(prototypes).astype(np.float32)))

    def fingerprint(self, model_id: str) -> str:
        """Changes whenever an item, a question, an answer or the model changes."""
        digest = hashlib.sha256(model_id.encode())
        digest.update("\n".join(self.qids).encode())
        digest.update(np.ascontiguousarray(self.vectors).tobytes())
        return digest.hexdigest()[:16]


@dataclass
class ItemClassifier:
    """A trained model: one weight row per item (``qids`` order)."""

    model_id: str
    qids: tuple[str, ...]
    weights: np.ndarray  # (items, dim) float32
    fingerprint: str = ""
    train_seconds: float = 0.0
    scale: float = SCALE
    row_of: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.row_of = {qid: row for row, qid in enumerate(self.qids)}

    def logits(self, vector: np.ndarray, qids: Sequence[str],
               fallback: Sequence[float]) -> np.ndarray:
        """Each candidate's logit; ``fallback`` (its best question cosine) for items the model
        has not seen, on the same scale."""
        rows = [self.row_of.get(qid, -1) for qid in qids]
        known = np.asarray([r >= 0 for r in rows])
        out = self.scale * np.asarray(fallback, dtype=np.float32)
        if known.any():
            matrix = self.weights[[r for r in rows if r >= 0]]
            out[known] = self.scale * (matrix @ np.asarray(vector, dtype=np.float32))
        return out

    def to_bytes(self) -> bytes:
        """The model as an ``.npz`` archive (weights as float16: half the size, same ranks)."""
        buffer = io.BytesIO()
        np.savez(buffer, weights=self.weights.astype(np.float16),
                 qids=np.asarray(self.qids, dtype=object).astype(str),
                 meta=np.asarray([self.model_id, self.fingerprint, str(self.train_seconds),
                                  str(self.scale)]))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ItemClassifier:
        """The model saved by :meth:`to_bytes`."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            model_id, fingerprint, seconds, scale = (str(x) for x in archive["meta"])
            return cls(model_id, tuple(str(q) for q in archive["qids"]),
                       archive["weights"].astype(np.float32), fingerprint, float(seconds),
                       float(scale))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits (stable)."""
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def _neighbours(vectors: np.ndarray, prototypes: np.ndarray, labels: np.ndarray,
                k: int, chunk: int = 512) -> np.ndarray:
    """For each example, its own class and the ``k - 1`` other nearest prototypes."""
    n_classes = len(prototypes)
    k = min(k, n_classes)
    result = np.empty((len(vectors), k), dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        sims = vectors[start:start + chunk] @ prototypes.T
        rows = np.arange(len(sims))
        sims[rows, labels[start:start + chunk]] = np.inf  # own class always kept
        if k < n_classes:
            np.negative(sims, out=sims)
            top = np.argpartition(sims, k - 1, axis=1)[:, :k]
        else:
            top = np.tile(np.arange(n_classes), (len(sims), 1))
        result[start:start + chunk] = top
    return result


#: Up to this many items, each example is trained against every item (one matrix product a
#: step); above, against its nearest :data:`CANDIDATES` items, with sparse updates.
DENSE_ITEMS = 256
#: Large knowledge bases get fewer epochs: at most this many example visits in all.
MAX_EXAMPLE_VISITS = 1_000_000


def _scatter_rows(rows: np.ndarray, weights: np.ndarray,
                  vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``rows`` and, for each, ``sum weights[b, k] * vectors[b]`` over the
    ``(b, k)`` where ``rows[b, k]`` is that row (a sparse product, by sort and reduce)."""
    flat = rows.ravel()
    order = np.argsort(flat, kind="stable")
    sorted_rows = flat[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    contributions = (weights[..., None] * vectors[:, None, :]).reshape(-1, vectors.shape[1])
    return sorted_rows[starts], np.add.reduceat(contributions[order], starts, axis=0)


def train(examples: TrainingSet, *, model_id: str, candidates: int = CANDIDATES,
          scale: float = SCALE, epochs: int = EPOCHS, learning_rate: float = LEARNING_RATE,
          l2: float = L2, batch: int = 1024) -> ItemClassifier:
    """Fit the weights by softmax cross-entropy (Adam), every item a class.

    Up to :data:`DENSE_ITEMS` items each example competes with every item; above, with its
    ``candidates`` nearest items (as a turn does), updating only the rows the examples touch,
    for at most :data:`MAX_EXAMPLE_VISITS` example visits. Each epoch is *one* Adam step on
    the gradient over all examples (summed ``batch`` examples at a time), so the weights move
    as far in a knowledge base of 5,000 items as in one of 100: Adam's step does not shrink
    with the gradient, and a step per batch of 1,024 made bigger knowledge bases take more
    steps, grow their weights and give ever higher confidences to the same turns (measured by
    ``bench/calibration_bench.py``, data/README.md "Calibration across sizes"). Memory is
    ``items x dim`` for the weights, their gradient and Adam's two moments plus
    ``batch x candidates x dim`` for a batch.
    """
    started = time.perf_counter()
    prototypes = examples.prototypes
    n_classes, dim = prototypes.shape
    x, labels, w = examples.vectors, examples.labels, examples.weights
    w = w / float(w.sum())
    dense = n_classes <= DENSE_ITEMS
    if not dense:
        epochs = max(1, min(epochs, MAX_EXAMPLE_VISITS // max(1, len(x))))
        cands = _neighbours(x, prototypes, labels, candidates)
        # the prototypes' part of every logit never changes: compute it once
        base = np.concatenate([np.einsum("bkd,bd->bk", prototypes[cands[i:i + batch]],
                                         x[i:i + batch]) for i in range(0, len(x), batch)])
    delta = np.zeros_like(prototypes)
    m, v = np.zeros_like(delta), np.zeros_like(delta)
    grad = np.zeros_like(delta)
    steps = np.zeros(n_classes, dtype=np.int64)  # per-row Adam step counts (sparse updates)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for _ in range(epochs):
        grad[:] = 0.0
        touched = np.zeros(n_classes, dtype=bool)
        for start in range(0, len(x), batch):
            xb = x[start:start + batch]
            yb, wb = labels[start:start + batch], w[start:start + batch]
            if dense:
                logits = scale * (xb @ (prototypes + delta).T)
                targets = np.zeros_like(logits)
                targets[np.arange(len(xb)), yb] = 1.0
            else:
                cb = cands[start:start + batch]
                logits = scale * (base[start:start + batch]
                                  + np.einsum("bkd,bd->bk", delta[cb], xb))
                targets = (cb == yb[:, None]).astype(np.float32)
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            grad_logits = ((probs - targets) * (scale * wb[:, None])).astype(np.float32)
            if dense:
                grad += grad_logits.T @ xb
                touched[:] = True
            else:
                rows, part = _scatter_rows(cb, grad_logits, xb)
                grad[rows] += part
                touched[rows] = True
        rows = np.flatnonzero(touched)
        current = delta[rows]
        g = grad[rows] + l2 * current
        steps[rows] += 1
        t = steps[rows][:, None]
        m_rows = beta1 * m[rows] + (1 - beta1) * g
        v_rows = beta2 * v[rows] + (1 - beta2) * g * g
        m[rows], v[rows] = m_rows, v_rows
        delta[rows] = current - learning_rate * (m_rows / (1 - beta1 ** t)) / (
            np.sqrt(v_rows / (1 - beta2 ** t)) + eps)
    return ItemClassifier(model_id, examples.qids, (prototypes + delta).astype(np.float32),
                          examples.fingerprint(model_id),
                          round(time.perf_counter() - started, 3), scale)


class ClassifierRepo(Protocol):
    """Where a trained classifier is kept, next to the store."""

    def load(self) -> ItemClassifier | None:
        """The saved model, or None when there is none (or it cannot be read)."""
        ...

    def save(self, model: ItemClassifier) -> None:
        """Replace the saved model."""
        ...

    def version(self) -> object:
        """Changes whenever the saved model does (cheap: checked every turn)."""
        ...


class FileClassifierRepo:
    """The classifier as one ``.npz`` file; written atomically (temp file + rename)."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> ItemClassifier | None:
        try:
            return ItemClassifier.from_bytes(self.path.read_bytes())
        except (OSError, ValueError, KeyError):
            return None

    def save(self, model: ItemClassifier) -> None:
        from knowledge.private_files import write_atomically

        write_atomically(self.path, model.to_bytes())  # owner-only, no temporary file left

    def version(self) -> object:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)


class MemoryClassifierRepo:
    """Keeps the model in memory only (tests, and stores with no place for a file)."""

    def __init__(self) -> None:
        self._model: ItemClassifier | None = None
        self._version = 0

    def load(self) -> ItemClassifier | None:
        return self._model

    def save(self, model: ItemClassifier) -> None:
        self._model = model
        self._version += 1

    def version(self) -> object:
        return self._version


class ClassifierService:
    """Keeps the classifier of one knowledge base current, without ever blocking a turn.

    :meth:`current` returns the saved model (reloaded when another process saved a new one).
    :meth:`retrain` trains from ``examples()`` and saves; :meth:`retrain_soon` does it on a
    background thread (one at a time; a request during training runs once more afterwards).
    """

    def __init__(self, repo: ClassifierRepo, examples: Callable[[], TrainingSet | None],
                 model_id: Callable[[], str]):
        self.repo = repo
        self.examples = examples
        self.model_id = model_id
        self._model: ItemClassifier | None = None
        self._version: object = object()
        self._lock = threading.Lock()
        self._pending = False
        self._thread: threading.Thread | None = None
        self.last_error = ""

    def current(self) -> ItemClassifier | None:
        """The latest saved model for the configured embeddings model, or None."""
        version = self.repo.version()
        if version != self._version:
            self._model, self._version = self.repo.load(), version
        model = self._model
        return model if model is not None and model.model_id == self.model_id() else None

    def retrain(self) -> ItemClassifier | None:
        """Train on the current items now and save the model (None for an empty KB)."""
        examples = self.examples()
        if examples is None:
            return None
        model_id = self.model_id()
        current = self.current()
        if current is not None and current.fingerprint == examples.fingerprint(model_id):
            return current
        model = train(examples, model_id=model_id)
        self.repo.save(model)
        return model

    def retrain_soon(self) -> None:
        """Retrain on a background thread (turns keep using the previous model meanwhile)."""
        with self._lock:
            self._pending = True
            if self._thread is not None:  # the running thread picks the request up
                return
            # not a daemon: a process exiting mid-training finishes and saves the model
            self._thread = threading.Thread(target=self._run, name="classifier-training")
            self._thread.start()

    def run_once(self) -> None:
        """Retrain now; a failure keeps the previous model and is kept in ``last_error``
        (the items are stored either way, and matching works without a classifier)."""
        try:
            self.retrain()
            self.last_error = ""
        except Exception as exc:  # noqa: BLE001 - any failure must leave the import intact
            self.last_error = f"classifier training failed: {exc}"

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                self._pending = False
            self.run_once()

    def wait(self, timeout: float | None = None) -> None:
        """Block until background training is done (CLI imports, tests, benchmarks)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
