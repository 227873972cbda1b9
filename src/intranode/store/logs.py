"""Log entries in one table per UTC day, so retention drops whole tables instead of deleting rows.

Each day bucket ``log_entries_YYYYMMDD`` holds the entries whose ``timestamp`` falls on that day:
the whole entry as JSON, and indexed columns for what filters narrow on:

* ``(log_name, ts_ns, insert_id)``, unique: a log in time order, and Logging's de-duplication
  (an entry with the logName, timestamp and insertId of a stored one is skipped);
* ``(ts_ns, insert_id)``: every log in time order;
* the flow-log 5-tuple columns of :data:`~intranode.domain.logquery.compile_sql.INDEXED_FIELDS`,
  and a partial index ``(src_ip, dest_ip, ts_ns, insert_id)`` over the rows that have them
  (flow logs) for the guide's filter. It is the costliest index to keep (each new row lands
  next to its connection's, anywhere in it); ``log_name`` is left out of it, which costs the
  guide's filter a row lookup per candidate and saves a fifth of the store's write time.

A catalog of the log names and resource types each day holds, kept as entries are written,
lets the filter compiler evaluate ``logName``, ``log_id()`` and ``resource.type`` exactly, and
lets a read skip the days that hold none of the logs it reads. A read visits only the days the
filter's timestamp bounds allow, in order, and stops once it has its rows. Rows are ordered by
``(ts_ns, insert_id, seq)``; a page continues after a row key (keyset paging), so an entry
written meanwhile never shifts a page. ``seq`` is unique over all days, in write order.

:meth:`LogStore.prune` drops the days older than the retention (default 30 days). A database
written before the buckets existed has its single ``log_entries`` table moved into them on
open. For code that reads SQL directly, each connection also gets a temporary view
``log_entries`` over every day (it hides the empty table :mod:`.db` creates).
"""

from __future__ import annotations

import datetime
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from intranode.domain.logquery.compile_sql import (
    COL_LOG_NAME,
    INDEXED_FIELDS,
    Catalog,
    Sql,
    index_values,
)
from intranode.domain.logquery.entry import StoredEntry
from intranode.errors import StoreError
from intranode.store.db import Database

Order = Literal["asc", "desc"]
MAX_NAMES_LISTED = 500
RowKey = tuple[int, str, int]  # (ts_ns, insert_id, seq)
Row = tuple[Any, ...]  # a bucket row, in _COLUMNS order

DAY_NS = 86_400 * 1_000_000_000
DEFAULT_RETENTION_DAYS = 30
PRUNE_EVERY_SECONDS = 3600.0
# SQLite's page cache for the connection, in KiB (its default is 2 MB). New rows land in the
# flow index next to their connection's earlier ones, a page per connection written to; with
# the default cache those pages are read back from the file at every commit.
CACHE_KIB = 64 * 1024
_EPOCH = datetime.date(1970, 1, 1)
_PREFIX = "log_entries_"
_BUCKET_NAME = re.compile(r"log_entries_(\d{8})")
_LEGACY = "log_entries"
# SQLite refuses a compound SELECT of more than 500 terms; the view nests groups of these.
_VIEW_GROUP = 400

_INDEXED = tuple(f.column for f in INDEXED_FIELDS)
_COLUMNS = (
    "seq",
    "insert_id",
    "log_name",
    "ts_ns",
    "receive_ns",
    "severity",
    "resource_type",
    "entry",
    *_INDEXED,
)
_COLUMN_LIST = ", ".join(_COLUMNS)
_CATALOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_bucket_names (
    day INTEGER NOT NULL, log_name TEXT NOT NULL, PRIMARY KEY (day, log_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_bucket_types (
    day INTEGER NOT NULL, resource_type TEXT NOT NULL, PRIMARY KEY (day, resource_type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""


def day_of(ts_ns: int) -> int:
    """The UTC day (days since 1970-01-01) of a timestamp in nanoseconds."""
    return ts_ns // DAY_NS


def bucket_table(day: int) -> str:
    return _PREFIX + (_EPOCH + datetime.timedelta(days=day)).strftime("%Y%m%d")


def _bucket_day(table: str) -> int | None:
    m = _BUCKET_NAME.fullmatch(table)
    if m is None:
        return None
    try:
        date = datetime.datetime.strptime(m.group(1), "%Y%m%d").date()
    except ValueError:
        return None
    return (date - _EPOCH).days


def _bucket_schema(table: str) -> list[str]:
    indexed = ", ".join(f"{f.column} {'REAL' if f.numeric else 'TEXT'}" for f in INDEXED_FIELDS)
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (seq INTEGER PRIMARY KEY, insert_id TEXT NOT NULL, "
        "log_name TEXT NOT NULL, ts_ns INTEGER NOT NULL, receive_ns INTEGER NOT NULL, "
        "severity INTEGER NOT NULL, resource_type TEXT NOT NULL, entry TEXT NOT NULL, "
        f"{indexed})",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_name ON {table} (log_name, ts_ns, insert_id)",
        f"CREATE INDEX IF NOT EXISTS {table}_ts ON {table} (ts_ns, insert_id)",
        f"CREATE INDEX IF NOT EXISTS {table}_flow ON {table} "
        "(src_ip, dest_ip, ts_ns, insert_id) WHERE src_ip IS NOT NULL",
    ]


def _planner_stats(table: str) -> list[tuple[str, str | None, str]]:
    """Planner statistics for a bucket, written instead of measured: ANALYZE would read the
    whole table, and without statistics SQLite walks a log in timestamp order rather than use
    the flow index for ``src_ip = ? AND dest_ip = ?``. They describe the shape every bucket
    has: many entries per log and per second, few per connection."""
    return [
        (table, None, "1000000"),
        (table, f"{table}_name", "1000000 100000 2 1"),
        (table, f"{table}_ts", "1000000 2 1"),
        (table, f"{table}_flow", "1000000 1000 20 2 1"),
    ]


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
    """The log entries of a daemon. Every method runs in the database's lock. The list of day
    buckets is cached and checked against SQLite's schema version before use, so a bucket
    made by another connection, or one whose making was rolled back, cannot mislead it; the
    next ``seq`` is a row of ``log_state``, so it is transactional too."""

    def __init__(self, db: Database, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        if retention_days < 1:
            raise ValueError(f"log retention must be at least 1 day, not {retention_days}")
        self.db = db
        self.retention_days = retention_days
        self._days: list[int] = []  # the buckets, ascending
        self._schema_version = -1
        self._pruned_at: float | None = None
        try:
            with db.reading() as conn:
                conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            with db.transaction() as conn:
                for statement in _CATALOG_SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("ANALYZE sqlite_schema")  # creates sqlite_stat1 when missing
                self._load(conn)
                self._migrate_single_table(conn)
                conn.execute(
                    "INSERT INTO log_state VALUES ('next_seq', ?) ON CONFLICT (name) "
                    "DO UPDATE SET value = max(value, excluded.value)",
                    (self._max_seq(conn) + 1,),
                )
                for day in self._days:
                    self._write_stats(conn, bucket_table(day))
                conn.execute("ANALYZE sqlite_schema")  # loads them
        except sqlite3.Error as exc:
            raise StoreError(f"cannot prepare the log tables: {exc}") from exc

    # -- writes ---------------------------------------------------------------------------
    def insert(self, entries: Sequence[StoredEntry]) -> int:
        """Store entries in one transaction, each in its day's bucket; an entry whose
        ``(logName, timestamp, insertId)`` is stored already is skipped (Logging removes such
        duplicates). Returns how many were new."""
        if not entries:
            return 0
        try:
            with self.db.transaction() as conn:
                self._sync(conn)
                seq = conn.execute(
                    "UPDATE log_state SET value = value + ? WHERE name = 'next_seq' "
                    "RETURNING value - ?",
                    (len(entries), len(entries)),
                ).fetchone()[0]
                rows = [
                    (
                        seq + i,
                        e.insert_id,
                        e.log_name,
                        e.timestamp_ns,
                        e.receive_ns,
                        e.severity,
                        e.resource_type,
                        e.json,
                        *e.columns,
                    )
                    for i, e in enumerate(entries)
                ]
                return self._insert_rows(conn, rows)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot store log entries: {exc}") from exc

    def delete_log(self, log_name: str) -> int:
        """Delete every entry of one log; returns how many there were."""
        try:
            with self.db.transaction() as conn:
                self._sync(conn)
                days = [
                    r[0]
                    for r in conn.execute(
                        "SELECT day FROM log_bucket_names WHERE log_name = ?", (log_name,)
                    )
                ]
                gone = 0
                for day in days:
                    if day in self._days:
                        cursor = conn.execute(
                            f"DELETE FROM {bucket_table(day)} WHERE log_name = ?", (log_name,)
                        )
                        gone += cursor.rowcount
                conn.execute("DELETE FROM log_bucket_names WHERE log_name = ?", (log_name,))
                return gone
        except sqlite3.Error as exc:
            raise StoreError(f"cannot delete log {log_name}: {exc}") from exc

    def prune(self, now: float) -> list[str]:
        """Drop every bucket whose whole day is older than the retention at ``now`` (seconds
        since the epoch): an entry is kept at least ``retention_days`` days. Returns the
        tables dropped."""
        cutoff = int((now - self.retention_days * 86_400) // 86_400)
        try:
            with self.db.transaction() as conn:
                self._sync(conn)
                old = [d for d in self._days if d < cutoff]
                for day in old:
                    table = bucket_table(day)
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
                    conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = ?", (table,))
                conn.execute("DELETE FROM log_bucket_names WHERE day < ?", (cutoff,))
                conn.execute("DELETE FROM log_bucket_types WHERE day < ?", (cutoff,))
                if old:
                    self._days = [d for d in self._days if d >= cutoff]
                    self._after_schema_change(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot drop old log entries: {exc}") from exc
        self._pruned_at = now
        return [bucket_table(d) for d in old]

    def prune_if_due(self, now: float) -> list[str]:
        """:meth:`prune`, at most once an hour of ``now`` (the write path calls this)."""
        last = self._pruned_at
        if last is not None and abs(now - last) < PRUNE_EVERY_SECONDS:
            return []
        return self.prune(now)

    # -- reads ----------------------------------------------------------------------------
    def catalog(self) -> Catalog:
        with self.db.reading() as conn:
            names = conn.execute("SELECT DISTINCT log_name FROM log_bucket_names ORDER BY 1")
            log_names = tuple(r[0] for r in names)
            types = conn.execute(
                "SELECT DISTINCT resource_type FROM log_bucket_types ORDER BY 1"
            ).fetchall()
        return Catalog(log_names, tuple(r[0] for r in types))

    def buckets(self) -> list[str]:
        """The day tables, oldest first."""
        with self.db.reading() as conn:
            self._sync(conn)
            return [bucket_table(d) for d in self._days]

    def scan(
        self,
        parents: Sequence[str],
        log_names: Sequence[str],
        where: Sql,
        order: Order,
        after: RowKey | None,
        limit: int,
        *,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> list[LogRow]:
        """Up to ``limit`` rows of the logs under ``parents`` (``projects/P``...) matching
        ``where``, in ``order`` of ``(timestamp, insertId)``, strictly after the row key
        ``after``. ``log_names`` are the catalog's logs under those parents: a short list is
        the fastest way in (the name index), a long one is replaced by name ranges. Only the
        days between ``since_ns`` and ``until_ns`` (the filter's own timestamp bounds: rows
        outside them cannot match) are read."""
        if not log_names or limit <= 0 or where.text == "0":
            return []
        lo = None if since_ns is None else day_of(since_ns)
        hi = None if until_ns is None else day_of(until_ns)
        if after is not None:
            if order == "asc":
                lo = max(lo, day_of(after[0])) if lo is not None else day_of(after[0])
            else:
                hi = min(hi, day_of(after[0])) if hi is not None else day_of(after[0])
        wanted = set(log_names)
        out: list[LogRow] = []
        try:
            with self.db.reading() as conn:
                self._sync(conn)
                days = [
                    d for d in self._days if (lo is None or d >= lo) and (hi is None or d <= hi)
                ]
                if not days:
                    return []
                held = self._names_by_day(conn, days[0], days[-1])
                for day in days if order == "asc" else reversed(days):
                    names = sorted(wanted & held.get(day, set()))
                    if not names:
                        continue
                    here = after if after is not None and day == day_of(after[0]) else None
                    sql, params = _bucket_query(
                        bucket_table(day), parents, names, where, order, here, limit - len(out)
                    )
                    rows = conn.execute(sql, params).fetchall()
                    rows.sort(key=lambda r: (r[1], r[2], r[0]), reverse=order == "desc")
                    out.extend(LogRow(r[0], r[1], r[2], r[3]) for r in rows)
                    if len(out) >= limit:
                        break
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read log entries: {exc}") from exc
        return out

    # -- buckets --------------------------------------------------------------------------
    def _sync(self, conn: sqlite3.Connection) -> None:
        """Reload the bucket list if another connection (or a rollback) changed the schema."""
        schema = conn.execute("PRAGMA schema_version").fetchone()[0]
        if schema != self._schema_version:
            self._load(conn)

    def _load(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB ?",
            (_PREFIX + "[0-9]*",),
        )
        self._days = sorted(d for (name,) in rows if (d := _bucket_day(name)) is not None)
        self._after_schema_change(conn)

    def _after_schema_change(self, conn: sqlite3.Connection) -> None:
        self._create_view(conn)
        self._schema_version = conn.execute("PRAGMA schema_version").fetchone()[0]

    def _max_seq(self, conn: sqlite3.Connection) -> int:
        top = 0
        for day in self._days:
            row = conn.execute(f"SELECT max(seq) FROM {bucket_table(day)}").fetchone()
            top = max(top, row[0] or 0)
        return top

    def _insert_sql(self, conn: sqlite3.Connection, day: int) -> str:
        table = bucket_table(day)
        if day not in self._days:
            for statement in _bucket_schema(table):
                conn.execute(statement)
            self._write_stats(conn, table)
            conn.execute("ANALYZE sqlite_schema")  # loads the statistics
            self._days = sorted([*self._days, day])
            self._after_schema_change(conn)
        marks = ", ".join("?" * len(_COLUMNS))
        return f"INSERT OR IGNORE INTO {table} ({_COLUMN_LIST}) VALUES ({marks})"

    @staticmethod
    def _write_stats(conn: sqlite3.Connection, table: str) -> None:
        conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = ?", (table,))
        conn.executemany("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", _planner_stats(table))

    def _create_view(self, conn: sqlite3.Connection) -> None:
        """``temp.log_entries``: every bucket as one table, for code reading SQL directly."""
        selects = [f"SELECT {_COLUMN_LIST} FROM main.{bucket_table(d)}" for d in self._days]
        if not selects:
            body = "SELECT " + ", ".join(f"NULL AS {c}" for c in _COLUMNS) + " WHERE 0"
        else:
            groups = [
                " UNION ALL ".join(selects[i : i + _VIEW_GROUP])
                for i in range(0, len(selects), _VIEW_GROUP)
            ]
            body = " UNION ALL ".join(f"SELECT * FROM ({g})" for g in groups)
        conn.execute("DROP VIEW IF EXISTS temp.log_entries")
        conn.execute(f"CREATE TEMP VIEW log_entries AS {body}")

    @staticmethod
    def _names_by_day(conn: sqlite3.Connection, first: int, last: int) -> dict[int, set[str]]:
        held: dict[int, set[str]] = {}
        rows = conn.execute(
            "SELECT day, log_name FROM log_bucket_names WHERE day BETWEEN ? AND ?", (first, last)
        )
        for day, name in rows:
            held.setdefault(day, set()).add(name)
        return held

    # -- the single table of older versions ----------------------------------------------
    def _migrate_single_table(self, conn: sqlite3.Connection) -> None:
        """Move the entries of the single ``log_entries`` table (written before the day
        buckets) into buckets, keeping their ``seq``; the indexed columns are computed again
        from each entry, so rows written before a column existed are indexed too."""
        legacy = conn.execute(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (_LEGACY,)
        ).fetchone()
        if legacy is None:
            return
        moved = False
        last = -1
        while True:
            chunk = conn.execute(
                "SELECT seq, insert_id, log_name, ts_ns, receive_ns, severity, resource_type, "
                f"entry FROM main.{_LEGACY} WHERE seq > ? ORDER BY seq LIMIT 10000",
                (last,),
            ).fetchall()
            if not chunk:
                break
            moved = True
            last = chunk[-1][0]
            self._insert_rows(conn, (_with_columns(r) for r in chunk))
        for old in ("log_catalog_names", "log_catalog_types"):
            conn.execute(f"DROP TABLE IF EXISTS {old}")
        conn.execute("DROP INDEX IF EXISTS log_entries_flow")
        conn.execute("DROP INDEX IF EXISTS log_entries_flow_dest")
        conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = ?", (_LEGACY,))
        if moved:
            # Dropping frees its pages at once; the next open creates it again, empty.
            conn.execute(f"DROP TABLE main.{_LEGACY}")
            self._after_schema_change(conn)

    def _insert_rows(self, conn: sqlite3.Connection, rows: Iterable[Row]) -> int:
        """Rows in :data:`_COLUMNS` order, each into its day's bucket (made when missing), and
        the catalog; returns how many were new. Runs inside a transaction."""
        by_day: dict[int, list[Row]] = {}
        for row in rows:
            day = row[3] // DAY_NS
            group = by_day.get(day)
            if group is None:
                group = by_day[day] = []
            group.append(row)
        added = 0
        for day, group in by_day.items():
            before = conn.total_changes
            conn.executemany(self._insert_sql(conn, day), group)
            added += conn.total_changes - before
            names = {(day, r[2]) for r in group}
            types = {(day, r[6]) for r in group}
            conn.executemany("INSERT OR IGNORE INTO log_bucket_names VALUES (?, ?)", names)
            conn.executemany("INSERT OR IGNORE INTO log_bucket_types VALUES (?, ?)", types)
        return added


def _with_columns(row: Row) -> Row:
    try:
        entry = json.loads(row[7])
    except ValueError:
        entry = {}
    columns = index_values(entry) if isinstance(entry, dict) else (None,) * len(_INDEXED)
    return (*row, *columns)


def _bucket_query(
    table: str,
    parents: Sequence[str],
    names: Sequence[str],
    where: Sql,
    order: Order,
    after: RowKey | None,
    limit: int,
) -> tuple[str, list[object]]:
    """One bucket's rows: the keys first (from an index alone when one covers the filter),
    then the entries of those within the limit."""
    direction = "ASC" if order == "asc" else "DESC"
    conditions: list[str] = []
    params: list[object] = []
    if len(names) <= MAX_NAMES_LISTED:
        conditions.append(f"{COL_LOG_NAME} IN ({', '.join('?' * len(names))})")
        params.extend(names)
    else:
        # '/' + 1 is '0': every name starting "<parent>/logs/" sorts in this range.
        ranges = " OR ".join(f"({COL_LOG_NAME} >= ? AND {COL_LOG_NAME} < ?)" for _ in parents)
        conditions.append(f"({ranges})")
        for parent in parents:
            params.extend((f"{parent}/logs/", f"{parent}/logs0"))
    if where.text != "1":
        conditions.append(where.text)
        params.extend(where.params)
    if after is not None:
        conditions.append(f"(ts_ns, insert_id, seq) {'>' if order == 'asc' else '<'} (?, ?, ?)")
        params.extend(after)
    keys = (
        f"SELECT seq FROM {table} WHERE {' AND '.join(conditions)} "
        f"ORDER BY ts_ns {direction}, insert_id {direction}, seq {direction} LIMIT ?"
    )
    params.append(limit)
    sql = (
        f"SELECT b.seq, b.ts_ns, b.insert_id, b.entry FROM ({keys}) AS k "
        f"CROSS JOIN {table} AS b ON b.seq = k.seq"
    )
    return sql, params
