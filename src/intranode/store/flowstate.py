"""What the flow-log collector must remember across a crash, in the state database.

* ``flowlog_flows``: per VPC-router connection (namespace, conntrack id, ORIGINAL tuple, and
  the incarnation, as a reused port can bring the same id and tuple back), the
  packets and bytes already accounted in each of its four streams (ORIGINAL/REPLY x SRC/DEST:
  written in a record, or deliberately not reported), and the counters last observed per
  direction with the time they were observed. The collector writes these rows in the
  SAME transaction as the log entries that account for them (:meth:`FlowStateStore.save`
  inside ``db.transaction()``), so after a SIGKILL the next run resumes every flow exactly
  where its last committed records left it.
* ``flowlog_readers``: the helper processes (destroy-event readers) the collector started,
  by PID and start time, so a run after a crash can stop the ones left behind.

Tables are created with ``CREATE TABLE IF NOT EXISTS`` when the store is made.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from intranode.domain.flowlogs.aggregate import FlowId, SavedFlow
from intranode.domain.flowlogs.observations import Counters, FiveTuple, ReaderProcess
from intranode.errors import StoreError
from intranode.store.db import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flowlog_flows (
    netns TEXT NOT NULL,
    ct_id INTEGER NOT NULL,
    original TEXT NOT NULL,
    gen INTEGER NOT NULL,
    reply TEXT NOT NULL,
    orig_src_packets INTEGER NOT NULL,
    orig_src_bytes INTEGER NOT NULL,
    orig_dest_packets INTEGER NOT NULL,
    orig_dest_bytes INTEGER NOT NULL,
    reply_src_packets INTEGER NOT NULL,
    reply_src_bytes INTEGER NOT NULL,
    reply_dest_packets INTEGER NOT NULL,
    reply_dest_bytes INTEGER NOT NULL,
    seen_orig_packets INTEGER NOT NULL,
    seen_orig_bytes INTEGER NOT NULL,
    seen_reply_packets INTEGER NOT NULL,
    seen_reply_bytes INTEGER NOT NULL,
    seen REAL NOT NULL,
    PRIMARY KEY (netns, ct_id, original, gen)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS flowlog_readers (
    netns TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    start_time INTEGER NOT NULL
);
"""
_UPSERT = (
    "INSERT INTO flowlog_flows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (netns, ct_id, original, gen) DO UPDATE SET reply = excluded.reply, "
    "orig_src_packets = excluded.orig_src_packets, orig_src_bytes = excluded.orig_src_bytes, "
    "orig_dest_packets = excluded.orig_dest_packets, "
    "orig_dest_bytes = excluded.orig_dest_bytes, "
    "reply_src_packets = excluded.reply_src_packets, "
    "reply_src_bytes = excluded.reply_src_bytes, "
    "reply_dest_packets = excluded.reply_dest_packets, "
    "reply_dest_bytes = excluded.reply_dest_bytes, "
    "seen_orig_packets = excluded.seen_orig_packets, "
    "seen_orig_bytes = excluded.seen_orig_bytes, "
    "seen_reply_packets = excluded.seen_reply_packets, "
    "seen_reply_bytes = excluded.seen_reply_bytes, seen = excluded.seen"
)


class FlowStateStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        try:
            with db.transaction() as conn:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot prepare the flow-log state tables: {exc}") from exc

    # -- flows ----------------------------------------------------------------------------------
    def load(self) -> list[SavedFlow]:
        try:
            with self.db.reading() as conn:
                rows = conn.execute("SELECT * FROM flowlog_flows").fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the flow-log state: {exc}") from exc
        return [
            SavedFlow(
                netns=str(r[0]),
                ct_id=int(r[1]),
                original=FiveTuple.decode(r[2]),
                gen=int(r[3]),
                reply=FiveTuple.decode(r[4]),
                accounted=(
                    Counters(r[5], r[6]),
                    Counters(r[7], r[8]),
                    Counters(r[9], r[10]),
                    Counters(r[11], r[12]),
                ),
                observed=(Counters(r[13], r[14]), Counters(r[15], r[16])),
                seen=float(r[17]),
            )
            for r in rows
        ]

    def save(
        self, conn: sqlite3.Connection, upserts: Sequence[SavedFlow], deletes: Iterable[FlowId]
    ) -> None:
        """Write rows inside the caller's transaction (the one that stores the entries)."""
        try:
            conn.executemany(
                _UPSERT,
                [
                    (
                        f.netns,
                        f.ct_id,
                        f.original.encode(),
                        f.gen,
                        f.reply.encode(),
                        *f.accounted[0],
                        *f.accounted[1],
                        *f.accounted[2],
                        *f.accounted[3],
                        *f.observed[0],
                        *f.observed[1],
                        f.seen,
                    )
                    for f in upserts
                ],
            )
            conn.executemany(
                "DELETE FROM flowlog_flows "
                "WHERE netns = ? AND ct_id = ? AND original = ? AND gen = ?",
                [(d.netns, d.ct_id, d.original.encode(), d.gen) for d in deletes],
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save the flow-log state: {exc}") from exc

    def count(self) -> int:
        with self.db.reading() as conn:
            return int(conn.execute("SELECT count(*) FROM flowlog_flows").fetchone()[0])

    # -- helper processes --------------------------------------------------------------------------
    def readers(self) -> list[ReaderProcess]:
        with self.db.reading() as conn:
            rows = conn.execute("SELECT netns, pid, start_time FROM flowlog_readers").fetchall()
        return [ReaderProcess(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    def set_readers(self, readers: Iterable[ReaderProcess]) -> None:
        try:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM flowlog_readers")
                conn.executemany(
                    "INSERT INTO flowlog_readers VALUES (?, ?, ?)",
                    [(r.netns, r.pid, r.start_time) for r in readers],
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record the flow-log readers: {exc}") from exc
