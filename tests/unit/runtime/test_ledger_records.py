"""The runtime's records in the data plane's ledger: rows outside any namespace (so deleting a
pod's netns never drops them), string data, read back by kind for adoption and cleanup."""

from __future__ import annotations

from intranode.dataplane.fake.ledger import MemoryLedger
from intranode.dataplane.ledgering import forget_netns
from intranode.dataplane.runtime.records import (
    KIND_PROCESS,
    KIND_SERVER,
    KIND_UTS,
    LedgerSink,
)


def test_records_become_ledger_rows_with_string_data() -> None:
    ledger = MemoryLedger()
    sink = LedgerSink(ledger, "runtime")
    sink.record(KIND_PROCESS, "4242", {"start_time": 99, "pod_uid": "u-1"})
    sink.record(KIND_UTS, "/run/intranode/uts/in-p-0001", {"hostname": "pod-1"})
    ledger.record("netns", "", "in-p-0001", "cluster-a")
    (proc, uts) = ledger.entries("runtime")
    assert (proc.kind, proc.netns, proc.name, proc.data) == (
        "process",
        "",
        "4242",
        {"start_time": "99", "pod_uid": "u-1"},
    )
    assert uts.name == "/run/intranode/uts/in-p-0001"
    assert sink.by_kind() == {
        "uts-namespace": {"/run/intranode/uts/in-p-0001": {"hostname": "pod-1"}},
        "process": {"4242": {"start_time": "99", "pod_uid": "u-1"}},
        "exec-process": {},
        "pod-server": {},
        "capture-process": {},
    }


def test_deleting_the_pod_netns_does_not_drop_runtime_records() -> None:
    ledger = MemoryLedger()
    sink = LedgerSink(ledger, "runtime")
    sink.record(KIND_UTS, "/run/x/uts/in-p-0001", {})
    forget_netns(ledger, "in-p-0001")
    assert list(sink.by_kind()[KIND_UTS]) == ["/run/x/uts/in-p-0001"]


def test_forget_removes_exactly_one_row_and_other_owners_are_not_read() -> None:
    ledger = MemoryLedger()
    mine, theirs = LedgerSink(ledger, "runtime"), LedgerSink(ledger, "other")
    mine.record(KIND_SERVER, "10", {"start_time": 1})
    mine.record(KIND_SERVER, "11", {"start_time": 2})
    theirs.record(KIND_SERVER, "12", {"start_time": 3})
    mine.forget(KIND_SERVER, "10")
    assert mine.by_kind()[KIND_SERVER] == {"11": {"start_time": "2"}}
    assert [e.name for e in ledger.entries()] == ["11", "12"]
