"""Imports, edits and chat turns at the same time, as ``qnabot serve`` runs them: the bot, the
admin API and the job runner each with their own store on one file. No item is lost, and no
reader ever sees half of a write: every item served is one version of it, whole.

Each writer's item carries its version in every field (questions, answer, markdown, card,
topic), so a half-written item shows as two versions in one answer. The threads run a fixed
amount of work and the readers stop when the writers are done: nothing here is timed.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

from fulfillment.model import Request
from knowledge.embeddings.hashing import HashingEmbeddings
from knowledge.importer import import_files
from knowledge.items import parse_item
from knowledge.knowledge_base import KnowledgeBase
from knowledge.settings import Settings
from knowledge.store import SearchField
from knowledge.stores.sqlite_store import SqliteStore
from tests.hardening.conftest import make_pipeline

IMPORT_ROUNDS = 6
IMPORT_ITEMS = 200
SHARED = 8  # items every import rewrites
EDITS = 30
READER_TURNS_MAX = 5000  # a bound, in case the writers never finish
JOIN_S = 120

_VERSION = re.compile(r"\bv(\d+)\b")


def shared_item(n: int, version: int) -> dict:
    return {"qid": f"Shared.{n}", "t": f"v{version}",
            "q": [f"Which version is shared item {n} at? v{version}",
                  f"Tell me the shared item {n} version v{version}"],
            "a": f"Shared item {n} is at v{version}.",
            "alt": {"markdown": f"Shared item {n} is at **v{version}**."},
            "r": {"title": f"Shared {n} v{version}", "buttons": [
                {"text": f"Again v{version}", "value": f"shared item {n}"}]}}


def versions(*texts: str) -> set[int]:
    return {int(v) for text in texts for v in _VERSION.findall(text)}


def whole(item) -> bool:
    """True when every field of the item carries one and the same version."""
    card = item.card
    return len(versions(*item.questions, item.answer, item.markdown, item.topic,
                        card.title if card else "")) == 1


def open_kb(path: Path) -> KnowledgeBase:
    """Another component's knowledge base on the same file (its own store, as in serve)."""
    return KnowledgeBase(SqliteStore(path), HashingEmbeddings(64))


def test_imports_edits_and_turns_at_once_lose_nothing_and_serve_only_whole_items(tmp_path):
    path = tmp_path / "knowledge.sqlite"
    job_runner, admin_api, bot = open_kb(path), open_kb(path), open_kb(path)
    job_runner.put_items([parse_item(shared_item(n, 0)) for n in range(SHARED)])
    turns = make_pipeline(bot)
    settings = Settings.defaults()
    errors: list[str] = []
    served: list[str] = []
    writers_done = threading.Event()
    start = threading.Barrier(5)

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                start.wait(JOIN_S)
                work()
            except BaseException as exc:  # reported by the test
                errors.append(f"{threading.current_thread().name}: {type(exc).__name__}: {exc}")
        return run

    def imports() -> None:
        for round_number in range(1, IMPORT_ROUNDS + 1):
            file = tmp_path / f"import-{round_number}.jsonl"
            lines = [shared_item(n, round_number) for n in range(SHARED)]
            lines += [{"qid": f"Imp.{round_number}.{n:03d}", "q": [f"Imported question {n} "
                       f"of round {round_number}"], "a": f"Imported answer {n}."}
                      for n in range(IMPORT_ITEMS)]
            file.write_text("\n".join(json.dumps(line) for line in lines), "utf-8")
            report = import_files(job_runner, [file])
            assert report.stored == SHARED + IMPORT_ITEMS and report.rejected == 0

    def edits() -> None:
        for number in range(1, EDITS + 1):
            admin_api.put_items([parse_item({
                "qid": f"Edit.{number % 5}", "q": [f"What does edit {number % 5} say? v{number}"],
                "a": f"Edit {number % 5} says v{number}.", "t": f"v{number}"})])

    def chat(name: str) -> Callable[[], None]:
        def run() -> None:
            for turn_number in range(READER_TURNS_MAX):
                if writers_done.is_set():
                    return
                n = turn_number % SHARED
                turn = turns.run(Request(f"{name}-{turn_number}",
                                         f"Which version is shared item {n} at?"), settings)
                answer = turn.answer
                assert answer.source != "error", turn.debug.degraded
                if answer.qid and answer.qid.startswith("Shared."):
                    card = answer.card
                    shown = versions(answer.text, answer.markdown, card.title if card else "",
                                     *(b.text for b in (card.buttons if card else ())))
                    assert len(shown) == 1, f"half-written answer: {answer}"
                    served.append(answer.qid)
        return run

    def read() -> None:
        for read_number in range(READER_TURNS_MAX):
            if writers_done.is_set():
                return
            for item in bot.store.get_many([f"Shared.{n}" for n in range(SHARED)]).values():
                assert whole(item), f"half-written item: {item.to_json()}"
            question = f"Tell me the shared item {read_number % SHARED} version"
            vector = bot.embeddings.embed([question])[0]
            for match in bot.store.search(SearchField.QUESTIONS, vector=vector, text=question,
                                          k=10):
                item = bot.store.get(match.qid)
                if item is not None and match.qid.startswith("Shared."):
                    # the question matched and the item read may be of two commits, but
                    # each must be one version throughout
                    assert whole(item) and len(versions(match.matched_text)) == 1

    threads = [threading.Thread(target=guarded(imports), name="importer"),
               threading.Thread(target=guarded(edits), name="editor"),
               threading.Thread(target=guarded(chat("chat-a")), name="chat-a"),
               threading.Thread(target=guarded(chat("chat-b")), name="chat-b"),
               threading.Thread(target=guarded(read), name="reader")]
    for thread in threads:
        thread.start()
    for thread in threads[:2]:
        thread.join(JOIN_S)
    writers_done.set()
    for thread in threads:
        thread.join(JOIN_S)

    assert not [t.name for t in threads if t.is_alive()], "a thread is stuck"
    assert errors == []
    assert served, "no shared item was answered while the writers ran"
    final = open_kb(path)
    expected = {f"Shared.{n}" for n in range(SHARED)} | {f"Edit.{n}" for n in range(5)} | {
        f"Imp.{r}.{n:03d}" for r in range(1, IMPORT_ROUNDS + 1) for n in range(IMPORT_ITEMS)}
    assert {item.qid for item in final.store.iter_items()} == expected
    assert all(final.store.get(f"Shared.{n}").topic == f"v{IMPORT_ROUNDS}" for n in range(SHARED))
    last_edit = {number % 5: number for number in range(1, EDITS + 1)}
    assert [final.store.get(f"Edit.{n}").answer for n in range(5)] == [
        f"Edit {n} says v{last_edit[n]}." for n in range(5)]
    for kb in (job_runner, admin_api, bot, final):
        kb.store.close()
