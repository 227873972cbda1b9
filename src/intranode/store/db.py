"""The one SQLite connection of a daemon, in WAL mode, and its schema.

Every write goes through :meth:`Database.transaction`, so an accepted change is committed
before the API answers; a daemon killed with SIGKILL restarts with every accepted change.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from intranode.errors import StoreError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    parent TEXT NOT NULL,
    data TEXT NOT NULL,
    revision INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS resources_parent ON resources (kind, parent, key);
CREATE TABLE IF NOT EXISTS log_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    insert_id TEXT NOT NULL,
    log_name TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    receive_ns INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    resource_type TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_entries_name_ts ON log_entries (log_name, ts_ns, insert_id);
CREATE INDEX IF NOT EXISTS log_entries_ts ON log_entries (ts_ns, insert_id);
CREATE UNIQUE INDEX IF NOT EXISTS log_entries_insert_id ON log_entries (log_name, insert_id);
CREATE TABLE IF NOT EXISTS ledger (
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    netns TEXT NOT NULL,
    owner TEXT NOT NULL,
    data TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (kind, netns, name)
);
"""


class Database:
    """A serialised SQLite connection: one writer at a time, readers see committed state."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=30
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SCHEMA)
            self._conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', '0')")
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the state database {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested calls join the outer one."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if outer:
                    try:
                        self._conn.execute("COMMIT")
                    except sqlite3.Error as exc:
                        self._conn.execute("ROLLBACK")
                        raise StoreError(f"commit failed: {exc}") from exc

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def next_revision(self, conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'revision' "
            "RETURNING value"
        ).fetchone()
        return int(row[0])

    def current_revision(self) -> int:
        with self.reading() as conn:
            return int(conn.execute("SELECT value FROM meta WHERE name='revision'").fetchone()[0])

    def get_meta(self, name: str) -> str | None:
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
