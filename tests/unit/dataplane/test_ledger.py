"""The kernel-object ledger: both implementations keep the same rows in the same order."""

from __future__ import annotations

from pathlib import Path

from intranode.dataplane.protocol import Ledger
from intranode.store.db import Database
from intranode.store.ledger import SqliteLedger


def _keys(ledger: Ledger, owner: str | None = None) -> list[tuple[str, str, str]]:
    return [(e.kind, e.netns, e.name) for e in ledger.entries(owner)]


def test_entries_come_oldest_first_and_filter_by_owner(ledger: Ledger) -> None:
    ledger.record("netns", "", "in-v-default", "router")
    ledger.record("netns", "", "in-n-0a01", "node-1")
    ledger.record("veth", "in-v-default", "n-0a01", "node-1", {"peer_netns": "in-n-0a01"})
    assert _keys(ledger) == [
        ("netns", "", "in-v-default"),
        ("netns", "", "in-n-0a01"),
        ("veth", "in-v-default", "n-0a01"),
    ]
    assert _keys(ledger, "node-1") == [
        ("netns", "", "in-n-0a01"),
        ("veth", "in-v-default", "n-0a01"),
    ]
    assert ledger.entries("node-1")[1].data == {"peer_netns": "in-n-0a01"}
    assert ledger.entries("nobody") == []


def test_recording_again_keeps_the_first_place_and_takes_the_new_owner(ledger: Ledger) -> None:
    ledger.record("netns", "", "a", "first")
    ledger.record("netns", "", "b", "first")
    ledger.record("netns", "", "a", "second", {"x": "1"})
    assert _keys(ledger) == [("netns", "", "a"), ("netns", "", "b")]
    first = ledger.entries()[0]
    assert (first.owner, first.data) == ("second", {"x": "1"})


def test_forget_removes_one_row_and_ignores_unknown_ones(ledger: Ledger) -> None:
    ledger.record("netns", "", "a", "o")
    ledger.record("veth", "a", "eth0", "o")
    ledger.forget("netns", "", "a")
    ledger.forget("netns", "", "never-recorded")
    assert _keys(ledger) == [("veth", "a", "eth0")]


def test_the_sqlite_ledger_survives_a_reopen(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.db")
    SqliteLedger(db).record("netns", "", "in-p-91c0", "pod", {"k": "v"})
    db.close()
    reopened = Database(tmp_path / "state.db")
    entries = SqliteLedger(reopened).entries()
    reopened.close()
    assert [(e.kind, e.name, e.owner, e.data) for e in entries] == [
        ("netns", "in-p-91c0", "pod", {"k": "v"})
    ]
