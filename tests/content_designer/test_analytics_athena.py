"""The analytics in AWS: AthenaMetricsReader against a real boto3 Athena client and Stubber.

Stubber checks every request against Athena's service model and answers with the responses
queued here. The end-to-end test builds the records with the fulfillment's own record builder
and Firehose sink, runs the reader's SQL over them (SQLite standing in for Athena, its tables
declared from the template's Glue tables), and compares :func:`summarize` with what the local
SQLite reader gives for the same turns.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cfnlint.decode import decode

from content_designer import lambda_function
from content_designer.analytics import (
    FEEDBACK_FIELDS,
    TURN_FIELDS,
    MetricsUnavailableError,
    summarize,
)
from content_designer.analytics_athena import (
    AthenaMetricsReader,
    convert,
    quote,
)
from content_designer.api import create_app
from content_designer.chat import LocalLambdaContext
from content_designer.services import cognito_authorizer
from fulfillment import metrics
from fulfillment.metrics_firehose import FirehoseMetricsSink
from fulfillment.metrics_sqlite import SqliteMetricsSink
from fulfillment.model import Answer, LlmCall, Request, TurnDebug, TurnResult
from knowledge.settings import Settings

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
DATABASE, WORKGROUP = "qnabot_8d1c3f20", "qnabot-metrics"
TODAY = date(2026, 3, 2)
#: Glue column types and the types Athena reports for them in ResultSetMetadata.
ATHENA_TYPES = {"string": "varchar", "int": "integer", "double": "double", "boolean": "boolean"}


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    """Fake credentials and a region, so no test can reach a real account."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


class Clock:
    """Time that passes only when the reader sleeps or a test moves it."""

    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def athena():
    client = boto3.client("athena", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def make_reader(client, clock: Clock | None = None, today: date = TODAY,
                **kwargs) -> AthenaMetricsReader:
    clock = clock or Clock()
    return AthenaMetricsReader(DATABASE, workgroup=WORKGROUP, client=client, clock=clock,
                               sleep=clock.sleep, today=lambda: today, **kwargs)


@cache
def glue_tables() -> dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]]:
    """Each Glue table of the template: its (column, type)s and its partition keys."""
    data, matches = decode(str(TEMPLATE))
    assert not matches
    tables = {}
    for resource in data["Resources"].values():
        if resource["Type"] == "AWS::Glue::Table":
            table = resource["Properties"]["TableInput"]
            tables[table["Name"]] = (
                tuple((c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]),
                tuple(k["Name"] for k in table["PartitionKeys"]))
    return tables


def athena_columns(table: str, fields) -> list[tuple[str, str]]:
    """The (column, Athena type) a SELECT of ``fields`` reports."""
    types = dict(glue_tables()[table][0])
    return [(f.lower(), ATHENA_TYPES[types[f.lower()]]) for f in fields]


# --- Athena's side of the conversation --------------------------------------------------------

def expect_start(stubber: Stubber, sql: str, execution: str = "q-1") -> None:
    stubber.add_response("start_query_execution", {"QueryExecutionId": execution},
                         {"QueryString": sql, "QueryExecutionContext": {"Database": DATABASE},
                          "WorkGroup": WORKGROUP})


def expect_states(stubber: Stubber, execution: str, *states: str, reason: str = "") -> None:
    for state in states:
        status: dict[str, Any] = {"State": state}
        if reason:
            status["StateChangeReason"] = reason
        stubber.add_response("get_query_execution",
                             {"QueryExecution": {"QueryExecutionId": execution, "Status": status}},
                             {"QueryExecutionId": execution})


def expect_results(stubber: Stubber, execution: str, columns: list[tuple[str, str]],
                   rows: list[list[str | None]], page: int = 1000, pages: int | None = None):
    """GetQueryResults as Athena answers a SELECT: the header row first, ``page`` rows a call,
    a NextToken on every page but the last (only the first ``pages`` are queued)."""
    header = [{"VarCharValue": name} for name, _ in columns]
    body = [[{} if v is None else {"VarCharValue": v} for v in row] for row in rows]
    everything = [header, *body]
    chunks = [everything[i:i + page] for i in range(0, len(everything), page)]
    info = [{"Name": name, "Label": name, "Type": kind, "CatalogName": "hive",
             "SchemaName": DATABASE, "TableName": "", "Nullable": "UNKNOWN",
             "CaseSensitive": kind == "varchar", "Precision": 0, "Scale": 0}
            for name, kind in columns]
    for n, chunk in enumerate(chunks[:pages]):
        response: dict[str, Any] = {"ResultSet": {"Rows": [{"Data": r} for r in chunk],
                                                  "ResultSetMetadata": {"ColumnInfo": info}}}
        if n < len(chunks) - 1:
            response["NextToken"] = f"token-{n + 1}"
        expected: dict[str, Any] = {"QueryExecutionId": execution, "MaxResults": 1000}
        if n:
            expected["NextToken"] = f"token-{n}"
        stubber.add_response("get_query_results", response, expected)


def turn_row(when: str, utterance: str, qid: str = "", got_hits: int = 1,
             latency: str | None = "12.0", llm_calls: str | None = "0",
             llm_ms: str | None = "0.0", session: str = "s1",
             welcome: str | None = "false", feedback: str | None = "",
             suggested: str | None = "") -> list[str | None]:
    """One row of the turns query, as text, in TURN_FIELDS order."""
    return [when, session, utterance, qid, str(got_hits), "qna" if got_hits else "no_hits",
            latency, llm_calls, llm_ms, welcome, feedback, suggested]


# --- the query ------------------------------------------------------------------------------

def test_the_query_reads_only_the_asked_days_partitions_of_the_templates_tables(athena):
    client, _ = athena
    reader = make_reader(client, today=date(2026, 1, 2))
    sql = reader.query("metrics", TURN_FIELDS, "2025-12-30")
    columns, keys = glue_tables()["metrics"]
    assert keys == ("year", "month", "day")
    selected = re.match(r"SELECT (.*) FROM", sql).group(1).split(", ")
    assert selected == [quote(f.lower()) for f in TURN_FIELDS]
    assert {f.lower() for f in TURN_FIELDS} <= {name for name, _ in columns}
    assert f'FROM "{DATABASE}"."metrics" WHERE ' in sql
    assert ('(("year" = 2025 AND "month" = 12 AND "day" BETWEEN 30 AND 31) OR '
            '("year" = 2026 AND "month" = 1 AND "day" BETWEEN 1 AND 2))') in sql
    assert "\"datetime\" >= '2025-12-30'" in sql
    assert sql.endswith('ORDER BY "datetime" DESC LIMIT 20001')
    feedback = reader.query("feedback", FEEDBACK_FIELDS, "2025-12-30")
    assert f'FROM "{DATABASE}"."feedback"' in feedback
    assert {f.lower() for f in FEEDBACK_FIELDS} <= {n for n, _ in glue_tables()["feedback"][0]}


def test_a_year_is_read_as_one_range_per_month_and_the_since_text_cannot_reach_the_sql(athena):
    client, _ = athena
    reader = make_reader(client)
    year = reader.query("metrics", TURN_FIELDS, (TODAY - timedelta(days=365)).isoformat())
    assert year.count('"day" BETWEEN') == 13
    sneaky = reader.query("metrics", TURN_FIELDS, "2026-03-01' OR '1'='1")
    assert "'1'='1" not in sneaky and "\"datetime\" >= '2026-03-01'" in sneaky
    with pytest.raises(ValueError, match="ISO date"):
        reader.turns("last week")


def test_a_window_that_starts_after_today_asks_athena_nothing(athena):
    client, _ = athena
    assert make_reader(client).turns((TODAY + timedelta(days=1)).isoformat()) == []


# --- waiting and reading ------------------------------------------------------------------

def test_the_reader_waits_through_queued_and_running_and_returns_records_oldest_first(athena):
    client, stubber = athena
    clock = Clock()
    reader = make_reader(client, clock)
    expect_start(stubber, reader.query("metrics", TURN_FIELDS, "2026-03-01"))
    expect_states(stubber, "q-1", "QUEUED", "RUNNING", "SUCCEEDED")
    expect_results(stubber, "q-1", athena_columns("metrics", TURN_FIELDS), [
        turn_row("2026-03-02T10:00:00.000+00:00", "Capital of Peru?", "", got_hits=0,
                 latency=None, llm_calls="1", llm_ms="4.2E2"),
        turn_row("2026-03-01T09:00:00.000+00:00", "Where is the ferry?", "Ferry.1",
                 welcome=None, feedback=None, suggested=None)])  # before turns said these
    records = reader.turns("2026-03-01")
    assert clock.slept == [0.2, 0.4]
    assert not records.truncated
    assert records == [
        {"datetime": "2026-03-01T09:00:00.000+00:00", "sessionId": "s1",
         "utterance": "Where is the ferry?", "qid": "Ferry.1", "got_hits": 1,
         "answerSource": "qna", "latency_ms": 12.0, "llm_calls": 0, "llm_ms": 0.0,
         "welcome": None, "feedback": None, "suggested": None},
        {"datetime": "2026-03-02T10:00:00.000+00:00", "sessionId": "s1",
         "utterance": "Capital of Peru?", "qid": "", "got_hits": 0, "answerSource": "no_hits",
         "latency_ms": None, "llm_calls": 1, "llm_ms": 420.0, "welcome": False,
         "feedback": "", "suggested": ""}]


def test_a_failed_query_says_so_with_athenas_reason(athena):
    client, stubber = athena
    reader = make_reader(client)
    expect_start(stubber, reader.query("feedback", FEEDBACK_FIELDS, "2026-03-01"), "q-9")
    expect_states(stubber, "q-9", "RUNNING")
    expect_states(stubber, "q-9", "FAILED",
                  reason="TABLE_NOT_FOUND: line 1:60: Table 'qnabot_8d1c3f20.feedback' does "
                         "not exist")
    with pytest.raises(MetricsUnavailableError) as failed:
        reader.feedback("2026-03-01")
    assert "q-9" in str(failed.value) and "failed" in str(failed.value)
    assert "TABLE_NOT_FOUND" in str(failed.value)


def test_a_query_still_running_when_the_budget_ends_is_stopped_and_reported(athena):
    client, stubber = athena
    clock = Clock()
    reader = make_reader(client, clock, budget_s=2.0)
    expect_start(stubber, reader.query("metrics", TURN_FIELDS, "2026-03-01"))
    expect_states(stubber, "q-1", "RUNNING", "RUNNING", "RUNNING", "RUNNING")
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})
    with pytest.raises(MetricsUnavailableError, match="still running after 2 s"):
        reader.turns("2026-03-01")
    assert clock.now <= 2.0


def test_athena_refusing_the_query_is_reported_with_its_message(athena):
    client, stubber = athena
    stubber.add_client_error("start_query_execution", "InvalidRequestException",
                             "WorkGroup qnabot-metrics is disabled.")
    with pytest.raises(MetricsUnavailableError, match="InvalidRequestException: WorkGroup "
                                                      "qnabot-metrics is disabled"):
        make_reader(client).turns("2026-03-01")


def test_results_are_read_page_after_page_skipping_only_the_first_pages_header(athena):
    client, stubber = athena
    reader = make_reader(client)
    expect_start(stubber, reader.query("metrics", TURN_FIELDS, "2026-03-01"))
    expect_states(stubber, "q-1", "SUCCEEDED")
    rows = [turn_row(f"2026-03-02T10:00:0{9 - n}.000+00:00", f"question {n}") for n in range(5)]
    expect_results(stubber, "q-1", athena_columns("metrics", TURN_FIELDS), rows, page=2)
    records = reader.turns("2026-03-01")
    assert [r["utterance"] for r in records] == [f"question {n}" for n in reversed(range(5))]


def test_more_records_than_the_cap_keep_the_newest_and_say_truncated(athena):
    client, stubber = athena
    reader = make_reader(client, max_rows=2)
    sql = reader.query("metrics", TURN_FIELDS, "2026-03-01")
    assert sql.endswith("LIMIT 3")
    expect_start(stubber, sql)
    expect_states(stubber, "q-1", "SUCCEEDED")
    expect_results(stubber, "q-1", athena_columns("metrics", TURN_FIELDS), [
        turn_row("2026-03-02T12:00:00.000+00:00", "newest"),
        turn_row("2026-03-02T11:00:00.000+00:00", "middle"),
        turn_row("2026-03-02T10:00:00.000+00:00", "oldest")])
    records = reader.turns("2026-03-01")
    assert records.truncated and [r["utterance"] for r in records] == ["middle", "newest"]


def test_running_out_of_time_between_pages_keeps_the_newest_read_and_says_truncated(athena):
    client, stubber = athena
    clock = Clock()
    reader = make_reader(client, clock, budget_s=11.0)
    # each page takes 6 s: the second ends past the budget, so the third is not asked for
    client.meta.events.register("before-parameter-build.athena.GetQueryResults",
                                lambda **_: setattr(clock, "now", clock.now + 6))
    expect_start(stubber, reader.query("metrics", TURN_FIELDS, "2026-03-01"))
    expect_states(stubber, "q-1", "SUCCEEDED")
    rows = [turn_row(f"2026-03-02T10:00:0{9 - n}.000+00:00", f"question {n}") for n in range(5)]
    expect_results(stubber, "q-1", athena_columns("metrics", TURN_FIELDS), rows, page=2,
                   pages=2)
    records = reader.turns("2026-03-01")
    assert records.truncated
    assert [r["utterance"] for r in records] == ["question 2", "question 1", "question 0"]


def test_athena_text_becomes_the_types_the_records_held():
    assert convert("1", "integer") == 1 and convert("12345678901", "bigint") == 12345678901
    assert convert("1.0E7", "double") == 10_000_000.0 and convert("0.5", "float") == 0.5
    assert convert("true", "boolean") is True and convert("false", "boolean") is False
    assert convert('{"a": [1, 2]}', "json") == {"a": [1, 2]}
    assert convert("Thumbs up", "varchar") == "Thumbs up"
    assert convert(None, "double") is None and convert("", "varchar") == ""


# --- end to end: records from the fulfillment, through "Athena", into summarize --------------

class RecordingFirehose:
    """The Firehose client: keeps each record's bytes per delivery stream."""

    def __init__(self):
        self.data: dict[str, list[bytes]] = defaultdict(list)

    def put_record(self, DeliveryStreamName: str, Record: dict[str, bytes]) -> dict:  # noqa: N803
        self.data[DeliveryStreamName].append(Record["Data"])
        return {"RecordId": str(len(self.data[DeliveryStreamName]))}


class Both:
    """A sink writing to two sinks."""

    def __init__(self, *sinks):
        self.sinks = sinks

    def record_turn(self, record):
        for sink in self.sinks:
            sink.record_turn(record)

    def record_feedback(self, record):
        for sink in self.sinks:
            sink.record_feedback(record)


def run_like_athena(sql: str, delivered: dict[str, list[tuple[date, bytes]]]):
    """The reader's SQL over the records Firehose delivered, as Athena would answer it.

    Each table is the template's Glue table: the JSON SerDe reads each line into its columns
    (keys matched ignoring case; a key missing is NULL), the partition keys come from the
    ``year=/month=/day=`` prefix Firehose wrote the object under, and every value comes back as
    text. SQLite runs the SQL: the reader's subset (quoted identifiers, AND/OR, BETWEEN, a
    string comparison, ORDER BY, LIMIT) means the same in both.
    """
    db = sqlite3.connect(":memory:")
    db.execute(f"ATTACH DATABASE ':memory:' AS {quote(DATABASE)}")
    kinds: dict[str, dict[str, str]] = {}
    for table, (columns, keys) in glue_tables().items():
        names = [name for name, _ in columns] + list(keys)
        kinds[table] = dict(columns)
        db.execute(f"CREATE TABLE {quote(DATABASE)}.{quote(table)} "
                   f"({', '.join(quote(n) for n in names)})")
        for day, data in delivered.get(table, []):
            for line in data.decode().splitlines():
                record = {key.lower(): value for key, value in json.loads(line).items()}
                values = [record.get(name) for name, _ in columns] + [day.year, day.month,
                                                                      day.day]
                db.execute(f"INSERT INTO {quote(DATABASE)}.{quote(table)} VALUES "
                           f"({', '.join('?' * len(values))})", values)
    table = re.search(r'FROM "[^"]+"\."([^"]+)"', sql).group(1)
    cursor = db.execute(sql)
    columns = [(d[0], ATHENA_TYPES[kinds[table][d[0]]]) for d in cursor.description]

    def text(value: Any, kind: str) -> str | None:
        if value is None:
            return None
        if kind == "double":
            return repr(float(value))
        if kind == "boolean":
            return "true" if value else "false"
        return str(value)

    rows = [[text(v, kind) for v, (_, kind) in zip(row, columns, strict=True)] for row in cursor]
    return columns, rows


def scripted_turns() -> list[tuple[str, TurnResult]]:
    """(time, turn) pairs over two weeks: answered, unanswered, LLM answers, thumbs down."""
    def turn(text, source="qna", qid=None, session="s1", llm_ms=(), total=12.5, context=None,
             welcome=False):
        request = Request(session, text, session_attributes={"qnabotcontext": context or {}},
                          request_attributes={metrics.WELCOME_ATTRIBUTE: "true"} if welcome
                          else {})
        debug = TurnDebug(timings_ms={"total": total},
                          llm_calls=[LlmCall("qa", True, ms) for ms in llm_ms])
        return TurnResult(request, Answer(f"answer to {text}", source, qid=qid), debug)

    return [
        ("2026-02-20T09:00:00.000+00:00", turn("Where is the ferry?", qid="Ferry.1")),
        # delivered after midnight: in 02-24's partition, but before the window starts
        ("2026-02-23T23:59:59.950+00:00", turn("where is the FERRY", qid="Ferry.1")),
        ("2026-02-24T08:00:00.000+00:00", turn("Where's the ferry??", qid="Ferry.1")),
        ("2026-02-28T14:30:00.000+00:00",
         turn("Capital of Peru?", "no_hits", "CustomNoMatches", llm_ms=[420.0], total=450.0)),
        ("2026-03-01T07:14:00.000+00:00",  # the chat page opened: its welcome turn
         turn("Hello", qid="Hello.1", session="s2", welcome=True)),
        ("2026-03-01T07:15:00.000+00:00", turn("capital of peru", "no_hits", session="s2")),
        ("2026-03-01T07:16:00.000+00:00",
         turn("Is there wifi on the bus?", "knowledge_base", "Bus.Wifi", session="s2",
              llm_ms=[310.5, 898.0], total=1234.5)),
        ("2026-03-02T10:00:00.000+00:00",
         turn("Thumbs down", "qna", "Feedback.002", session="s2",
              context={"previous": {"qid": "Bus.Wifi", "q": "Is there wifi on the bus?"}})),
        ("2026-03-02T11:00:00.000+00:00", turn("¿Dónde está el ferry?", "kendra", session="s3")),
    ]


def test_summarize_over_athena_equals_summarize_over_the_local_reader_for_the_same_turns(
        athena, tmp_path, monkeypatch):
    client, stubber = athena
    firehose = RecordingFirehose()
    sqlite = SqliteMetricsSink(tmp_path / "metrics.sqlite")
    both = Both(FirehoseMetricsSink("qna-metrics", "qna-feedback", client=firehose), sqlite)
    delivered: dict[str, list[tuple[date, bytes]]] = defaultdict(list)
    for when, turn in scripted_turns():
        monkeypatch.setattr(metrics, "now_iso", lambda when=when: when)
        metrics.record_turn_metrics(turn, Settings.defaults(), both)
        arrival = (datetime.fromisoformat(when) + timedelta(seconds=1)).date()
        for stream, table in (("qna-metrics", "metrics"), ("qna-feedback", "feedback")):
            delivered[table] += [(arrival, data) for data in firehose.data.pop(stream, [])]
    assert len(delivered["metrics"]) == 9 and len(delivered["feedback"]) == 1

    reader = make_reader(client)
    since = (TODAY - timedelta(days=6)).isoformat()
    for n, (table, fields) in enumerate((("metrics", TURN_FIELDS),
                                         ("feedback", FEEDBACK_FIELDS))):
        sql = reader.query(table, fields, since)
        columns, rows = run_like_athena(sql, delivered)
        expect_start(stubber, sql, f"q-{n}")
        expect_states(stubber, f"q-{n}", "RUNNING", "SUCCEEDED")
        expect_results(stubber, f"q-{n}", columns, rows, page=2)

    turns, feedback = reader.turns(since), reader.feedback(since)
    local_turns, local_feedback = sqlite.turns(since), sqlite.feedback(since)
    # the same records, field for field (of those summarize reads), in the same order
    assert turns == [{f: r.get(f) for f in TURN_FIELDS} for r in local_turns]
    assert feedback == [{f: r.get(f) for f in FEEDBACK_FIELDS} for r in local_feedback]
    from_athena = summarize(turns, feedback, days=7, today=TODAY)
    assert from_athena == summarize(local_turns, local_feedback, days=7, today=TODAY)
    assert from_athena["totals"] == {"asked": 5, "answered": 3, "unanswered": 2,
                                     "answer_rate": 0.6, "sessions": 3, "opened": 1}
    # the turn of 02-23 delivered into 02-24's partition is outside the window, as locally
    assert [(q["question"], q["count"]) for q in from_athena["top_questions"]] == [
        ("Capital of Peru?", 2), ("¿Dónde está el ferry?", 1), ("Is there wifi on the bus?", 1),
        ("Where's the ferry??", 1)]
    assert from_athena["llm"] == {"calls": 3, "turns": 2, "median_ms": 1208.5,
                                  "p95_ms": 1208.5}
    assert from_athena["feedback"]["items"] == [{"qid": "Bus.Wifi", "up": 0, "down": 1}]


# --- the designer's Lambda ------------------------------------------------------------------

def lambda_event(path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    """A GET from a signed-in admin, as API Gateway passes it after the Cognito authorizer."""
    return {"httpMethod": "GET", "path": path, "headers": {}, "body": None,
            "queryStringParameters": query,
            "requestContext": {"authorizer": {"claims": {"cognito:username": "admin",
                                                         "cognito:groups": "Admins"}}},
            "isBase64Encoded": False}


@pytest.fixture
def designer_lambda(services, monkeypatch):
    """The Lambda handler over ``services`` (Cognito claims admit the caller)."""
    services.authorize = cognito_authorizer
    services.chat = None
    monkeypatch.setattr(lambda_function, "app", lambda: create_app(services))

    def call(path: str, **query: str) -> tuple[int, dict[str, Any]]:
        response = lambda_function.lambda_handler(lambda_event(path, query or None),
                                                  LocalLambdaContext())
        return response["statusCode"], json.loads(response["body"])
    return call


def test_the_designer_lambda_uses_athena_when_the_template_names_the_database(
        monkeypatch, tmp_path):
    monkeypatch.setenv("IMPORT_EXPORT_BUCKET", "qnabot-jobs-test")
    monkeypatch.setenv("QNABOT_STORE", "embedded")
    monkeypatch.setenv("EMBEDDINGS_API", "HASHING")
    monkeypatch.delenv("SETTINGS_TABLE", raising=False)
    monkeypatch.setattr(lambda_function, "LAMBDA_HOME", tmp_path / "lambda")
    monkeypatch.setenv("METRICS_ATHENA_DATABASE", DATABASE)
    monkeypatch.setenv("METRICS_ATHENA_WORKGROUP", WORKGROUP)
    lambda_function.services.cache_clear()
    try:
        reader = lambda_function.services().metrics
        assert isinstance(reader, AthenaMetricsReader)
        assert (reader.config.database, reader.config.workgroup) == (DATABASE, WORKGROUP)
        monkeypatch.delenv("METRICS_ATHENA_DATABASE")
        lambda_function.services.cache_clear()
        assert lambda_function.services().metrics is None
    finally:
        lambda_function.services.cache_clear()


def test_the_designer_lambda_answers_analytics_from_athena(athena, services, designer_lambda):
    client, stubber = athena
    today = datetime.now(UTC).date()
    reader = make_reader(client, today=today, max_rows=1)
    services.metrics = reader
    since = (today - timedelta(days=6)).isoformat()
    expect_start(stubber, reader.query("metrics", TURN_FIELDS, since), "q-turns")
    expect_states(stubber, "q-turns", "RUNNING", "SUCCEEDED")
    at = f"{today.isoformat()}T10:00:00.000+00:00"
    expect_results(stubber, "q-turns", athena_columns("metrics", TURN_FIELDS), [
        turn_row(at, "Is there wifi?", got_hits=0), turn_row(at, "Is there wifi?", got_hits=0)])
    expect_start(stubber, reader.query("feedback", FEEDBACK_FIELDS, since), "q-feedback")
    expect_states(stubber, "q-feedback", "SUCCEEDED")
    expect_results(stubber, "q-feedback", athena_columns("feedback", FEEDBACK_FIELDS),
                   [[at, "s1", "thumbs_up", "Bus.Wifi", "Is there wifi on the bus?"]])
    status, body = designer_lambda("/analytics", days="7")
    assert status == 200, body
    assert body["totals"]["unanswered"] == 1 and body["feedback"]["up"] == 1
    assert body["top_unanswered"][0]["question"] == "Is there wifi?"
    assert body["truncated"] is True  # one row kept of two: the page says so


def test_the_designer_lambda_answers_503_with_athenas_reason_when_the_query_fails(
        athena, services, designer_lambda):
    client, stubber = athena
    today = datetime.now(UTC).date()
    reader = make_reader(client, today=today)
    services.metrics = reader
    since = (today - timedelta(days=29)).isoformat()
    expect_start(stubber, reader.query("metrics", TURN_FIELDS, since))
    expect_states(stubber, "q-1", "FAILED",
                  reason="Access denied when writing output to url: s3://x/athena-results/")
    status, body = designer_lambda("/analytics")
    assert status == 503
    assert "failed: Access denied when writing output" in body["error"]


def test_without_a_metrics_reader_the_route_says_where_analytics_come_from(services,
                                                                          designer_lambda):
    services.metrics = None
    status, body = designer_lambda("/analytics")
    assert status == 404 and "METRICS_ATHENA_DATABASE" in body["error"]
