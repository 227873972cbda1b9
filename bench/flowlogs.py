"""Flow-log figures through a real VPC router (root), measured in one run; prints JSON.

(1) accounting: many short TCP connections and some long transfers cross a router whose
    conntrack feeds the collector (ticking every second, 5 s intervals, flowSampling 1.0):
    records found vs connections made, summed bytes/packets vs conntrack's counters and the
    client's own IP-level counters. Target: every connection, exact, zero loss.
(4) cost: the collector's CPU (its own threads plus the ``conntrack`` processes it runs) while
    about ``--rate`` connections per second cross the router, and until every record of them
    is written (a collector that falls behind owes that work): ``cores_per_1000_flows_per_s``
    extrapolates to rates the 2-core box cannot generate while it also runs the collector;
    ``catch_up_s_after_traffic`` is how long writing lagged behind the traffic.
(2) ingest: entries per second per core through the Logging write path (target 50,000).
(3) ``entries:list`` latency with the guide's filter over 1,000,000 and 10,000,000 stored
    entries against a full scan of the same data (targets 100 ms and 1 s).

Self-contained: its own ``t<4 hex>-`` namespaces and state directory, removed at the end.

    .venv/bin/python bench/flowlogs.py [--short 10000] [--long 20] [--rate 5000] [--seconds 20]
                                        [--parts 1,2,3,4] [--gc-threshold N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the router lab lives with the kernel tests

from tests.kernel.flowlogs.harness import (  # noqa: E402
    A_IP,
    NETWORK,
    Lab,
    flow_entries,
    make_context,
    record_totals,
    result,
)

from intranode.controllers.flowlogs import FlowCollector  # noqa: E402
from intranode.dataplane.linux.conntrack import LinuxFlowSource  # noqa: E402

PORT = 8080


class Ticker:
    """The collector ticking every second in a thread, with its tick times."""

    def __init__(self, collector: FlowCollector, every: float = 1.0) -> None:
        self.collector = collector
        self.every = every
        self.stop = threading.Event()
        self.durations: list[float] = []
        self.errors: list[str] = []
        self.open_after: list[tuple[float, int]] = []  # (when a tick began, buckets open after)
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            t_start = time.monotonic()
            t = time.perf_counter()
            report = self.collector.tick()
            self.durations.append(time.perf_counter() - t)
            self.errors += report.errors
            self.open_after.append((t_start, len(self.collector.aggregator.open_buckets)))

    def caught_up(self, since: float, timeout: float) -> float | None:
        """Seconds from ``since`` until a tick that began after it ended with every record
        written (None: not within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [t for t, n in list(self.open_after) if t > since and n == 0]
            if done:
                return time.monotonic() - since
            time.sleep(0.1)
        return None

    def __enter__(self) -> Ticker:
        self.collector.tick()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def part1(short: int, long: int) -> dict[str, Any]:
    lab = Lab.create()
    state = tempfile.mkdtemp(prefix="flowbench-")
    try:
        ctx = make_context(Path(state))
        source = LinuxFlowSource()
        collector = FlowCollector(ctx, source, routers=lambda: {lab.router: NETWORK})
        start = time.monotonic()
        with Ticker(collector) as ticker:
            lab.serve(PORT)
            uploads = [lab.long_upload(PORT, 2_000_000 + 7919 * i, 1_000_000) for i in range(long)]
            shorts = result(lab.short_connections(PORT, short, 2000, concurrency=50), 600)
            longs = [result(p, 120) for p in uploads]
            time.sleep(1.5)
        collector.tick()
        collector.drain()
        table = [
            e
            for e in source.snapshot(lab.router)
            if e.original.protocol == 6 and e.original.dest_port == PORT
        ]
        reader = source.reader(lab.router)
        lost = reader.lost_warnings if reader is not None else None
        collector.close()
        got = record_totals(flow_entries(ctx))
        ports = Counter([*shorts["ports"], *(u["port"] for u in longs)])
        reported = {k[1] for k in got if k[0] == A_IP}
        # A client that reuses a port makes several connections of one 5-tuple; conntrack
        # keeps only the last, so the per-stream check uses the tuples used once.
        once = {p for p, n in ports.items() if n == 1}
        want: dict[Any, tuple[int, int]] = {}
        for e in table:
            if e.original.src_port not in once:
                continue
            for t, c in ((e.original, e.orig_counters), (e.reply, e.reply_counters)):
                for reporter in ("SRC", "DEST"):
                    want[(t.src_ip, t.src_port, t.dest_ip, t.dest_port, reporter)] = (
                        c.packets,
                        c.bytes,
                    )
        got_once = {k: v for k, v in got.items() if (k[1] if k[0] == A_IP else k[3]) in once}
        mine = lab.client_counters()
        sent = [v for k, v in got.items() if k[0] == A_IP and k[4] == "SRC"]
        received = [v for k, v in got.items() if k[2] == A_IP and k[4] == "DEST"]
        return {
            "connections_made": sum(ports.values()),
            "client_failures": shorts["failures"],
            "distinct_5_tuples": len(ports),
            "5_tuples_with_records": len(set(ports) & reported),
            "tuples_used_once": len(once),
            "tuples_used_once_streams_exact_vs_conntrack": got_once == want,
            "streams_differing": sum(
                1 for k in want.keys() | got_once.keys() if got_once.get(k) != want.get(k)
            ),
            "client_sent_ip": mine["sent"],
            "records_src_sent_by_client": (sum(p for p, _ in sent), sum(b for _, b in sent)),
            "client_received_ip": mine["received"],
            "records_dest_received_by_client": (
                sum(p for p, _ in received),
                sum(b for _, b in received),
            ),
            "entries": len(flow_entries(ctx)),
            "destroy_events_lost_warnings": lost,
            "seconds": round(time.monotonic() - start, 1),
            "tick_ms_p50": _pct(ticker.durations, 50),
            "tick_ms_max": _pct(ticker.durations, 100),
            "errors": ticker.errors[:5],
        }
    finally:
        lab.close()
        shutil.rmtree(state, ignore_errors=True)


class GcClock:
    """Time this process spent in the cycle collector (all threads)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.full += info["generation"] == 2


def part4(rate: float, seconds: float) -> dict[str, Any]:
    # TIME_WAIT entries are kept 10 s (not 120) so the table stays under nf_conntrack_max.
    lab = Lab.create(time_wait=10)
    state = tempfile.mkdtemp(prefix="flowbench-")
    gc_clock = GcClock()
    try:
        ctx = make_context(Path(state))
        source = LinuxFlowSource()
        collector = FlowCollector(ctx, source, routers=lambda: {lab.router: NETWORK})
        lab.serve(PORT)
        clients = 2
        count = int(rate * seconds / clients)
        gc.callbacks.append(gc_clock)
        with Ticker(collector) as ticker:
            reader = source.reader(lab.router)
            assert reader is not None
            cpu0 = _cpu_seconds(os.getpid())
            listing0 = source.listing_cpu
            reader0 = _cpu_seconds(reader.pid)
            wall0 = time.monotonic()
            procs = [
                lab.short_connections(PORT, count, 500, concurrency=64, rate=rate / clients)
                for _ in range(clients)
            ]
            done = [result(p, seconds * 10) for p in procs]
            end = time.monotonic()
            wall = end - wall0
            cpu = _cpu_seconds(os.getpid()) - cpu0
            reader_cpu = _cpu_seconds(reader.pid) - reader0
            listing_cpu = source.listing_cpu - listing0
            # Then until every record is written (a tick that began after the next listing
            # left no bucket open): the work a collector that fell behind still owes counts.
            catch_up = ticker.caught_up(end + collector.busy_every + 1, timeout=600)
            if catch_up is not None:
                catch_up += collector.busy_every + 1
            total_cpu = _cpu_seconds(os.getpid()) - cpu0
            total_cpu += _cpu_seconds(reader.pid) - reader0 + source.listing_cpu - listing0
        gc.callbacks.remove(gc_clock)
        table = len(source.snapshot(lab.router))
        collector.close(flush=True)
        made = sum(len(d["ports"]) for d in done)
        got = record_totals(flow_entries(ctx))
        mine = lab.client_counters()
        sent = [v for k, v in got.items() if k[0] == A_IP and k[4] == "SRC"]
        received = [v for k, v in got.items() if k[2] == A_IP and k[4] == "DEST"]
        return {
            "target_flows_per_s": rate,
            "achieved_flows_per_s": round(made / wall, 1),
            "connections": made,
            "client_failures": sum(d["failures"] for d in done),
            "wall_s": round(wall, 1),
            "collector_python_cpu_s": round(cpu, 2),
            "conntrack_list_cpu_s": round(listing_cpu, 2),
            "conntrack_events_cpu_s": round(reader_cpu, 2),
            "collector_core_percent": round(100 * (cpu + listing_cpu + reader_cpu) / wall, 1),
            "catch_up_s_after_traffic": None if catch_up is None else round(catch_up, 1),
            "total_cpu_s_until_all_written": round(total_cpu, 2),
            "cores_per_1000_flows_per_s": round(1000 * total_cpu / made, 3),
            "python_gc_s": round(gc_clock.seconds, 2),
            "python_gc_full_collections": gc_clock.full,
            "conntrack_entries_at_end": table,
            "destroy_events_lost_warnings": reader.lost_warnings,
            "entries": len(flow_entries(ctx)),
            "client_sent_ip": mine["sent"],
            "records_src_sent_by_client": (sum(p for p, _ in sent), sum(b for _, b in sent)),
            "records_equal_client_counters": (
                mine["sent"] == (sum(p for p, _ in sent), sum(b for _, b in sent))
                and mine["received"] == (sum(p for p, _ in received), sum(b for _, b in received))
            ),
            "tick_ms_p50": _pct(ticker.durations, 50),
            "tick_ms_p99": _pct(ticker.durations, 99),
            "tick_ms_max": _pct(ticker.durations, 100),
            "errors": ticker.errors[:5],
        }
    finally:
        if gc_clock in gc.callbacks:
            gc.callbacks.remove(gc_clock)
        lab.close()
        shutil.rmtree(state, ignore_errors=True)


# -- (2) and (3): the Logging store ----------------------------------------------------------------
# Synthetic VPC flow-log entries of the real shape (``domain/flowlogs/records.py`` with
# INCLUDE_ALL_METADATA: both instances, VPCs and GKE details; about 1.7 KB of JSON each):
# LOG_PODS pods on LOG_NODES nodes, talking over LOG_PAIRS (src pod, dest pod) pairs.
LOG_PROJECT = "bench-proj"
LOG_NODES = 4
LOG_PODS = 100
LOG_PAIRS = 2000
HOT_SHARE = 100  # the hot pair is one entry in HOT_SHARE
DAY_S = 86_400


def _pod_ip(pod: int) -> str:
    return f"10.52.{pod % LOG_NODES}.{pod // LOG_NODES + 2}"


def _pair(k: int) -> tuple[int, int]:
    """The k-th talking pair (src pod, dest pod); pair 0 is the hot one, pair 1 a typical one."""
    src = k % LOG_PODS
    dest = (k * 37 + 11 + k // LOG_PODS) % LOG_PODS
    return src, dest if dest != src else (dest + 1) % LOG_PODS


def _flow_entry(
    pair: int, reporter: str, src_port: Any, nbytes: Any, packets: Any, start: str, end: str
) -> dict[str, Any]:
    """One record and its envelope, as the collector writes them (insertId and
    receiveTimestamp are the write's)."""
    from intranode.domain.flowlogs.records import RESOURCE_TYPE, log_name

    src, dest = _pair(pair)

    def instance(pod: int) -> dict[str, Any]:
        node = f"gke-flow-log-test-default-pool-1a2b3c4d-{pod % LOG_NODES:04x}"
        group = "gke-flow-log-test-default-pool-1a2b3c4d-grp"
        return {
            "project_id": LOG_PROJECT,
            "region": "us-central1",
            "zone": "us-central1-a",
            "vm_name": node,
            "managed_instance_group": {"name": group, "zone": "us-central1-a"},
        }

    def gke(pod: int) -> dict[str, Any]:
        return {
            "cluster": {"cluster_name": "flow-log-test", "cluster_location": "us-central1-a"},
            "pod": {
                "pod_name": f"pod-{pod}",
                "pod_namespace": "default",
                "pod_workload": {"workload_name": f"app-{pod % 7}", "workload_type": "DEPLOYMENT"},
            },
        }

    vpc = {
        "project_id": LOG_PROJECT,
        "vpc_name": "default",
        "subnetwork_name": "default",
        "subnetwork_region": "us-central1",
    }
    record = {
        "connection": {
            "src_ip": _pod_ip(src),
            "src_port": src_port,
            "dest_ip": _pod_ip(dest),
            "dest_port": 8080,
            "protocol": 6,
        },
        "reporter": reporter,
        "bytes_sent": nbytes,
        "packets_sent": packets,
        "start_time": start,
        "end_time": end,
        "src_instance": instance(src),
        "dest_instance": instance(dest),
        "src_vpc": vpc,
        "dest_vpc": vpc,
        "src_gke_details": gke(src),
        "dest_gke_details": gke(dest),
    }
    return {
        "logName": log_name(LOG_PROJECT),
        "resource": {
            "type": RESOURCE_TYPE,
            "labels": {
                "project_id": LOG_PROJECT,
                "subnetwork_id": "1234567890",
                "subnetwork_name": "default",
                "location": "us-central1-a",
            },
        },
        "timestamp": end,
        "jsonPayload": record,
    }


def _flow_dicts(first: int, count: int, t0_ns: int, step_ns: int) -> list[dict[str, Any]]:
    """Entries ``first`` to ``first + count - 1``, ``step_ns`` apart from ``t0_ns``. Entry after
    entry cycles through the pairs, so each row of a batch goes to another connection's place
    in the flow index (the costly case for the store)."""
    from intranode.domain.timefmt import rfc3339_ns

    out = []
    for i in range(first, first + count):
        t = t0_ns + i * step_ns
        out.append(
            _flow_entry(
                1 + i % (LOG_PAIRS - 1),
                "SRC" if i % 2 else "DEST",
                30000 + i % 30000,
                str(100 + i % 5000),
                str(1 + i % 50),
                rfc3339_ns(t - 4_000_000_000),
                rfc3339_ns(t),
            )
        )
    return out


class _Timed:
    """Wall and CPU seconds spent in one callable (here: ``LogStore.insert``)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.wall = 0.0
        self.cpu = 0.0

    def __call__(self, *args: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        try:
            return self.fn(*args)
        finally:
            self.wall += time.perf_counter() - w
            self.cpu += time.process_time() - c


def _ingest(total: int, batch: int) -> dict[str, Any]:
    import gc

    from intranode.config import Settings
    from intranode.controllers import logs
    from intranode.controllers.context import Context

    state = tempfile.mkdtemp(prefix="flowbench-logs-")
    try:
        ctx = Context.open(Settings(state_dir=Path(state), project=LOG_PROJECT), "token")
        store = _Timed(ctx.logs.insert)
        ctx.logs.insert = store  # type: ignore[method-assign]
        t0 = time.time_ns() - total * 1_000_000
        wall = cpu = 0.0
        for first in range(0, total, batch):
            entries = _flow_dicts(first, min(batch, total - first), t0, 1_000_000)
            gc.collect()  # the garbage of making entries is not the write path's
            w, c = time.perf_counter(), time.process_time()
            logs.write_entries(ctx, entries)
            wall += time.perf_counter() - w
            cpu += time.process_time() - c
        with ctx.db.reading() as conn:
            stored = sum(
                conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ctx.logs.buckets()
            )
        ctx.db.close()
        return {
            "entries_stored": stored,
            "entries_per_s": round(total / wall),
            "entries_per_cpu_s": round(total / cpu),
            "us_per_entry": round(wall / total * 1e6, 1),
            "us_per_entry_before_store": round((wall - store.wall) / total * 1e6, 1),
            "us_per_entry_in_store": round(store.wall / total * 1e6, 1),
            "cpu_us_per_entry_before_store": round((cpu - store.cpu) / total * 1e6, 1),
            "cpu_us_per_entry_in_store": round(store.cpu / total * 1e6, 1),
        }
    finally:
        shutil.rmtree(state, ignore_errors=True)


def part2() -> dict[str, Any]:
    """(2) Ingest: entries through ``controllers.logs.write_entries`` (the collector's path),
    in batches of 1,000 and 10,000 (the collector writes each tick's records as one batch).
    Rates per second of wall time and per CPU-second of this process (the write path is one
    thread), and where the time goes: inside ``LogStore.insert`` (SQLite: rows, indexes, WAL)
    vs before it (``prepare``: checking, completing and JSON-encoding each entry). Entry
    generation is not timed. ``FLOWBENCH_INGEST_ENTRIES`` (default 200,000) per batch size."""
    total = int(os.environ.get("FLOWBENCH_INGEST_ENTRIES", "200000"))
    sample = _flow_dicts(0, 1, time.time_ns(), 1)[0]
    out: dict[str, Any] = {
        "entries": total,
        "entry_json_bytes": len(json.dumps(sample, separators=(",", ":"))),
        "target_entries_per_s_per_core": 50_000,
    }
    for batch in (1000, 10_000):
        out[f"batch_{batch}"] = _ingest(total, batch)
    return out


def _template(pair: int, reporter: str) -> tuple[str, tuple[str, ...], tuple[Any, ...]]:
    """A pair's entry as a ``%`` format over the values that change per entry, their names in
    order, and its indexed columns (the source port set per entry)."""
    import re

    from intranode.domain.logquery.compile_sql import index_values

    e = _flow_entry(pair, reporter, -999991, "@bytes@", "@packets@", "@start@", "@ts@")
    e["insertId"] = "@id@"
    e["receiveTimestamp"] = "@ts@"
    order: list[str] = []

    def slot(m: re.Match[str]) -> str:
        order.append(m.group(1) or "port")
        return "%s"

    text = json.dumps(e, separators=(",", ":")).replace("%", "%%")
    fmt = re.sub(r"@(\w+)@|-999991", slot, text)
    return fmt, tuple(order), index_values({"jsonPayload": e["jsonPayload"]})


def _bulk_load(ctx: Any, count: int, end_ns: int, span_ns: int) -> None:
    """The bench's own bulk path, not the API's: ``count`` entries of the real shape spread
    evenly over ``span_ns`` before ``end_ns``, their JSON filled into a per-pair template
    instead of checked and encoded one by one (``prepare``), stored through
    ``LogStore.insert`` in batches of 20,000 with ``synchronous=OFF`` while loading. The rows
    are the ones the write path stores."""
    import random

    from intranode.domain.flowlogs.records import RESOURCE_TYPE, log_name
    from intranode.domain.logquery.entry import StoredEntry
    from intranode.domain.timefmt import rfc3339_ns

    name = log_name(LOG_PROJECT)
    templates: dict[tuple[int, str], tuple[str, tuple[str, ...], tuple[Any, ...]]] = {}
    rng = random.Random(7)
    step = max(1, span_ns // count)
    start_ns = end_ns - span_ns
    with ctx.db.reading() as conn:
        conn.execute("PRAGMA synchronous=OFF")
    batch: list[Any] = []
    for i in range(count):
        ts = start_ns + i * step + rng.randrange(step)
        pair = 0 if i % HOT_SHARE == 0 else rng.randrange(1, LOG_PAIRS)
        key = (pair, "SRC" if rng.random() < 0.5 else "DEST")
        if key not in templates:
            templates[key] = _template(*key)
        fmt, order, cols = templates[key]
        port = 30000 + i % 30000
        insert_id = f"bulk{i:012x}"
        values = {
            "ts": rfc3339_ns(ts),
            "start": rfc3339_ns(ts - 4_000_000_000),
            "id": insert_id,
            "bytes": str(100 + i % 5000),
            "packets": str(1 + i % 50),
            "port": str(port),
        }
        text = fmt % tuple(values[o] for o in order)
        columns = (cols[0], cols[1], float(port), *cols[3:])
        batch.append(StoredEntry({}, text, insert_id, name, ts, ts, 0, RESOURCE_TYPE, columns))
        if len(batch) == 20_000:
            ctx.logs.insert(batch)
            batch = []
    if batch:
        ctx.logs.insert(batch)
    with ctx.db.reading() as conn:
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _full_scan(ctx: Any, text: str, limit: int) -> list[str]:
    """The baseline: the same filter answered by reading every row of every day (no index,
    no day skipped: ``NOT INDEXED``), the same SQL narrowing and evaluation, newest first."""
    from intranode.domain.logquery.compile_sql import compile_filter
    from intranode.domain.logquery.evaluate import evaluate
    from intranode.domain.logquery.parser import parse

    node = parse(text)
    where = compile_filter(node, ctx.logs.catalog()).where
    found: list[tuple[int, str, int, str]] = []
    with ctx.db.reading() as conn:
        for table in ctx.logs.buckets():
            rows = conn.execute(
                f"SELECT ts_ns, insert_id, seq, entry FROM {table} NOT INDEXED WHERE {where.text}",
                where.params,
            ).fetchall()
            found.extend(r for r in rows if evaluate(node, json.loads(r[3])))
    found.sort(reverse=True)
    return [r[3] for r in found[:limit]]


def _latency(run: Any, repeat: int) -> dict[str, Any]:
    run()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return {"p50_ms": _pct(times, 50), "p99_ms": _pct(times, 99), "runs": repeat}


def _list_latency(size: int, repeat: int) -> dict[str, Any]:
    from intranode.config import Settings
    from intranode.controllers import logs, serviceusage
    from intranode.controllers.context import Context
    from intranode.domain.flowlogs.records import log_name
    from intranode.domain.timefmt import rfc3339_ns

    state = tempfile.mkdtemp(prefix="flowbench-logs-")
    try:
        ctx = Context.open(Settings(state_dir=Path(state), project=LOG_PROJECT), "token")
        serviceusage.seed_project(ctx, LOG_PROJECT)
        now = time.time_ns()
        t = time.perf_counter()
        _bulk_load(ctx, size, now, 30 * DAY_S * 1_000_000_000)
        load_s = time.perf_counter() - t
        out: dict[str, Any] = {
            "bulk_load_s": round(load_s, 1),
            "days": len(ctx.logs.buckets()),
            "db_bytes": sum(f.stat().st_size for f in Path(state).glob("state.db*")),
        }
        # As the clients write it: microseconds, Z.
        day_ago = rfc3339_ns(now - DAY_S * 1_000_000_000)[:26] + "Z"
        month_ago = rfc3339_ns(now - 31 * DAY_S * 1_000_000_000)[:26] + "Z"
        parents = [f"projects/{LOG_PROJECT}"]
        for label, pair in (("typical_pair", 1), ("hot_pair", 0)):
            src, dest = _pair(pair)
            guide = (
                f'logName="{log_name(LOG_PROJECT)}" AND '
                f'jsonPayload.connection.src_ip="{_pod_ip(src)}" AND '
                f'jsonPayload.connection.dest_ip="{_pod_ip(dest)}"'
            )
            queries = {
                "gcloud": logs.ListRequest(
                    parents, f'timestamp>="{day_ago}" AND {guide}', "timestamp desc", 1000
                ),
                "python_client": logs.ListRequest(parents, f'{guide} AND timestamp>="{day_ago}"'),
                "31_days": logs.ListRequest(
                    parents, f'timestamp>="{month_ago}" AND {guide}', "timestamp desc", 1000
                ),
            }
            for name, req in queries.items():
                page = logs.list_entries(ctx, req)
                out[f"{label}.{name}"] = {
                    "entries": len(page.entries),
                    "more_pages": page.next_page_token is not None,
                    **_latency(lambda req=req: logs.list_entries(ctx, req), repeat),
                }
            indexed = logs.list_entries(ctx, queries["gcloud"]).entries
            scans = []
            for _ in range(3):
                t = time.perf_counter()
                baseline = _full_scan(ctx, queries["gcloud"].filter, 1000)
                scans.append(time.perf_counter() - t)
            indexed_p50 = out[f"{label}.gcloud"]["p50_ms"]
            scan_p50 = _pct(scans, 50)
            out[f"{label}.gcloud.full_scan"] = {
                "entries": len(baseline),
                "same_entries_as_indexed": baseline == indexed,
                "runs_ms": [round(x * 1000, 1) for x in scans],
                "p50_ms": scan_p50,
                "indexed_speedup_p50": round(scan_p50 / indexed_p50, 1)
                if scan_p50 and indexed_p50
                else None,
            }
        ctx.db.close()
        return out
    finally:
        shutil.rmtree(state, ignore_errors=True)


def part3() -> dict[str, Any]:
    """(3) ``entries:list`` latency (``controllers.logs.list_entries``, no HTTP) with the
    guide's filter over 1,000,000 and 10,000,000 stored entries spread over the 30-day
    retention, against a full scan of the same data in the same run. Queries as the clients
    send them: gcloud (``timestamp>=`` 1 day ago first, newest first, pageSize 1000) and the
    Python client (its ``timestamp>=`` 1 day ago last, oldest first, the default page of 50),
    and a 31-day bound (every day read; newest first, 1000); each for a typical pair (one of
    2,000) and the hot pair (1% of all entries). ``FLOWBENCH_LIST_SIZES`` (default
    ``1000000,10000000``) and ``FLOWBENCH_LIST_REPEAT`` (default 30) change the sizes and
    runs; the full scan runs 3 times. Each size loads a fresh store, removed afterwards."""
    sizes = [int(x) for x in os.environ.get("FLOWBENCH_LIST_SIZES", "1000000,10000000").split(",")]
    repeat = int(os.environ.get("FLOWBENCH_LIST_REPEAT", "30"))
    out: dict[str, Any] = {"target_p50_ms": {"1000000": 100, "10000000": 1000}}
    for size in sizes:
        out[str(size)] = _list_latency(size, repeat)
    return out


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    i = min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))
    return round(ordered[i] * 1000, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--short", type=int, default=10_000)
    ap.add_argument("--long", type=int, default=20)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--parts", default="1,2,3,4")
    ap.add_argument(
        "--gc-threshold",
        type=int,
        default=10_000,
        help="gen-0 threshold of Python's cycle collector (default: the daemon's, 10000; "
        "Python's own is 700)",
    )
    args = ap.parse_args()
    gc.set_threshold(args.gc_threshold, 10, 10)
    if os.geteuid() != 0:
        sys.exit("bench/flowlogs.py needs root: it creates network namespaces")
    out: dict[str, Any] = {}
    parts = {p.strip() for p in args.parts.split(",")}
    if "1" in parts:
        out["accounting"] = part1(args.short, args.long)
    if "2" in parts:
        out["ingest"] = part2()
    if "3" in parts:
        out["list_latency"] = part3()
    if "4" in parts:
        out["collector_cpu"] = part4(args.rate, args.seconds)
        out["collector_cpu"]["python_gc_threshold"] = list(gc.get_threshold())
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
