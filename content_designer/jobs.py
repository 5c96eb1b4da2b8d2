"""Import, export and "test all" jobs: long work that the API starts and the designer watches.

A job is described by a :class:`JobSpec` (its kind, an optional input file, options) and runs
through :func:`run_job`, which reports progress into a :class:`JobStatus` via a
:class:`Tracker`. Where jobs wait and run is the :class:`JobQueue` port:

* :class:`LocalJobQueue` (``qnabot serve``): uploads and statuses under
  ``$QNABOT_HOME/jobs/<id>/``, one background thread running jobs in order, so two imports
  never race;
* in AWS an upload lands in the S3 import bucket and the bucket's event starts a Lambda that
  calls the same :func:`run_job`.

Statuses are JSON files written atomically, so a status read while a job runs is whole, and
jobs cut short by a restart are marked failed with a hint to run them again.

Example:
    >>> queue = LocalJobQueue(home, runner)  # doctest: +SKIP
    >>> job = queue.submit("import", upload=b'{"qna": []}', filename="faq.json")  # doctest: +SKIP
    >>> queue.status(job.id).state  # doctest: +SKIP
    'succeeded'
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from content_designer.evaluation import (
    LabeledQuestion,
    evaluate,
    knowledge_base_search,
    labeled_from_json,
    questions_of,
)
from knowledge.exporter import export_items
from knowledge.importer import ImportFileError, import_files, open_source
from knowledge.knowledge_base import KnowledgeBase
from knowledge.private_files import PRIVATE_MODE, write_atomically
from knowledge.settings import Settings
from knowledge.store import StoreError

logger = logging.getLogger(__name__)

JobKind = Literal["import", "export", "test_all", "tune"]
JobState = Literal["queued", "running", "succeeded", "failed"]
#: Per-item problems kept in a status; the count of all of them is kept too.
MAX_PROBLEMS = 1000
#: Outcomes of a "test all" job kept in its status (misses first).
MAX_OUTCOMES = 5000
#: Jobs kept under ``$QNABOT_HOME/jobs`` (with their exports); older ones are deleted.
MAX_KEPT_JOBS = 200
#: A running job writes its status at most this often (the final status is always written).
STATUS_INTERVAL_SECONDS = 0.2
EXPORT_FILE = "export.json"

_JOB_ID = re.compile(r"^(?:import|export|test_all|tune)-\d{8}T\d{6}-[0-9a-f]{8}$")
#: Points of a tuning sweep kept in its status for the chart (the frontier is always kept).
MAX_CHART_POINTS = 1500


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_job_id(kind: JobKind) -> str:
    """A unique, time-sortable id such as ``import-20260101T120000-1a2b3c4d``."""
    return f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def is_job_id(text: str) -> bool:
    """True for ids made by :func:`new_job_id`; anything else never becomes a path."""
    return bool(_JOB_ID.match(text))


@dataclass
class JobStatus:
    """What a job is doing or did. ``done`` of ``total`` items processed so far."""

    id: str
    kind: JobKind
    state: JobState = "queued"
    filename: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    total: int | None = None
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    problem_count: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def progress(self) -> float:
        """Share done, from 0 to 1 (1 once finished)."""
        if self.state in ("succeeded", "failed"):
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "progress": round(self.progress, 4)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobStatus:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class JobSpec:
    """What to run: the kind, the uploaded input (if any) and options such as ``replace_all``."""

    id: str
    kind: JobKind
    input_file: Path | None = None
    filename: str = ""
    options: dict[str, Any] = field(default_factory=dict)


class Tracker:
    """Collects a running job's progress into its status and saves it now and then."""

    def __init__(self, status: JobStatus, save: Callable[[JobStatus], None]):
        self.status = status
        self._save = save
        self._last_save = 0.0

    def set_total(self, total: int | None) -> None:
        self.status.total = total
        self.flush()

    def advance(self, processed: int) -> None:
        """``processed`` more items are done (a progress callback for importers and loops)."""
        self.status.done += processed
        if time.monotonic() - self._last_save >= STATUS_INTERVAL_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._last_save = time.monotonic()
        self._save(self.status)


# --- the jobs -----------------------------------------------------------------------------


def _count_items(path: Path) -> int | None:
    """How many items the file holds (a quick first pass for the progress bar)."""
    try:
        return sum(1 for _ in open_source(path).items())
    except ImportFileError:
        return None  # the import itself reports the file's problem


def _run_import(kb: KnowledgeBase, spec: JobSpec, tracker: Tracker) -> dict[str, Any]:
    if spec.input_file is None:
        raise JobInputError("an import job needs an uploaded file")
    tracker.set_total(_count_items(spec.input_file))
    try:
        report = import_files(kb, [spec.input_file],
                              replace_all=bool(spec.options.get("replace_all")),
                              progress=tracker.advance)
    except ImportFileError as exc:
        raise JobInputError(str(exc).replace(str(spec.input_file), spec.filename)) from None
    status = tracker.status
    status.counts = {"read": report.read, "stored": report.stored, "rejected": report.rejected}
    status.problem_count = report.problem_count
    status.problems = [{**p.to_json(), "file": spec.filename}
                       for p in report.problems[:MAX_PROBLEMS]]
    status.warnings = [w.replace(str(spec.input_file), spec.filename) for w in report.warnings]
    rate = report.read / report.seconds if report.seconds else None
    return {"items_per_second": round(rate, 1) if rate else None,
            "replace_all": report.replace_all, "total_items": kb.store.count()}


def _run_export(kb: KnowledgeBase, spec: JobSpec, tracker: Tracker,
                output: Path) -> dict[str, Any]:
    tracker.set_total(kb.store.count())
    qid_filter = str(spec.options.get("qid_filter") or "")
    count = export_items(kb.store, output, qid_filter, prefix=bool(spec.options.get("prefix")))
    output.chmod(PRIVATE_MODE)  # under QNABOT_HOME: the owner's only, like every data file
    tracker.status.done = count
    tracker.status.counts = {"exported": count}
    return {"items": count, "download": f"jobs/{spec.id}/download"}


def _labeled_cases(spec: JobSpec, kb: KnowledgeBase) -> list[LabeledQuestion]:
    topic = spec.options.get("topic") or None
    client = spec.options.get("client_filter") or None
    if spec.input_file is None:
        return list(questions_of(kb.store.iter_items(), topic=topic, client=client))
    try:
        cases = [case for raw in open_source(spec.input_file).items()
                 for case in labeled_from_json(raw.value)]
    except ImportFileError as exc:
        raise JobInputError(str(exc).replace(str(spec.input_file), spec.filename)) from None
    return [replace(case, client=client) for case in cases] if client else cases


def _run_test_all(kb: KnowledgeBase, settings: Settings, spec: JobSpec,
                  tracker: Tracker) -> dict[str, Any]:
    cases = _labeled_cases(spec, kb)
    tracker.set_total(len(cases))
    report = evaluate(knowledge_base_search(kb, settings), cases, on_progress=tracker.advance)
    tracker.status.counts = {"asked": report.total, "correct": report.correct,
                             "ambiguous": report.ambiguous, "missed": report.missed}
    order = {"missed": 0, "ambiguous": 1, "correct": 2}
    outcomes = sorted(report.outcomes, key=lambda o: order[o.status])[:MAX_OUTCOMES]
    return {"accuracy": round(report.accuracy, 4),
            "outcomes": [o.to_json() for o in outcomes],
            "report": f"jobs/{spec.id}/report"}


def _run_tune(kb: KnowledgeBase, settings: Settings, spec: JobSpec,
              tracker: Tracker) -> dict[str, Any]:
    """``qnabot tune`` as a job: search every labeled turn once, replay many settings."""
    from knowledge.evaluation import EvalFileError, load_conversations, record
    from knowledge.matching import MatchParams
    from knowledge.tuning import DEFAULTS_CHOSEN_AT_WRONG_RATE, SweepPoint, sweep_size, tune

    if spec.input_file is None:
        raise JobInputError("tuning needs a labeled file (qnabot eval's JSON Lines format)")
    try:
        conversations = load_conversations(spec.input_file)
    except EvalFileError as exc:
        raise JobInputError(str(exc).replace(str(spec.input_file), spec.filename)) from None
    turns = sum(len(c.turns) for c in conversations)
    tracker.set_total(turns + sweep_size("hybrid"))
    recording = record(kb, conversations, settings, on_progress=tracker.advance)
    target = float(spec.options.get("max_wrong_rate") or DEFAULTS_CHOSEN_AT_WRONG_RATE)
    tuning = tune(recording, MatchParams.from_settings(settings), max_wrong_rate=target,
                  on_progress=tracker.advance)
    current, points, best, edge = (tuning.current, tuning.points, tuning.recommended,
                                   tuning.frontier)
    step = max(1, len(points) // MAX_CHART_POINTS)

    def dot(point: SweepPoint) -> list[float]:
        return [round(point.summary["wrong_rate"] or 0, 4), round(point.summary["overall"] or 0, 4)]

    tracker.status.counts = {"turns": turns, "settings_tried": len(points)}
    return {"max_wrong_rate": target, "current": current.to_json(),
            "recommended": best.to_json(), "frontier": [p.to_json() for p in edge],
            "chart": {"points": [dot(p) for p in points[::step]],
                      "frontier": [dot(p) for p in edge],
                      "current": dot(current), "recommended": dot(best)}}


class JobInputError(ValueError):
    """The job's input cannot be used; the message tells the admin what to fix."""


def run_job(spec: JobSpec, tracker: Tracker, kb: KnowledgeBase, settings: Settings,
            output_dir: Path) -> None:
    """Run one job to its end, leaving the outcome in ``tracker.status`` (never raises)."""
    status = tracker.status
    status.state, status.started = "running", _now()
    tracker.flush()
    started = time.perf_counter()
    try:
        if spec.kind == "import":
            status.result = _run_import(kb, spec, tracker)
        elif spec.kind == "export":
            status.result = _run_export(kb, spec, tracker, output_dir / EXPORT_FILE)
        elif spec.kind == "tune":
            status.result = _run_tune(kb, settings, spec, tracker)
        else:
            status.result = _run_test_all(kb, settings, spec, tracker)
        status.state = "succeeded"
    except JobInputError as exc:
        status.state, status.error = "failed", str(exc)
    except Exception as exc:  # the job fails, the server keeps serving
        logger.exception("job %s failed", spec.id)
        status.state = "failed"
        status.error = (f"{type(exc).__name__}: {exc}. Nothing was lost; fix the cause and "
                        "run it again.")
    status.seconds = round(time.perf_counter() - started, 3)
    status.finished = _now()
    tracker.flush()


# --- queues ---------------------------------------------------------------------------------


class JobQueue(Protocol):
    """Port: where jobs wait, run and keep their status."""

    def submit(self, kind: JobKind, *, upload: bytes | None = None, filename: str = "",
               options: dict[str, Any] | None = None) -> JobStatus:
        """Queue a job (with its uploaded input) and return its first status."""
        ...

    def status(self, job_id: str) -> JobStatus | None:
        """The job's status, or None for an unknown id."""
        ...

    def list(self, limit: int = 50) -> list[JobStatus]:
        """The newest jobs first."""
        ...

    def output(self, job_id: str) -> Path | None:
        """The file a finished export job wrote, when it is on this machine; else None."""
        ...

    def output_url(self, job_id: str) -> str | None:
        """A link to download a finished export kept elsewhere (S3); else None."""
        ...

    def shutdown(self) -> None:
        """Stop taking jobs; let the running one finish."""
        ...


#: Builds what a job needs at the moment it starts (settings as they are then).
JobRunner = Callable[[JobSpec, Tracker, Path], None]


class LocalJobQueue:
    """Jobs in ``<home>/jobs``, run one after another by a background thread."""

    def __init__(self, home: Path, runner: JobRunner):
        self.root = home / "jobs"
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._runner = runner
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qnabot-job")
        self._lock = threading.Lock()
        # The last status of each job of this process, as JSON: what ``status`` answers even
        # when the file could not be written (a full disk), so no job looks "running" forever.
        self._latest: dict[str, dict[str, Any]] = {}
        self._fail_interrupted()

    def submit(self, kind: JobKind, *, upload: bytes | None = None, filename: str = "",
               options: dict[str, Any] | None = None) -> JobStatus:
        job_id = new_job_id(kind)
        folder = self.root / job_id
        input_file = None
        try:
            folder.mkdir(mode=0o700)
            if upload is not None:
                input_file = folder / "upload"
                write_atomically(input_file, upload)
            spec = JobSpec(job_id, kind, input_file, filename or "upload", dict(options or {}))
            status = JobStatus(job_id, kind, filename=spec.filename, options=spec.options)
            self._write(status)
        except OSError as exc:  # a full disk: queue nothing, leave nothing behind
            shutil.rmtree(folder, ignore_errors=True)
            raise StoreError(f"the {kind} job could not be queued: {exc.strerror or exc} "
                             f"({self.root}). Free some disk space and try again.") from None
        self._executor.submit(self._run, spec, status)
        self._forget_old_jobs()
        return status

    def _forget_old_jobs(self) -> None:
        """Keep the newest :data:`MAX_KEPT_JOBS` jobs; older finished ones are deleted."""
        for status in self.list(limit=100_000)[MAX_KEPT_JOBS:]:
            if status.state in ("succeeded", "failed"):
                shutil.rmtree(self.root / status.id, ignore_errors=True)
                with self._lock:
                    self._latest.pop(status.id, None)

    def _run(self, spec: JobSpec, status: JobStatus) -> None:
        try:
            self._runner(spec, Tracker(status, self._save), self.root / spec.id)
        finally:
            if spec.input_file is not None:
                spec.input_file.unlink(missing_ok=True)

    def status(self, job_id: str) -> JobStatus | None:
        if not is_job_id(job_id):
            return None
        with self._lock:
            latest = self._latest.get(job_id)
        if latest is not None:
            return JobStatus.from_json(latest)
        try:
            data = json.loads((self.root / job_id / "status.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return JobStatus.from_json(data)

    def list(self, limit: int = 50) -> list[JobStatus]:
        statuses = [s for s in (self.status(p.name) for p in self.root.iterdir()) if s]
        statuses.sort(key=lambda s: (s.created, s.id), reverse=True)
        return statuses[:limit]

    def output(self, job_id: str) -> Path | None:
        status = self.status(job_id)
        if status is None or status.kind != "export" or status.state != "succeeded":
            return None
        path = self.root / job_id / EXPORT_FILE
        return path if path.is_file() else None

    def output_url(self, job_id: str) -> str | None:
        return None  # exports are files here: see output()

    def wait(self, job_id: str, timeout: float = 60.0) -> JobStatus:
        """Block until the job has finished (for the CLI and tests); raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if status and status.state in ("succeeded", "failed"):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {status.state if status else 'unknown'}")
            time.sleep(0.02)

    def shutdown(self) -> None:
        """Finish the running job and stop the worker."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _save(self, status: JobStatus) -> None:
        """Write ``status`` and keep it as the job's latest (what :meth:`status` answers).

        A write that fails (a full disk) is logged, never raised into the job; if it was the
        job's final status, the job has failed: an outcome that cannot be kept is not a
        success, and a status that stayed "running" would be polled for ever.
        """
        try:
            self._write(status)
        except OSError as exc:
            logger.error("cannot save the status of job %s: %s", status.id, exc)
            if status.state in ("succeeded", "failed"):
                earlier = f"{status.error} " if status.state == "failed" else ""
                status.state = "failed"
                status.error = (f"{earlier}The job's status could not be saved "
                                f"({exc.strerror or exc}), so its outcome is unknown. Free some "
                                "disk space, check the knowledge base (`qnabot info`), then run "
                                "the job again.")
                with contextlib.suppress(OSError):
                    self._write(status)
        with self._lock:
            self._latest[status.id] = status.to_json()

    def _write(self, status: JobStatus) -> None:
        data = json.dumps(status.to_json(), ensure_ascii=False).encode("utf-8")
        write_atomically(self.root / status.id / "status.json", data)

    def _fail_interrupted(self) -> None:
        for status in self.list(limit=10_000):
            if status.state in ("queued", "running"):
                status.state, status.finished = "failed", _now()
                status.error = ("interrupted: the server stopped before the job finished; "
                                "the knowledge base is as it was before the job. Run it again.")
                self._save(status)
