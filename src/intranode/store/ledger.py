"""The kernel-object ledger: every namespace, veth and nftables table the data plane made.

The data plane records an object *before* creating it and forgets it once removed, so after a
crash at any point the rows name everything that may exist; cleanup and re-adoption act on these
exact names, never on a pattern. ``SqliteLedger`` keeps the rows in the ``ledger`` table of the
state database (schema in :mod:`intranode.store.db`) and satisfies the dataplane's ``Ledger``
protocol structurally (the store does not import the dataplane).

Public API: ``SqliteLedger(db)`` with ``record(kind, netns, name, owner, data=None)``,
``forget(kind, netns, name)``, ``entries(owner=None)`` (oldest first).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any

from intranode.domain.netplan import LedgerEntry
from intranode.errors import StoreError
from intranode.store.db import Database


class SqliteLedger:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock

    def record(
        self, kind: str, netns: str, name: str, owner: str, data: Mapping[str, str] | None = None
    ) -> None:
        """Note an object about to be created. Recording it again updates owner and data but
        keeps its first ``created``, so teardown still runs in creation order."""
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO ledger (name, kind, netns, owner, data, created) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, netns, name) DO UPDATE SET "
                    "owner = excluded.owner, data = excluded.data",
                    (name, kind, netns, owner, json.dumps(dict(data or {})), self._clock()),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record {kind} {netns}/{name} in the ledger: {exc}") from exc

    def forget(self, kind: str, netns: str, name: str) -> None:
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "DELETE FROM ledger WHERE kind = ? AND netns = ? AND name = ?",
                    (kind, netns, name),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot forget {kind} {netns}/{name} in the ledger: {exc}") from exc

    def entries_touching(self, netns: str) -> list[LedgerEntry]:
        """The namespace ``netns`` itself, what lives in it, and veths with an end in it."""
        sql = (
            "SELECT kind, netns, name, owner, data, created FROM ledger "
            "WHERE (kind = 'netns' AND name = ?) OR netns = ? "
            "OR json_extract(data, '$.peer_netns') = ? ORDER BY created, rowid"
        )
        try:
            with self.db.reading() as conn:
                rows = conn.execute(sql, (netns, netns, netns)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the ledger: {exc}") from exc
        return [_entry(row) for row in rows]

    def entries(self, owner: str | None = None) -> list[LedgerEntry]:
        sql = "SELECT kind, netns, name, owner, data, created FROM ledger"
        args: tuple[str, ...] = ()
        if owner is not None:
            sql += " WHERE owner = ?"
            args = (owner,)
        # rowid breaks ties between rows recorded within one clock tick.
        sql += " ORDER BY created, rowid"
        try:
            with self.db.reading() as conn:
                rows = conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the ledger: {exc}") from exc
        return [_entry(row) for row in rows]


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    return LedgerEntry(
        kind=row[0],
        netns=row[1],
        name=row[2],
        owner=row[3],
        data=json.loads(row[4]),
        created=float(row[5]),
    )
