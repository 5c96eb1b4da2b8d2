"""Conversation memory: each user's recent chat history, in a users table.

The :class:`UserStore` port keeps one :class:`UserRecord` per user (SQLite under
``QNABOT_HOME/users.sqlite`` here, DynamoDB in AWS). The rules live above the port, in
:class:`Memory`, so every adapter behaves the same:

* history is bounded by ``LLM_CHAT_HISTORY_MAX_MESSAGES`` (oldest messages dropped first);
* a record expires ``USER_HISTORY_TTL_DAYS`` after the user was last seen (0: never);
* a new Lex session starts a fresh history (the record remembers its session id).

Example:
    >>> memory = Memory(InMemoryUserStore(), clock=lambda: 1000.0)
    >>> memory.record_turn("u1", "s1", "What is Lex?", "A bot service.", max_messages=12,
    ...                    ttl_days=3)
    >>> [m.role for m in memory.history("u1", "s1")]
    ['user', 'assistant']
    >>> memory.history("u1", "another-session")
    ()
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from knowledge.private_files import create_private

Role = Literal["user", "assistant"]
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class ChatMessage:
    """One message of the history."""

    role: Role
    text: str


@dataclass(frozen=True)
class UserRecord:
    """What the users table holds for one user.

    ``expires_at`` is epoch seconds (DynamoDB's TTL attribute); ``last_seen`` likewise.
    """

    user_id: str
    session_id: str
    messages: tuple[ChatMessage, ...] = ()
    interaction_count: int = 0
    last_seen: float = 0.0
    expires_at: int = 0


class UserStore(Protocol):
    """Port: one record per user id. Adapters only store and fetch; :class:`Memory` decides.

    An adapter must return exactly what was last ``put`` for a user id (or None), and may drop
    records whose ``expires_at`` has passed (DynamoDB TTL does so lazily, hence the check in
    :class:`Memory`).
    """

    def get(self, user_id: str) -> UserRecord | None:
        """The user's record, or None."""
        ...

    def put(self, record: UserRecord) -> None:
        """Create or replace the user's record."""
        ...


class InMemoryUserStore:
    """A dict-backed :class:`UserStore` for tests and one-off runs."""

    def __init__(self) -> None:
        self.records: dict[str, UserRecord] = {}

    def get(self, user_id: str) -> UserRecord | None:
        return self.records.get(user_id)

    def put(self, record: UserRecord) -> None:
        self.records[record.user_id] = record


def record_to_json(record: UserRecord) -> dict:
    """The record as JSON-ready data (the shape the SQLite and DynamoDB adapters store)."""
    return {
        "UserId": record.user_id,
        "SessionId": record.session_id,
        "chatMessageHistory": [{"role": m.role, "text": m.text} for m in record.messages],
        "InteractionCount": record.interaction_count,
        "LastSeen": record.last_seen,
        "TimeToLive": record.expires_at,
    }


def record_from_json(data: dict) -> UserRecord:
    """Inverse of :func:`record_to_json`; malformed messages are skipped."""
    messages = tuple(
        ChatMessage(m["role"], m["text"]) for m in data.get("chatMessageHistory") or ()
        if isinstance(m, dict) and m.get("role") in ("user", "assistant")
        and isinstance(m.get("text"), str)
    )
    return UserRecord(
        user_id=str(data["UserId"]),
        session_id=str(data.get("SessionId", "")),
        messages=messages,
        interaction_count=int(data.get("InteractionCount", 0)),
        last_seen=float(data.get("LastSeen", 0)),
        expires_at=int(data.get("TimeToLive", 0)),
    )


class SqliteUserStore:
    """The embedded users table: ``users.sqlite`` under ``QNABOT_HOME``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_private(self.path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Chat history may lose its last turn on a power cut, never be corrupted; skipping the
        # fsync per commit saves ~10 ms a turn.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, record TEXT NOT NULL,"
            " expires_at INTEGER NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS users_expiry ON users (expires_at)")
        self.purge_expired()  # what DynamoDB's TTL does in AWS, done when the table is opened

    def get(self, user_id: str) -> UserRecord | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM users WHERE user_id = ?",
                                   (user_id,)).fetchone()
        if row is None:
            return None
        try:
            return record_from_json(json.loads(row[0]))
        except (ValueError, KeyError, TypeError):
            return None  # a corrupt record is a fresh start, not a failed turn

    def put(self, record: UserRecord) -> None:
        data = json.dumps(record_to_json(record), ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT INTO users (user_id, record, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET record = excluded.record, "
                "expires_at = excluded.expires_at",
                (record.user_id, data, record.expires_at))

    def purge_expired(self, now: float | None = None) -> int:
        """Delete expired records (what DynamoDB TTL does in AWS); return how many."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM users WHERE expires_at > 0 AND expires_at < ?",
                                      (int(now if now is not None else time.time()),))
        return cursor.rowcount


class Memory:
    """The history rules over a :class:`UserStore`."""

    def __init__(self, store: UserStore, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock

    def _current(self, user_id: str, session_id: str) -> UserRecord | None:
        record = self.store.get(user_id)
        if record is None or record.session_id != session_id:
            return None
        if record.expires_at and record.expires_at < self.clock():
            return None
        return record

    def user(self, user_id: str) -> UserRecord | None:
        """The user's record (any session), unless expired: interaction count, last seen."""
        record = self.store.get(user_id)
        if record is None or (record.expires_at and record.expires_at < self.clock()):
            return None
        return record

    def history(self, user_id: str, session_id: str) -> tuple[ChatMessage, ...]:
        """The messages of this user's current session, oldest first (empty if none)."""
        record = self._current(user_id, session_id)
        return record.messages if record else ()

    def record_turn(self, user_id: str, session_id: str, question: str, answer: str, *,
                    max_messages: int, ttl_days: int) -> None:
        """Append a question and its answer, keep the last ``max_messages``, renew the expiry."""
        now = self.clock()
        previous = self.store.get(user_id)
        current = self._current(user_id, session_id)
        messages = (current.messages if current else ()) + (
            ChatMessage("user", question), ChatMessage("assistant", answer))
        messages = messages[-max_messages:] if max_messages > 0 else ()
        record = UserRecord(
            user_id=user_id,
            session_id=session_id,
            messages=messages,
            interaction_count=(previous.interaction_count if previous else 0) + 1,
            last_seen=now,
            expires_at=int(now + ttl_days * SECONDS_PER_DAY) if ttl_days > 0 else 0,
        )
        self.store.put(record)


def open_user_store(home: Path) -> UserStore:
    """The users table the environment asks for: ``USERS_TABLE`` in DynamoDB (adapter in
    ``fulfillment.memory_dynamodb``), else ``users.sqlite`` in ``home``."""
    import os

    table = os.environ.get("USERS_TABLE", "").strip()
    if table:
        from fulfillment.memory_dynamodb import DynamoDbUserStore  # type: ignore[import-not-found]

        return DynamoDbUserStore(table)
    return SqliteUserStore(home / "users.sqlite")
