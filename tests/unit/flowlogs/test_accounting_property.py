"""Property: at flowSampling 1.0, the records of every stream add up to conntrack's counters,
whatever the ticks, interval lengths, destroy events (late ones included), restarts, and ports
reused any number of times between two listings (same tuple, same conntrack id: the kernel's
start timestamps tell the incarnations apart)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from intranode.domain.flowlogs.aggregate import Aggregator, FlowId, SavedFlow
from intranode.domain.flowlogs.inventory import (
    InstanceInfo,
    Inventory,
    InventoryInput,
    LogConfig,
    SubnetInfo,
)
from intranode.domain.flowlogs.observations import ConntrackEntry, Counters, FiveTuple
from intranode.domain.flowlogs.records import build_entries

from .world import T0

IPS = ("10.4.0.5", "10.4.0.9", "10.4.1.7", "10.0.1.10", "192.0.2.1")  # the last is no VM


def _inventory(interval_a: int, interval_b: int) -> Inventory:
    subnets = [
        SubnetInfo("s/a", "1", "a", "p", "r", "vpc", LogConfig(True, interval_a, 1.0)),
        SubnetInfo("s/b", "2", "b", "p", "r", "vpc", LogConfig(True, interval_b, 1.0)),
    ]
    instances = [
        InstanceInfo("i/a", "a", "p", "r-a", "vpc", "s/a", "10.0.1.10", ("10.4.0.0/24",)),
        InstanceInfo("i/b", "b", "p", "r-b", "vpc", "s/b", "10.0.2.10", ("10.4.1.0/24",)),
    ]
    return Inventory(InventoryInput(subnets, instances))


def _is_vm(ip: str) -> bool:
    return not ip.startswith("192.")


@dataclass
class World:
    inv: Inventory
    now: float = T0
    rows: dict[FlowId, SavedFlow] = field(default_factory=dict)
    limit: int | None = None  # buckets per flush (a collector behind on its writes)
    records: list[dict[str, object]] = field(default_factory=list)
    agg: Aggregator | None = None

    def resolve(self, netns: str, ip: str):  # type: ignore[no-untyped-def]
        return self.inv.endpoint("vpc", ip)

    def start(self) -> Aggregator:
        self.agg = Aggregator(self.resolve, self.now, gone_grace=60.0)
        self.agg.restore(list(self.rows.values()))
        return self.agg

    def flush(self, everything: bool = False) -> None:
        assert self.agg is not None
        limit = None if everything else self.limit
        plan = self.agg.flush_plan(self.now, everything=everything, limit=limit)
        self.records += build_entries(plan.buckets)
        for row in plan.upserts:
            self.rows[row.fid] = row
        for fid in plan.deletes:
            del self.rows[fid]
        self.agg.commit(plan)


flow_st = st.tuples(
    st.sampled_from(IPS), st.integers(1024, 1030), st.sampled_from(IPS), st.sampled_from((80, 443))
).filter(lambda f: f[0] != f[2])
step_st = st.tuples(
    st.floats(0.05, 40.0),  # time passes
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(0, 5)), max_size=4),
    st.sampled_from(
        (
            "snapshot",
            "snapshot",
            "snapshot",
            "destroy",
            "vanish",
            "reuse",
            "reuse",
            "restart",
            "none",
        )
    ),
    st.integers(0, 3),  # which flow a destroy or vanish ends
    st.floats(0.0, 3.0),  # how late its event time lies before now
)


@settings(max_examples=int(os.environ.get("FLOW_EXAMPLES", "300")), deadline=None)
@given(
    flows=st.lists(flow_st, min_size=1, max_size=4, unique_by=lambda f: (f[0], f[1], f[2], f[3])),
    intervals=st.tuples(st.sampled_from((5, 30, 60)), st.sampled_from((5, 30, 60))),
    steps=st.lists(step_st, max_size=25),
    limit=st.one_of(st.none(), st.integers(1, 3)),
)
def test_records_add_up_to_the_conntrack_counters(
    flows: list[tuple[str, int, str, int]],
    intervals: tuple[int, int],
    limit: int | None,
    steps: list[tuple[float, list[tuple[int, int, int]], str, int, float]],
) -> None:
    w = World(_inventory(*intervals), limit=limit)
    agg = w.start()
    # An entry exists because a packet created it: every incarnation has sent one.
    counters = {i: [Counters(1, 60), Counters()] for i in range(len(flows))}
    earlier = {i: [Counters(), Counters()] for i in range(len(flows))}  # ended incarnations
    alive = set(counters)
    late: list[ConntrackEntry] = []  # destroy events not delivered yet
    started = dict.fromkeys(counters, T0)  # when each flow's current incarnation began

    def entry(i: int, when: float | None = None) -> ConntrackEntry:
        src, sport, dst, dport = flows[i]
        return ConntrackEntry(
            100 + i,
            FiveTuple(6, src, dst, sport, dport),
            FiveTuple(6, dst, src, dport, sport),
            counters[i][0],
            counters[i][1],
            int((w.now if when is None else when) - started[i]),  # conntrack's delta-time
            when,
            round(started[i] * 1e9),  # the kernel's start timestamp
        )

    for dt, growth, action, victim, lateness in steps:
        w.now += dt
        for i, p, r in growth:
            if i in alive:
                o, rp = counters[i]
                counters[i] = [o + Counters(p, p * 40 + p), rp + Counters(r, r * 60)]
        if action == "snapshot":
            agg.observe_snapshot("rt", [entry(i) for i in sorted(alive)], w.now)
        elif action == "destroy" and victim in alive:
            alive.discard(victim)
            agg.observe_destroyed("rt", [entry(victim, w.now - lateness)], w.now)
        elif action == "vanish" and victim in alive:
            # Its last counters are in a snapshot, then it leaves conntrack and the destroy
            # event is lost: a restart before the grace ends must still report it all.
            agg.observe_snapshot("rt", [entry(i) for i in sorted(alive)], w.now)
            alive.discard(victim)
        elif action == "reuse" and victim in alive:
            # The client reuses its port: conntrack replaces the entry by a new one with the
            # same id and tuple; the old one's destroy event comes a step later.
            late.append(entry(victim, w.now))
            earlier[victim] = [
                a + b for a, b in zip(earlier[victim], counters[victim], strict=True)
            ]
            counters[victim] = [Counters(1, 60), Counters()]
            started[victim] = w.now
        elif action == "restart":
            w.flush()  # a crash right after a commit: memory is lost, the rows stay
            agg = w.start()
        if late and action != "reuse":
            agg.observe_destroyed("rt", late, w.now)
            late = []
        agg.expire(w.now)
        w.flush()
    if late:
        agg.observe_destroyed("rt", late, w.now)
    for i in sorted(alive):  # the end: every flow is destroyed, its event delivered
        agg.observe_destroyed("rt", [entry(i, w.now)], w.now + 1)
    w.now += 61  # vanished flows are given up on
    agg.observe_snapshot("rt", [], w.now)
    agg.expire(w.now)
    w.now += 61
    agg.expire(w.now)
    w.flush(everything=True)

    got: dict[tuple[str, int, str, int, str], Counters] = {}
    for rec in w.records:
        p = rec["jsonPayload"]
        assert isinstance(p, dict)
        c = p["connection"]
        key = (c["src_ip"], c["src_port"], c["dest_ip"], c["dest_port"], p["reporter"])
        got[key] = got.get(key, Counters()) + Counters(int(p["packets_sent"]), int(p["bytes_sent"]))
    want: dict[tuple[str, int, str, int, str], Counters] = {}
    for i, (src, sport, dst, dport) in enumerate(flows):
        total = [a + b for a, b in zip(earlier[i], counters[i], strict=True)]
        for (a, ap, b, bp), c in (
            ((src, sport, dst, dport), total[0]),
            ((dst, dport, src, sport), total[1]),
        ):
            if not c:
                continue
            if _is_vm(a):
                want[(a, ap, b, bp, "SRC")] = c
            if _is_vm(b):
                want[(a, ap, b, bp, "DEST")] = c
    assert got == want
    assert w.rows == {}  # every flow closed and reported: nothing left to remember
