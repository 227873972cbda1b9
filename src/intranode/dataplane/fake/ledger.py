"""A ledger in a list, for unit tests that need no database."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from intranode.domain.netplan import LedgerEntry, touches


class MemoryLedger:
    """:class:`~intranode.dataplane.protocol.Ledger` in memory, with the same rules as the
    SQLite one: re-recording keeps the first ``created``, entries come oldest first."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], LedgerEntry] = {}
        self._tick = itertools.count()

    def record(
        self, kind: str, netns: str, name: str, owner: str, data: Mapping[str, str] | None = None
    ) -> None:
        key = (kind, netns, name)
        old = self._rows.get(key)
        created = old.created if old is not None else float(next(self._tick))
        self._rows[key] = LedgerEntry(kind, netns, name, owner, dict(data or {}), created)

    def forget(self, kind: str, netns: str, name: str) -> None:
        self._rows.pop((kind, netns, name), None)

    def entries_touching(self, netns: str) -> list[LedgerEntry]:
        return [e for e in self.entries() if touches(e, netns)]

    def entries(self, owner: str | None = None) -> list[LedgerEntry]:
        rows = sorted(self._rows.values(), key=lambda e: e.created)
        return [e for e in rows if owner is None or e.owner == owner]
