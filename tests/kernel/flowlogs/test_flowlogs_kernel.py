"""Flow logs from a real router's conntrack: every connection, every byte, across a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from intranode.controllers.flowlogs import FlowCollector
from intranode.dataplane.linux.conntrack import LinuxFlowSource, proc_start_time
from intranode.domain.flowlogs.observations import ConntrackEntry
from intranode.store.flowstate import FlowStateStore

from .harness import (
    A_IP,
    B_IP,
    NETWORK,
    Key,
    Lab,
    flow_entries,
    make_context,
    record_totals,
    result,
)

PORT = 8080


def expected_totals(entries: list[ConntrackEntry]) -> dict[Key, tuple[int, int]]:
    """What conntrack counted, as the four streams of each connection (both ends are VMs
    with flow logs on)."""
    out: dict[Key, tuple[int, int]] = {}
    for e in entries:
        for t, c in ((e.original, e.orig_counters), (e.reply, e.reply_counters)):
            if c.packets:
                assert t.src_port is not None and t.dest_port is not None
                for reporter in ("SRC", "DEST"):
                    out[(t.src_ip, t.src_port, t.dest_ip, t.dest_port, reporter)] = (
                        c.packets,
                        c.bytes,
                    )
    return out


def ours(entries: list[ConntrackEntry]) -> list[ConntrackEntry]:
    return [e for e in entries if e.original.protocol == 6 and e.original.dest_port == PORT]


def test_every_connection_and_byte_through_the_router_is_reported(lab: Lab, tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    source = LinuxFlowSource()
    collector = FlowCollector(ctx, source, routers=lambda: {lab.router: NETWORK}, tick_seconds=0.5)
    stop = threading.Event()

    def ticking() -> None:
        while not stop.wait(0.5):
            collector.tick()

    try:
        collector.tick()  # starts the destroy-event reader before any traffic
        reader = source.reader(lab.router)
        assert reader is not None and proc_start_time(reader.pid) == reader.start_time
        thread = threading.Thread(target=ticking)
        thread.start()
        lab.serve(PORT)
        uploads = [lab.long_upload(PORT, size, 4_000_000) for size in (9_000_000, 5_000_001)]
        short = result(lab.short_connections(PORT, 200, 3000), timeout=60)
        long = [result(p, timeout=60) for p in uploads]
        time.sleep(1.0)  # the last FIN/ACKs reach conntrack and a snapshot
        stop.set()
        thread.join()
        collector.tick()  # a last look, then every open interval is written
        collector.drain()
        table = ours(source.snapshot(lab.router))
    finally:
        stop.set()
        collector.close()
    assert reader.alive is False  # stopped by PID on close

    assert short["failures"] == 0 and len(set(short["ports"])) == 200
    assert [u["sent"] for u in long] == [9_000_000, 5_000_001]
    # Every connection is still in conntrack (TIME_WAIT), so its counters are final.
    assert {e.original.src_port for e in table} == set(short["ports"]) | {u["port"] for u in long}
    got = record_totals(flow_entries(ctx))
    want = expected_totals(table)
    assert got == want
    for port in short["ports"]:
        assert (A_IP, port, B_IP, PORT, "SRC") in got and (B_IP, PORT, A_IP, port, "DEST") in got
    # ... and the client's own IP-level counters agree with the records.
    mine = lab.client_counters()
    sent = [v for k, v in got.items() if k[0] == A_IP and k[4] == "SRC"]
    received = [v for k, v in got.items() if k[2] == A_IP and k[4] == "DEST"]
    assert mine["sent"] == (sum(p for p, _ in sent), sum(b for _, b in sent))
    assert mine["received"] == (sum(p for p, _ in received), sum(b for _, b in received))
    assert mine["sent"][1] > 14_000_000  # the uploads went through, headers on top


@pytest.mark.parametrize("listings", ["before and after", "every 0.1 s"])
def test_a_port_reused_five_times_in_a_second_is_counted_exactly(
    lab: Lab, tmp_path: Path, listings: str
) -> None:
    ctx = make_context(tmp_path)
    source = LinuxFlowSource()
    collector = FlowCollector(ctx, source, routers=lambda: {lab.router: NETWORK})
    sizes = [1000, 3000, 200_000, 5000, 100, 70_000]
    stop = threading.Event()

    def ticking() -> None:
        while not stop.wait(0.1):
            collector.tick()

    thread = threading.Thread(target=ticking)
    try:
        collector.tick()  # starts the destroy-event reader
        lab.serve(PORT)
        if listings == "every 0.1 s":
            thread.start()
        done = result(lab.reused_port(PORT, 41234, sizes, pause=0.05), timeout=60)
        time.sleep(0.5)  # the last ACKs reach conntrack
        stop.set()
        if thread.is_alive():
            thread.join()
        collector.tick()
        collector.drain()
        table = ours(source.snapshot(lab.router))
    finally:
        stop.set()
        collector.close()
    assert done["received"] == sizes
    # conntrack holds only the last of them; the others ended with destroy events for the
    # same tuple (mostly the same id), which their start times tell apart from each other
    # and from what listings saw.
    (last,) = table
    got = record_totals(flow_entries(ctx))
    mine = lab.client_counters()
    assert mine["sent"][0] > last.orig_counters.packets
    assert got == {
        (A_IP, 41234, B_IP, PORT, "SRC"): mine["sent"],
        (A_IP, 41234, B_IP, PORT, "DEST"): mine["sent"],
        (B_IP, PORT, A_IP, 41234, "SRC"): mine["received"],
        (B_IP, PORT, A_IP, 41234, "DEST"): mine["received"],
    }


def test_a_collector_killed_mid_transfer_neither_loses_nor_double_counts(
    lab: Lab, tmp_path: Path
) -> None:
    argv = [
        sys.executable,
        "-m",
        "tests.kernel.flowlogs.collector_main",
        str(tmp_path),
        lab.router,
        "0.5",
    ]
    cwd = Path(__file__).parents[3]

    def start_collector() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        lab.procs.append(proc)  # stopped by PID whatever happens
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == "ticking", proc.stderr.read() if proc.stderr else ""
        return proc

    lab.serve(PORT)
    first = start_collector()
    upload = lab.long_upload(PORT, 24_000_000, 2_000_000)  # about 12 s
    time.sleep(7.5)  # past the first 5 s interval: some records are committed
    ctx = make_context(tmp_path)
    (orphan,) = FlowStateStore(ctx.db).readers()
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert proc_start_time(orphan.pid) == orphan.start_time  # its conntrack -E lives on
    committed = record_totals(flow_entries(ctx))
    assert committed, "the first collector wrote nothing before it was killed"

    second = start_collector()  # stops the orphaned reader, resumes the flow
    assert proc_start_time(orphan.pid) is None or _reaped(orphan.pid)
    done = result(upload, timeout=60)
    time.sleep(1.0)
    table = ours(LinuxFlowSource().snapshot(lab.router))
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0

    assert done["sent"] == 24_000_000
    (flow,) = table
    assert record_totals(flow_entries(ctx)) == expected_totals(table)
    mine = lab.client_counters()
    assert mine["sent"] == (flow.orig_counters.packets, flow.orig_counters.bytes)
    ctx.db.close()


def _reaped(pid: int) -> bool:
    """A killed process that is not our child stays a zombie until init reaps it."""
    for _ in range(100):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.02)
    return not os.path.exists(f"/proc/{pid}")


def test_a_missing_namespace_is_a_dataplane_error_with_enoent_and_stderr(lab: Lab) -> None:
    import errno

    import pytest

    from intranode.errors import DataplaneError

    gone = f"{lab.prefix}gone"  # never created
    with pytest.raises(DataplaneError) as err:
        LinuxFlowSource().snapshot(gone)
    assert err.value.errno == errno.ENOENT
    assert "Cannot open network namespace" in err.value.stderr
    assert str(err.value).startswith(f"conntrack -L in {gone}: ")
