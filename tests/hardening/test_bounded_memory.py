"""Bounded memory on any input: hostile import files, request bodies and Lex events are
refused or reported item by item, and the peak memory of the process that read them stays
within a fixed bound however large or deep the input is (measured in a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from knowledge.importer import MAX_ITEM_CHARS, MAX_KEPT_PROBLEMS, MAX_LINE_BYTES
from knowledge.json_limits import MAX_JSON_DEPTH

ROOT = Path(__file__).resolve().parents[2]
#: Growth of peak memory allowed while reading any one hostile input.
BOUND_MB = 32

#: Helpers run in the child: its peak resident memory is reset (Linux: ``clear_refs``) just
#: before the input is read, so the growth measured is this input's, not an earlier peak's.
PEAK = textwrap.dedent("""
    import resource

    def _status_kib(field):
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def start_measuring():
        try:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")  # reset the peak (VmHWM) to the current use
        except OSError:
            pass
        return _status_kib("VmRSS")

    def peak_kib():
        return _status_kib("VmHWM")
""")

MEASURE = PEAK + textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    from knowledge.backends import open_knowledge_base
    from knowledge.importer import ImportFileError, import_files

    home, path, warm = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    kb = open_knowledge_base(home)
    import_files(kb, [warm])  # every lazy import and cache loaded before measuring
    before = start_measuring()
    try:
        report = import_files(kb, [path])
        outcome = {"report": report.to_json(), "omitted": report.omitted()}
    except ImportFileError as exc:
        outcome = {"error": str(exc)}
    peak = peak_kib()
    print(json.dumps({**outcome, "grown_mb": (peak - before) / 1024,
                      "count": kb.store.count()}))
""")


def measure_import(tmp_path: Path, path: Path) -> dict:
    """Import ``path`` in a fresh process; its outcome and how much its peak memory grew."""
    warm = tmp_path / "warm.jsonl"
    # A valid and an invalid item: the paths of both are loaded (validation's explanations
    # load jsonschema) before the measurement starts.
    warm.write_text(json.dumps({"qid": "Warm.1", "q": ["Warm?"], "a": "Yes."}) + "\n"
                    + json.dumps({"qid": "Warm.2", "q": [], "a": ""}) + "\n[[1]]\n", "utf-8")
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path / "home"), str(path), str(warm)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "EMBEDDINGS_API": "HASHING", "QNABOT_STORE": "embedded"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def item(qid: str, **fields) -> dict:
    return {"qid": qid, "q": [f"What is {qid}?"], "a": f"{qid} is fine.", **fields}


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def test_an_export_item_nested_50000_deep_is_reported_and_the_others_stored(tmp_path):
    good = json.dumps(item("Good.1"))
    path = write(tmp_path / "deep.json", '{"qna": [' + good + ', {"qid": "Deep.1", "x": '
                 + deep(50_000) + "}, " + json.dumps(item("Good.2")) + "]}")

    measured = measure_import(tmp_path, path)

    problems = measured["report"]["problems"]
    assert [(p["position"], p["field"]) for p in problems] == [(2, "item")]
    assert f"is nested more than {MAX_JSON_DEPTH} levels deep" in problems[0]["message"]
    assert measured["report"]["stored"] == 2 and measured["count"] == 3
    assert measured["grown_mb"] < BOUND_MB, measured["grown_mb"]


def test_an_export_nested_50000_deep_outside_its_items_is_refused_whole(tmp_path):
    path = write(tmp_path / "deep.json", '{"qna": [], "other": ' + deep(50_000) + "}")

    measured = measure_import(tmp_path, path)

    assert measured["error"].startswith(f"cannot import {path}: is nested more than")
    assert measured["count"] == 1 and measured["grown_mb"] < BOUND_MB


def test_a_json_lines_item_nested_50000_deep_is_reported_with_its_line(tmp_path):
    lines = [json.dumps(item("Good.1")), '{"qid": "Deep.1", "x": ' + deep(50_000) + "}",
             json.dumps(item("Good.2"))]
    path = write(tmp_path / "deep.jsonl", "\n".join(lines))

    measured = measure_import(tmp_path, path)

    [problem] = measured["report"]["problems"]
    assert (problem["line"], problem["position"]) == (2, 2)
    assert problem["message"] == f"the item is nested 50001 levels deep; the limit is {MAX_JSON_DEPTH}"
    assert measured["report"]["stored"] == 2 and measured["grown_mb"] < BOUND_MB


def test_200000_invalid_json_lines_keep_the_first_problems_and_count_them_all(tmp_path):
    path = tmp_path / "invalid.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(200_000):
            handle.write(f'{{"qid": "Bad {n}", "q": [], "a": ""}}\n')

    measured = measure_import(tmp_path, path)

    report = measured["report"]
    assert (report["read"], report["rejected"], report["stored"]) == (200_000, 200_000, 0)
    assert len(report["problems"]) == MAX_KEPT_PROBLEMS and report["problem_count"] == 600_000
    assert measured["omitted"].startswith(f"... and {600_000 - MAX_KEPT_PROBLEMS} more problems")
    assert measured["grown_mb"] < BOUND_MB, measured["grown_mb"]


def test_an_endless_json_lines_line_is_reported_unread(tmp_path):
    path = tmp_path / "long.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(item("Good.1")) + "\n")
        handle.write('{"qid": "Long.1", "x": "')
        for _ in range(3 * MAX_LINE_BYTES // 65536):
            handle.write("y" * 65536)
        handle.write('"}\n' + json.dumps(item("Good.2")) + "\n")

    measured = measure_import(tmp_path, path)

    [problem] = measured["report"]["problems"]
    assert problem["line"] == 2 and f"longer than {MAX_LINE_BYTES} bytes" in problem["message"]
    assert measured["report"]["stored"] == 2 and measured["grown_mb"] < BOUND_MB


def test_an_export_item_over_the_size_limit_is_reported_unbuilt(tmp_path):
    notes = ['"' + "n" * 60_000 + '"'] * (2 * MAX_ITEM_CHARS // 60_000)
    path = write(tmp_path / "big.json", '{"qna": [{"qid": "Big.1", "x_notes": ['
                 + ",".join(notes) + "]}, " + json.dumps(item("Good.1")) + "]}")

    measured = measure_import(tmp_path, path)

    [problem] = measured["report"]["problems"]
    assert f"holds more than {MAX_ITEM_CHARS} characters" in problem["message"]
    assert measured["report"]["stored"] == 1 and measured["grown_mb"] < BOUND_MB


MEASURE_API = PEAK + textwrap.dedent("""
    import json, resource, sys
    from content_designer.api import create_app
    from content_designer.auth import token_authorizer
    from content_designer.local_server import LocalApi, api_gateway_event
    from content_designer.services import open_services
    from pathlib import Path

    services = open_services(Path(sys.argv[1]), authorize=token_authorizer("t" * 32))
    api = LocalApi(create_app(services), services.authorize)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + "t" * 32}
    api(api_gateway_event("GET", "/info", headers, None))
    before = start_measuring()
    body = b'{"qid": "Deep.1", "x": ' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}"
    reply = api(api_gateway_event("PUT", "/items/Deep.1", headers, body))
    del body
    peak = peak_kib()
    services.jobs.shutdown()
    print(json.dumps({"status": reply["statusCode"], "body": reply["body"],
                      "grown_mb": (peak - before) / 1024}))
""")


def test_a_request_body_nested_a_million_deep_is_refused_in_bounded_memory(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", MEASURE_API, str(tmp_path / "home")], cwd=ROOT,
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "EMBEDDINGS_API": "HASHING", "QNABOT_STORE": "embedded"})
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    print("grown_mb", round(measured["grown_mb"], 1))
    assert measured["status"] == 400
    assert "nested 1000001 levels deep" in json.loads(measured["body"])["error"]
    assert measured["grown_mb"] < BOUND_MB, measured["grown_mb"]


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 40_000])
def test_a_deep_json_session_attribute_stays_an_unparsed_string(levels):
    from fulfillment.lex_event import parse_attribute_values

    value = '{"a": ' + deep(levels) + "}"
    assert parse_attribute_values({"appContext": value}) == {"appContext": value}
