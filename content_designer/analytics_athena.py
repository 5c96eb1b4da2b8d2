"""The analytics in AWS: the records Firehose delivered to S3, read back with Amazon Athena.

The fulfillment Lambda sends each turn and feedback record through Firehose to the metrics
bucket (:mod:`fulfillment.metrics_firehose`), under ``metrics/`` and ``feedback/`` with
``year=/month=/day=`` prefixes; the template declares the Glue tables ``metrics`` and
``feedback`` over them, partitions projected from those prefixes. :class:`AthenaMetricsReader`
is the :class:`~content_designer.analytics.MetricsReader` over those tables:

* the query reads only the days asked for (a predicate on the ``year``, ``month`` and ``day``
  partition keys, one range per month), and only the columns :func:`summarize` reads
  (:data:`~content_designer.analytics.TURN_FIELDS`), renamed back to the record's field names;
* it waits for Athena within a time budget that leaves room for API Gateway's 29 s limit, and
  stops the query when the budget runs out;
* it reads at most ``max_rows`` records, the newest (as the SQLite reader does), and pages
  through the results only while the budget lasts; either limit marks the records
  ``truncated``, so the page can say its figures are partial.

Failures (the query failed, Athena refused it, the budget ran out) raise
:class:`~content_designer.analytics.MetricsUnavailableError` with Athena's reason.

Environment (set by the template on the designer's function): ``METRICS_ATHENA_DATABASE``,
``METRICS_ATHENA_WORKGROUP`` (its result location and encryption apply) and, for a workgroup
without a result location, ``METRICS_ATHENA_OUTPUT`` (``s3://bucket/prefix/``).

Example:
    >>> reader = AthenaMetricsReader("qnabot_8d1c3f20", workgroup="qnabot-metrics")
    ... # doctest: +SKIP
    >>> [r["qid"] for r in reader.turns(since="2026-01-02")]  # doctest: +SKIP
    ['Alexa.001', 'CustomNoMatches']
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from content_designer.analytics import FEEDBACK_FIELDS, TURN_FIELDS, MetricsUnavailableError
from fulfillment.metrics import Records

logger = logging.getLogger(__name__)

#: The Glue tables of the template, one per delivery stream.
TURNS_TABLE = "metrics"
FEEDBACK_TABLE = "feedback"
#: Most records one read returns (the newest are kept). Results come 1,000 rows a call, so
#: this is at most 20 GetQueryResults calls.
MAX_ROWS = 20_000
#: Seconds one read may take, from starting the query to its last page. The page makes two
#: reads (turns, feedback), so both fit API Gateway's 29 s with room for the rest.
BUDGET_S = 11.0
#: The longest wait between two status checks.
MAX_POLL_S = 1.0
_PAGE = 1000


@dataclass(frozen=True)
class AthenaConfig:
    """Where the queries run: the Glue database, the workgroup, and the result location."""

    database: str
    workgroup: str = ""
    output_location: str = ""

    @classmethod
    def from_env(cls) -> AthenaConfig | None:
        """The configuration the template gives the designer's function, or None."""
        database = os.environ.get("METRICS_ATHENA_DATABASE", "").strip()
        if not database:
            return None
        return cls(database, os.environ.get("METRICS_ATHENA_WORKGROUP", "").strip(),
                   os.environ.get("METRICS_ATHENA_OUTPUT", "").strip())


def quote(identifier: str) -> str:
    """An identifier as Athena's SQL (Trino) reads it: double quoted, quotes doubled.

    >>> quote('qnabot_8d1c3f20')
    '"qnabot_8d1c3f20"'
    """
    return '"' + identifier.replace('"', '""') + '"'


def column(field: str) -> str:
    """The Glue column of a record field: Glue lowercases names, the JSON SerDe matches keys
    ignoring case (``answerSource`` is read into ``answersource``)."""
    return field.lower()


def partition_predicate(first: date, last: date) -> str:
    r"""The partitions from ``first`` to ``last`` (inclusive): one day range per month.

    >>> print(partition_predicate(date(2025, 12, 30), date(2026, 1, 2)).replace(" OR ", "\n"))
    (("year" = 2025 AND "month" = 12 AND "day" BETWEEN 30 AND 31)
    ("year" = 2026 AND "month" = 1 AND "day" BETWEEN 1 AND 2))
    """
    ranges = []
    start = first
    while start <= last:
        next_month = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        end = min(last, next_month - timedelta(days=1))
        ranges.append(f'("year" = {start.year:d} AND "month" = {start.month:d} '
                      f'AND "day" BETWEEN {start.day:d} AND {end.day:d})')
        start = next_month
    return "(" + " OR ".join(ranges) + ")"


def select_query(database: str, table: str, fields: Sequence[str], since: date | None,
                 today: date, limit: int) -> str:
    """The SQL reading ``fields`` of the records from ``since`` (None: all) on, newest first.

    Only literals computed here reach the text: dates are formatted from :class:`date`
    objects and the limit is an int.
    """
    columns = ", ".join(quote(column(f)) for f in fields)
    where = ""
    if since is not None:
        where = (f" WHERE {partition_predicate(since, today)}"
                 f" AND \"datetime\" >= '{since.isoformat()}'")
    return (f"SELECT {columns} FROM {quote(database)}.{quote(table)}{where}"
            f' ORDER BY "datetime" DESC LIMIT {int(limit):d}')


def _to_date(since: str) -> date | None:
    if not since:
        return None
    try:
        return date.fromisoformat(since[:10])
    except ValueError as exc:
        raise ValueError(f"since must be an ISO date (YYYY-MM-DD), not {since!r}") from exc


_INTEGERS = {"tinyint", "smallint", "integer", "int", "bigint"}
_DECIMALS = {"double", "float", "real", "decimal"}


def convert(value: str | None, athena_type: str) -> Any:
    """One result cell as the record held it: Athena returns every value as text.

    >>> convert("1", "integer"), convert("4.2E1", "double"), convert("true", "boolean")
    (1, 42.0, True)
    >>> convert(None, "integer") is None
    True
    """
    if value is None:
        return None
    kind = athena_type.lower().split("(", 1)[0]
    if kind in _INTEGERS:
        return int(value)
    if kind in _DECIMALS:
        return float(value)
    if kind == "boolean":
        return value.lower() == "true"
    if kind == "json":
        return json.loads(value)
    return value


class AthenaMetricsReader:
    """A :class:`~content_designer.analytics.MetricsReader` over the template's Glue tables.

    ``clock`` and ``sleep`` are the time functions of the wait (tests pass fakes); ``today``
    gives the last partition to read.
    """

    def __init__(self, database: str, *, workgroup: str = "", output_location: str = "",
                 client: Any = None, max_rows: int = MAX_ROWS, budget_s: float = BUDGET_S,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 today: Callable[[], date] = lambda: datetime.now(UTC).date()):
        from knowledge.aws import LazyClient

        self.config = AthenaConfig(database, workgroup, output_location)
        self.max_rows = max_rows
        self.budget_s = budget_s
        self._client = LazyClient("athena", read_timeout=5, client=client)
        self._clock, self._sleep, self._today = clock, sleep, today

    @classmethod
    def from_config(cls, config: AthenaConfig, **kwargs: Any) -> AthenaMetricsReader:
        """A reader for ``config`` (see :meth:`AthenaConfig.from_env`)."""
        return cls(config.database, workgroup=config.workgroup,
                   output_location=config.output_location, **kwargs)

    def turns(self, since: str = "") -> Records:
        """Turn records from ``since`` (ISO date) on, oldest first."""
        return self._read(TURNS_TABLE, TURN_FIELDS, since)

    def feedback(self, since: str = "") -> Records:
        """Feedback records from ``since`` on, oldest first."""
        return self._read(FEEDBACK_TABLE, FEEDBACK_FIELDS, since)

    def query(self, table: str, fields: Sequence[str], since: str) -> str:
        """The SQL :meth:`turns` or :meth:`feedback` runs (one row more than it keeps: a
        full extra row says the window held more)."""
        return select_query(self.config.database, table, fields, _to_date(since), self._today(),
                            self.max_rows + 1)

    def _read(self, table: str, fields: Sequence[str], since: str) -> Records:
        first = _to_date(since)
        if first is not None and first > self._today():
            return Records()
        deadline = self._clock() + self.budget_s
        sql = self.query(table, fields, since)
        execution = self._call("start the query on", "start_query_execution",
                               **self._start_parameters(sql))["QueryExecutionId"]
        self._wait(table, execution, deadline)
        by_column = {column(f): f for f in fields}
        rows: list[dict[str, Any]] = []
        complete = True
        for row in self._rows(execution, deadline):
            if row is None:  # out of time between pages: keep the newest read so far
                complete = False
                break
            rows.append({by_column.get(name, name): value for name, value in row.items()})
        truncated = not complete or len(rows) > self.max_rows
        if truncated:
            logger.warning("analytics: the window holds more %s rows than one read returns "
                           "(%d kept, the newest; limit %d rows, %.0f s)", table,
                           min(len(rows), self.max_rows), self.max_rows, self.budget_s)
        rows = rows[:self.max_rows]
        rows.reverse()
        return Records(rows, truncated=truncated)

    def _start_parameters(self, sql: str) -> dict[str, Any]:
        parameters: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.config.database},
        }
        if self.config.workgroup:
            parameters["WorkGroup"] = self.config.workgroup
        if self.config.output_location:
            parameters["ResultConfiguration"] = {"OutputLocation": self.config.output_location}
        return parameters

    def _call(self, doing: str, operation: str, **parameters: Any) -> dict[str, Any]:
        """One Athena call; its errors become :class:`MetricsUnavailableError`."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client.get(), operation)(**parameters)
        except ClientError as exc:
            problem = exc.response.get("Error", {})
            raise MetricsUnavailableError(
                f"analytics: Athena could not {doing} the metrics tables: "
                f"{problem.get('Code', 'error')}: {problem.get('Message', exc)}") from exc
        except BotoCoreError as exc:
            raise MetricsUnavailableError(
                f"analytics: Athena could not be reached to {doing} the metrics tables: "
                f"{exc}; try again in a minute") from exc

    def _wait(self, table: str, execution: str, deadline: float) -> None:
        """Until the query succeeds; raises when it fails or the budget runs out."""
        delay = 0.2
        while True:
            status = self._call("check the query on", "get_query_execution",
                                QueryExecutionId=execution)["QueryExecution"]["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return
            if state in ("FAILED", "CANCELLED"):
                reason = (status.get("StateChangeReason")
                          or status.get("AthenaError", {}).get("ErrorMessage")
                          or "Athena gave no reason")
                raise MetricsUnavailableError(
                    f"analytics: the Athena query {execution} on table {table!r} "
                    f"{state.lower()}: {reason}")
            if self._clock() + delay > deadline:
                self._stop(execution)
                raise MetricsUnavailableError(
                    f"analytics: the Athena query {execution} on table {table!r} was still "
                    f"{state.lower()} after {self.budget_s:.0f} s, so it was stopped; try "
                    "again in a minute, or choose fewer days")
            self._sleep(delay)
            delay = min(delay * 2, MAX_POLL_S)

    def _stop(self, execution: str) -> None:
        """Stop a query no one will read (best effort: it would only cost scanning)."""
        try:
            self._call("stop the query on", "stop_query_execution", QueryExecutionId=execution)
        except MetricsUnavailableError as exc:
            logger.warning("%s", exc)

    def _rows(self, execution: str, deadline: float) -> Iterator[dict[str, Any] | None]:
        """The result rows as {column: value}; None once the budget runs out before a page."""
        token = ""
        header = True
        while True:
            parameters: dict[str, Any] = {"QueryExecutionId": execution, "MaxResults": _PAGE}
            if token:
                parameters["NextToken"] = token
            page = self._call("read the results of", "get_query_results", **parameters)
            result = page["ResultSet"]
            info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            names = [c["Name"] for c in info]
            types = [c.get("Type", "varchar") for c in info]
            rows = result.get("Rows", [])
            if header:  # the first row of a SELECT's first page holds the column names
                rows, header = rows[1:], False
            for row in rows:
                cells = [d.get("VarCharValue") for d in row.get("Data", [])]
                cells += [None] * (len(names) - len(cells))  # NULLs Athena left off the end
                yield {name: convert(cell, kind)
                       for name, kind, cell in zip(names, types, cells, strict=False)}
            token = page.get("NextToken", "")
            if not token:
                return
            if self._clock() >= deadline:
                yield None
                return
