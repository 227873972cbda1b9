"""Log entries: the whole entry as JSON, and indexed columns for what filters narrow on.

On top of ``log_entries`` (schema in :mod:`.db`) this module adds, idempotently at start:

* the flow-log 5-tuple columns of :data:`~intranode.domain.logquery.compile_sql.INDEXED_FIELDS`
  with partial indexes (only flow-log rows carry them, so other writes pay nothing);
* a catalog of distinct log names and resource types, kept as entries are written, which the
  filter compiler evaluates exactly (``logName``, ``log_id()``, ``resource.type``).

Rows are ordered by ``(ts_ns, insert_id, seq)``; pages continue after a row key (keyset
paging), so an entry written meanwhile never shifts a page.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from intranode.domain.logquery.compile_sql import COL_LOG_NAME, INDEXED_FIELDS, Catalog, Sql
from intranode.domain.logquery.entry import StoredEntry
from intranode.errors import StoreError
from intranode.store.db import Database

Order = Literal["asc", "desc"]
MAX_NAMES_LISTED = 500
RowKey = tuple[int, str, int]  # (ts_ns, insert_id, seq)

_COLUMNS = ", ".join(f.column for f in INDEXED_FIELDS)
_INSERT = (
    "INSERT OR IGNORE INTO log_entries (insert_id, log_name, ts_ns, receive_ns, severity, "
    f"resource_type, entry, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?"
    + ", ?" * len(INDEXED_FIELDS)
    + ")"
)
_EXTRA_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_catalog_names (log_name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_catalog_types (resource_type TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS log_entries_flow ON log_entries (src_ip, dest_ip, ts_ns, insert_id)
    WHERE src_ip IS NOT NULL;
DROP INDEX IF EXISTS log_entries_flow_dest;
"""
# Planner statistics for the log table, written instead of measured: ANALYZE would scan the
# whole table, and without statistics SQLite walks a log in timestamp order rather than use the
# flow index for ``src_ip = ? AND dest_ip = ?``. They describe the shape every daemon's table
# has: many entries per log and per second, few per connection.
_PLANNER_STATS = (
    ("log_entries", None, "1000000"),
    ("log_entries", "log_entries_name_ts", "1000000 100000 2 1"),
    ("log_entries", "log_entries_ts", "1000000 2 1"),
    ("log_entries", "log_entries_insert_id", "1000000 100000 1"),
    ("log_entries", "log_entries_flow", "1000000 1000 20 2 1"),
)


@dataclass(frozen=True)
class LogRow:
    seq: int
    ts_ns: int
    insert_id: str
    entry_json: str

    @property
    def key(self) -> RowKey:
        return (self.ts_ns, self.insert_id, self.seq)


class LogStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        try:
            with db.transaction() as conn:
                have = {row[1] for row in conn.execute("PRAGMA table_info(log_entries)")}
                for f in INDEXED_FIELDS:
                    if f.column not in have:
                        affinity = "REAL" if f.numeric else "TEXT"
                        conn.execute(f"ALTER TABLE log_entries ADD COLUMN {f.column} {affinity}")
                for statement in _EXTRA_SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("ANALYZE sqlite_schema")  # creates sqlite_stat1 when missing
                conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'log_entries'")
                conn.executemany("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", _PLANNER_STATS)
                conn.execute("ANALYZE sqlite_schema")  # loads them
                # Entries written before the catalog existed.
                conn.execute(
                    "INSERT OR IGNORE INTO log_catalog_names SELECT DISTINCT log_name "
                    "FROM log_entries"
                )
                conn.execute(
                    "INSERT OR IGNORE INTO log_catalog_types SELECT DISTINCT resource_type "
                    "FROM log_entries"
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot prepare the log tables: {exc}") from exc

    # -- writes ---------------------------------------------------------------------------
    def insert(self, entries: Sequence[StoredEntry]) -> int:
        """Store entries in one transaction; an entry whose ``(logName, insertId)`` is stored
        already is skipped (Logging de-duplicates on insertId). Returns how many were new."""
        if not entries:
            return 0
        rows = [
            (
                e.insert_id,
                e.log_name,
                e.timestamp_ns,
                e.receive_ns,
                e.severity,
                e.resource_type,
                e.json,
                *e.columns,
            )
            for e in entries
        ]
        names = {(e.log_name,) for e in entries}
        types = {(e.resource_type,) for e in entries}
        try:
            with self.db.transaction() as conn:
                before = conn.total_changes
                conn.executemany(_INSERT, rows)
                added = conn.total_changes - before
                conn.executemany("INSERT OR IGNORE INTO log_catalog_names VALUES (?)", names)
                conn.executemany("INSERT OR IGNORE INTO log_catalog_types VALUES (?)", types)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot store log entries: {exc}") from exc
        return added

    def delete_log(self, log_name: str) -> int:
        """Delete every entry of one log; returns how many there were."""
        try:
            with self.db.transaction() as conn:
                gone = conn.execute("DELETE FROM log_entries WHERE log_name = ?", (log_name,))
                conn.execute("DELETE FROM log_catalog_names WHERE log_name = ?", (log_name,))
                return gone.rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"cannot delete log {log_name}: {exc}") from exc

    # -- reads ----------------------------------------------------------------------------
    def catalog(self) -> Catalog:
        with self.db.reading() as conn:
            names = conn.execute("SELECT log_name FROM log_catalog_names ORDER BY 1").fetchall()
            types = conn.execute(
                "SELECT resource_type FROM log_catalog_types ORDER BY 1"
            ).fetchall()
        return Catalog(tuple(r[0] for r in names), tuple(r[0] for r in types))

    def scan(
        self,
        parents: Sequence[str],
        log_names: Sequence[str],
        where: Sql,
        order: Order,
        after: RowKey | None,
        limit: int,
    ) -> list[LogRow]:
        """Up to ``limit`` rows of the logs under ``parents`` (``projects/P``...) matching
        ``where``, in ``order`` of ``(timestamp, insertId)``, strictly after the row key
        ``after``. ``log_names`` are the catalog's logs under those parents: a short list is
        the fastest way in (the name index), a long one is replaced by name ranges."""
        if not log_names:
            return []
        direction = "ASC" if order == "asc" else "DESC"
        sql = ["SELECT seq, ts_ns, insert_id, entry FROM log_entries"]
        params: list[object] = []
        if len(log_names) <= MAX_NAMES_LISTED:
            sql.append(f"WHERE {COL_LOG_NAME} IN ({', '.join('?' * len(log_names))})")
            params.extend(log_names)
        else:
            # '/' + 1 is '0': every name starting "<parent>/logs/" sorts in this range.
            ranges = " OR ".join(f"({COL_LOG_NAME} >= ? AND {COL_LOG_NAME} < ?)" for _ in parents)
            sql.append(f"WHERE ({ranges})")
            for parent in parents:
                params.extend((f"{parent}/logs/", f"{parent}/logs0"))
        if where.text != "1":
            sql.append(f"AND {where.text}")
            params.extend(where.params)
        if after is not None:
            sql.append(f"AND (ts_ns, insert_id, seq) {'>' if order == 'asc' else '<'} (?, ?, ?)")
            params.extend(after)
        sql.append(f"ORDER BY ts_ns {direction}, insert_id {direction}, seq {direction} LIMIT ?")
        params.append(limit)
        try:
            with self.db.reading() as conn:
                rows = conn.execute(" ".join(sql), params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read log entries: {exc}") from exc
        return [LogRow(r[0], r[1], r[2], r[3]) for r in rows]
