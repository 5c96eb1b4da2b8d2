"""Chat history per user: bounded, per session, expiring, persistent in users.sqlite."""

from __future__ import annotations

from fulfillment.memory import ChatMessage, InMemoryUserStore, Memory, SqliteUserStore, UserRecord


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def record(memory, n, session="s1", max_messages=12, ttl_days=3):
    memory.record_turn("u1", session, f"question {n}", f"answer {n}",
                       max_messages=max_messages, ttl_days=ttl_days)


def test_history_keeps_only_the_most_recent_messages():
    memory = Memory(InMemoryUserStore())
    for n in range(5):
        record(memory, n, max_messages=4)
    assert [m.text for m in memory.history("u1", "s1")] == [
        "question 3", "answer 3", "question 4", "answer 4"]


def test_a_new_session_starts_a_fresh_history():
    memory = Memory(InMemoryUserStore())
    record(memory, 1, session="old")
    assert memory.history("u1", "new") == ()
    record(memory, 2, session="new")
    assert [m.text for m in memory.history("u1", "new")] == ["question 2", "answer 2"]


def test_history_expires_after_the_ttl_days():
    clock = Clock()
    memory = Memory(InMemoryUserStore(), clock=clock)
    record(memory, 1, ttl_days=3)
    clock.now += 3 * 86_400 - 1
    assert memory.history("u1", "s1")
    clock.now += 2
    assert memory.history("u1", "s1") == ()


def test_zero_history_messages_keeps_none():
    memory = Memory(InMemoryUserStore())
    record(memory, 1, max_messages=0)
    assert memory.history("u1", "s1") == ()


def test_the_sqlite_users_table_persists_across_processes(tmp_path):
    path = tmp_path / "users.sqlite"
    Memory(SqliteUserStore(path)).record_turn("u1", "s1", "Où est la gare ? 🚉", "Là-bas.",
                                             max_messages=12, ttl_days=3)
    reopened = Memory(SqliteUserStore(path))
    assert reopened.history("u1", "s1") == (ChatMessage("user", "Où est la gare ? 🚉"),
                                            ChatMessage("assistant", "Là-bas."))
    assert SqliteUserStore(path).get("u1").interaction_count == 1


def test_expired_records_can_be_purged_from_the_sqlite_table(tmp_path):
    users = SqliteUserStore(tmp_path / "users.sqlite")
    users.put(UserRecord("old", "s", expires_at=100))
    users.put(UserRecord("forever", "s", expires_at=0))
    assert users.purge_expired(now=200) == 1
    assert users.get("old") is None and users.get("forever") is not None


def test_a_corrupt_record_is_a_fresh_start(tmp_path):
    users = SqliteUserStore(tmp_path / "users.sqlite")
    users._db.execute("INSERT INTO users VALUES ('u1', '{broken', 0)")
    assert Memory(users).history("u1", "s1") == ()


def test_opening_the_sqlite_table_drops_expired_users(tmp_path):
    path = tmp_path / "users.sqlite"
    SqliteUserStore(path).put(UserRecord("old", "s", expires_at=100))
    assert SqliteUserStore(path).get("old") is None
