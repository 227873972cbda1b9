"""Remove what a ledger lists: ``intranode down`` and every kernel test's finalizer call this.

Public API: :func:`teardown` ``(ledger, dataplane, owner=None) -> list[LedgerEntry]``.
"""

from __future__ import annotations

from intranode.dataplane.protocol import Dataplane, Ledger
from intranode.domain.netplan import (
    LEDGER_NETNS,
    LEDGER_NFT_TABLE,
    LEDGER_VETH,
    DeleteLink,
    DeleteNftTable,
    LedgerEntry,
)
from intranode.errors import DataplaneError


def teardown(ledger: Ledger, dataplane: Dataplane, owner: str | None = None) -> list[LedgerEntry]:
    """Remove every object the ledger lists (only ``owner``'s when given), newest first and by
    exact name. Objects inside a namespace that is itself removed go with it. Keeps going past
    failures and raises one ``DataplaneError`` naming them all at the end; returns the entries
    of kinds it does not know how to remove (they stay in the ledger)."""
    entries = ledger.entries(owner)
    doomed = {e.name for e in entries if e.kind == LEDGER_NETNS}
    unknown: list[LedgerEntry] = []
    failures: list[str] = []
    for entry in reversed(entries):
        try:
            if entry.kind == LEDGER_NETNS:
                dataplane.delete_netns(entry.name)
            elif entry.kind == LEDGER_VETH:
                if entry.netns not in doomed and entry.data.get("peer_netns") not in doomed:
                    dataplane.apply([DeleteLink(entry.netns, entry.name)])
            elif entry.kind == LEDGER_NFT_TABLE:
                if entry.netns not in doomed:
                    family, table = entry.data["family"], entry.data["table"]
                    dataplane.apply([DeleteNftTable(entry.netns, family, table)])
            else:
                unknown.append(entry)
        except DataplaneError as exc:
            failures.append(f"{entry.kind} {entry.netns}/{entry.name}: {exc}")
    if failures:
        raise DataplaneError("teardown left objects behind: " + "; ".join(failures))
    return unknown
