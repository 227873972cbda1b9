"""From conntrack observations to per-interval flow-log buckets, with exact accounting.

The VPC router's conntrack sees every connection that crosses the VPC once, with ORIGINAL and
REPLY counters. Each connection gives four **streams**: for each direction, the record its
sending VM reports (``SRC``) and the record its receiving VM reports (``DEST``); a same-node
flow with intra-node visibility has the same VM on both ends and so reports all four.

How counters become records:

* A snapshot (``conntrack -L``) is diffed by conntrack id (and ORIGINAL tuple, which guards
  against an id being reused): the growth of each direction since the counters last folded
  is a **delta**, observed in the window ``(last seen, now]``. Destroy events carry the final
  counters and close the flow; a flow that vanishes from snapshots without an event is closed
  after ``gone_grace`` seconds (events can lag or be lost), and closed flows are remembered as
  tombstones for ``tombstone_for`` seconds so a late event is still diffed, never re-counted.
* A client that reuses a port makes conntrack replace the TIME_WAIT entry by a new one with the
  same tuple and often the same id: a listing whose counters went backwards, or whose age
  says it started later, is a new **incarnation** (``FlowId.gen``); a destroy event goes to
  the oldest open incarnation it can be (counters covered, born before the event). Several
  reuses of one tuple within a second can still be told apart only by their counters.
* A delta is folded into the **bucket** of its stream's reporter: key (router netns, 5-tuple of
  the direction, reporter side, interval). The interval is that of the reporting VM's subnet
  (``aggregationInterval``), aligned to multiples of its length since the epoch, chosen by the
  window's midpoint; so several conntrack entries of one 5-tuple in one interval make one
  record. A stream whose reporter is not a VM, or whose subnet has flow logs off, is counted
  as handled at once (there is nothing to report). ``start_time``/``end_time`` are the window
  bounds clipped to the interval: the first and last packet lie between them, to the
  precision of the collector's tick.
* :meth:`Aggregator.flush_plan` lists the buckets whose interval has ended and the flow rows
  to persist; the caller writes the entries and the rows in ONE transaction and then calls
  :meth:`Aggregator.commit`. A row holds, per stream, the counters **accounted** (reported or
  deliberately not reported), and the counters last **observed**. After a crash,
  :meth:`Aggregator.restore` starts each flow from its accounted counters and folds the
  observed-but-unreported rest again at once, so the next snapshot's delta is exactly what
  was not yet reported: nothing is lost and nothing is counted twice. (What a flow sent after
  the last commit is lost only if it also left conntrack before the restart; a closed TCP
  connection stays there for ``nf_conntrack_tcp_timeout_time_wait``, 120 s by default.)
* Denied packets (nflog) never enter conntrack. Egress is sampled before the egress firewall
  and ingress after the ingress firewall, so a denied packet gives a ``SRC`` record (whichever
  direction's rule denied it: a packet denied on ingress had passed egress) and never a
  ``DEST`` one. They are not persisted (a crash loses the denied packets of the open interval).

Public API::

    Aggregator(resolve, start, *, primary_rate=1.0, seed="", gone_grace=60, tombstone_for=300)
      .observe_snapshot(netns, entries, now)   .observe_destroyed(netns, events, now)
      .observe_denied(netns, packets)          .expire(now)
      .flush_plan(now, everything=False) -> FlushPlan     .commit(plan)
      .restore(rows)                           .open_buckets
    Bucket (key: BucketKey, counters, first, last, src, dest, reporter_endpoint)
    SavedFlow (a persisted row), interval_start(t, length)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from intranode.domain.flowlogs.inventory import Endpoint
from intranode.domain.flowlogs.observations import (
    ZERO,
    ConntrackEntry,
    Counters,
    DeniedPacket,
    FiveTuple,
)
from intranode.domain.flowlogs.sampling import keep_primary

SRC, DEST = "SRC", "DEST"
SIDES = (SRC, DEST)
# Stream index = direction * 2 + side: ORIGINAL/SRC, ORIGINAL/DEST, REPLY/SRC, REPLY/DEST.
STREAM_NAMES = ("orig/SRC", "orig/DEST", "reply/SRC", "reply/DEST")
Accounted = tuple[Counters, Counters, Counters, Counters]
Resolver = Callable[[str, str], Endpoint | None]  # (router netns, ip) -> endpoint


def interval_start(t: float, length: int) -> int:
    return math.floor(t / length) * length


@dataclass(frozen=True, slots=True)
class FlowId:
    """One incarnation of a conntrack entry. A client that reuses its port makes conntrack
    replace a TIME_WAIT entry by a new one, which can get the same id (ids hash the entry's
    address and tuple); ``gen`` tells the incarnations apart."""

    netns: str
    ct_id: int
    original: FiveTuple
    gen: int = 0


@dataclass(frozen=True)
class SavedFlow:
    """A persisted flow: its counters accounted per stream (see :data:`STREAM_NAMES`), the
    counters last observed per direction, and when they were observed."""

    netns: str
    ct_id: int
    original: FiveTuple
    reply: FiveTuple
    accounted: Accounted
    observed: tuple[Counters, Counters]
    seen: float
    gen: int = 0

    @property
    def state(self) -> tuple[Accounted, tuple[Counters, Counters]]:
        return (self.accounted, self.observed)

    @property
    def fid(self) -> FlowId:
        return FlowId(self.netns, self.ct_id, self.original, self.gen)


@dataclass(frozen=True, slots=True)
class BucketKey:
    netns: str
    flow: FiveTuple
    reporter: str  # SRC or DEST
    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(eq=False)
class Bucket:
    """One future record: a 5-tuple's packets in one interval, from one reporter."""

    key: BucketKey
    src: Endpoint | None
    dest: Endpoint | None
    counters: Counters = ZERO
    first: float = math.inf
    last: float = -math.inf
    parts: dict[tuple[FlowId, int], Counters] = field(default_factory=dict)

    @property
    def reporter_endpoint(self) -> Endpoint:
        ep = self.src if self.key.reporter == SRC else self.dest
        assert ep is not None  # buckets exist only for a reporting endpoint
        return ep

    @property
    def start_time(self) -> float:
        """When its first packet was seen, at the earliest; within the interval."""
        end = min(max(self.last, self.key.start), self.key.end)
        return min(max(self.first, self.key.start), end)

    @property
    def end_time(self) -> float:
        return min(max(self.last, self.key.start), self.key.end)

    def add(self, delta: Counters, lo: float, hi: float) -> None:
        self.counters = self.counters + delta
        self.first = min(self.first, lo)
        self.last = max(self.last, hi)


@dataclass(frozen=True)
class FlushPlan:
    buckets: list[Bucket]
    upserts: list[SavedFlow]
    deletes: list[FlowId]
    open_from: dict[int, int]
    accounted: dict[FlowId, Accounted]


class _Flow:
    __slots__ = (
        "accounted",
        "born",
        "closed",
        "dirty",
        "entry",
        "evented",
        "fid",
        "folded",
        "gone",
        "mark",
        "observed",
        "parts",
        "reply",
        "saved",
        "seen",
        "start",
    )

    def __init__(self, fid: FlowId, reply: FiveTuple, seen: float) -> None:
        self.fid = fid
        self.reply = reply
        self.observed = [ZERO, ZERO]
        self.folded = [ZERO, ZERO, ZERO, ZERO]
        self.accounted = [ZERO, ZERO, ZERO, ZERO]
        self.saved: tuple[Accounted, tuple[Counters, Counters]] | None = None
        self.seen = seen
        self.gone: float | None = None  # absent from snapshots since
        self.closed: float | None = None  # destroyed (or given up on) at
        self.parts = 0  # contributions in buckets not yet flushed
        self.dirty = False  # accounted or closed changed since the last plan
        self.entry: ConntrackEntry | None = None  # the snapshot row last folded
        self.born = seen  # when this incarnation was first observed
        self.start: float | None = None  # when it started, from conntrack's age
        self.evented = False  # its destroy event was seen
        self.mark = 0  # the snapshot that last listed it


class Aggregator:
    def __init__(
        self,
        resolve: Resolver,
        start: float,
        *,
        primary_rate: float = 1.0,
        seed: str = "",
        gone_grace: float = 60.0,
        tombstone_for: float = 300.0,
    ) -> None:
        self._resolve = resolve
        self._start = start
        self.primary_rate = primary_rate
        self.seed = seed
        self.gone_grace = gone_grace
        self.tombstone_for = tombstone_for
        self._flows: dict[str, dict[FlowId, _Flow]] = {}
        self._buckets: dict[BucketKey, Bucket] = {}
        self._open_from: dict[int, int] = {}
        self._last_snapshot: dict[str, float] = {}
        self._by_id: dict[str, dict[int, _Flow]] = {}  # the latest flow of each conntrack id
        self._gens: dict[tuple[str, int, FiveTuple], int] = {}  # the latest incarnation
        self._snapshots = 0
        self._dirty: set[FlowId] = set()

    # -- introspection ------------------------------------------------------------------------
    @property
    def open_buckets(self) -> list[Bucket]:
        return list(self._buckets.values())

    def flow_count(self, netns: str | None = None) -> int:
        if netns is not None:
            return len(self._flows.get(netns, {}))
        return sum(len(f) for f in self._flows.values())

    # -- observations --------------------------------------------------------------------------
    def restore(self, rows: Iterable[SavedFlow]) -> None:
        """Flows persisted by an earlier run: each resumes from its accounted counters, and
        what had been observed but not yet reported is folded again at once (so it is
        reported even if the flow ended while nobody watched)."""
        for row in rows:
            flow = _Flow(row.fid, row.reply, row.seen)
            key = (row.netns, row.ct_id, row.original)
            if row.gen >= self._gens.get(key, -1):
                self._gens[key] = row.gen
                self._by_id.setdefault(row.netns, {})[row.ct_id] = flow
            flow.accounted = list(row.accounted)
            flow.folded = list(row.accounted)
            flow.observed = list(row.observed)
            flow.saved = row.state
            self._flows.setdefault(row.netns, {})[row.fid] = flow
            for idx in range(4):
                delta = flow.observed[idx // 2] - flow.folded[idx]
                if delta.packets > 0 or delta.bytes > 0:
                    self._fold(flow, idx, delta, row.seen, row.seen)

    def observe_snapshot(self, netns: str, entries: Sequence[ConntrackEntry], now: float) -> None:
        flows = self._flows.setdefault(netns, {})
        by_id = self._by_id.setdefault(netns, {})
        prev = self._last_snapshot.get(netns)
        self._snapshots += 1
        mark = self._snapshots
        for e in entries:
            flow = by_id.get(e.ct_id)
            if flow is not None and flow.entry is e and flow.closed is None:
                # The same row as last time (the hot path): nothing moved since ``seen``.
                flow.mark = mark
                flow.seen = now
                continue
            if flow is None or flow.fid.original != e.original:
                flow = self._latest(netns, e.ct_id, e.original)
            if flow is not None and (
                flow.evented or not _covers(e, flow) or _restarted(e, flow, now)
            ):
                # A new incarnation: the old one ended (its destroy event may still come).
                if flow.closed is None and flow.gone is None:
                    flow.gone = now
                flow = None
            if flow is None:
                lo = _started(e.age, now)
                if prev is not None:
                    lo = max(lo, prev)  # it was not in the last snapshot
                flow = self._new_flow(netns, e, lo)
                flow.born = now
            by_id[e.ct_id] = flow
            if e.age is not None:
                flow.start = max(flow.start or -math.inf, now - e.age)
            self._update(flow, e, now)
            flow.entry = e
            flow.mark = mark
        for flow in flows.values():
            if flow.mark != mark and flow.gone is None and flow.closed is None:
                flow.gone = now
        self._last_snapshot[netns] = now

    def observe_destroyed(self, netns: str, events: Sequence[ConntrackEntry], now: float) -> None:
        """Destroy events: final counters; the flow is closed."""
        for e in events:
            t = e.time if e.time is not None else now
            flow = self._owner_of_event(netns, e, t)
            if flow is None:
                flow = self._new_flow(netns, e, _started(e.age, t))
                self._by_id.setdefault(netns, {}).setdefault(e.ct_id, flow)
            if _covers(e, flow):
                self._update(flow, e, max(t, flow.seen))
            flow.evented = True
            if flow.closed is None:
                flow.closed = now
                flow.dirty = True
                self._dirty.add(flow.fid)

    def _latest(self, netns: str, ct_id: int, original: FiveTuple) -> _Flow | None:
        gen = self._gens.get((netns, ct_id, original))
        if gen is None:
            return None
        return self._flows[netns].get(FlowId(netns, ct_id, original, gen))

    def _new_flow(self, netns: str, e: ConntrackEntry, seen: float) -> _Flow:
        key = (netns, e.ct_id, e.original)
        gen = self._gens.get(key, -1) + 1
        self._gens[key] = gen
        fid = FlowId(netns, e.ct_id, e.original, gen)
        flow = self._flows.setdefault(netns, {})[fid] = _Flow(fid, e.reply, seen)
        return flow

    def _owner_of_event(self, netns: str, e: ConntrackEntry, t: float) -> _Flow | None:
        """The incarnation a destroy event ends: of those still open whose counters it can
        be, the oldest that was born before the event (one cannot end before it began), else
        the oldest; None when it is none of them (one never seen in a snapshot)."""
        latest = self._latest(netns, e.ct_id, e.original)
        if latest is None:
            return None
        flows = self._flows[netns]
        fits = sorted(
            (
                f
                for gen in range(latest.fid.gen + 1)
                if (f := flows.get(FlowId(netns, e.ct_id, e.original, gen))) is not None
                and not f.evented
                and _covers(e, f)
            ),
            key=lambda f: f.born,
        )
        for flow in fits:
            if flow.born <= t:
                return flow
        return fits[0] if fits else None

    def observe_denied(self, netns: str, packets: Sequence[DeniedPacket]) -> None:
        for p in packets:
            ep = self._resolve(netns, p.tuple.src_ip)
            if ep is None or not ep.logging:
                continue
            bucket = self._bucket(netns, p.tuple, SRC, ep, p.time, p.time)
            bucket.add(Counters(1, p.length), p.time, p.time)

    def expire(self, now: float) -> None:
        """Close flows gone for longer than the grace; forget old tombstones."""
        for flows in self._flows.values():
            drop: list[FlowId] = []
            for fid, flow in flows.items():
                if flow.closed is None:
                    if flow.gone is not None and now - flow.gone >= self.gone_grace:
                        flow.closed = now
                        flow.dirty = True
                        self._dirty.add(fid)
                elif (
                    now - flow.closed >= self.tombstone_for
                    and flow.parts == 0
                    and flow.saved is None
                    and fid not in self._dirty
                ):
                    drop.append(fid)
            for fid in drop:
                gone = flows.pop(fid)
                by_id = self._by_id.get(fid.netns, {})
                if by_id.get(fid.ct_id) is gone:
                    del by_id[fid.ct_id]
                key = (fid.netns, fid.ct_id, fid.original)
                if self._gens.get(key) == fid.gen:
                    del self._gens[key]

    # -- folding -----------------------------------------------------------------------------
    def _update(self, flow: _Flow, e: ConntrackEntry, now: float) -> None:
        orig, reply = e.orig_counters, e.reply_counters
        if flow.closed is not None and not flow.evented and (orig, reply) != tuple(flow.observed):
            flow.closed = None  # given up on too early: seen again with more traffic
        lo = flow.seen
        if flow.observed[0] != orig or flow.observed[1] != reply:
            flow.observed = [orig, reply]
            flow.dirty = True
            self._dirty.add(flow.fid)
        flow.gone = None
        for idx in range(4):
            delta = flow.observed[idx // 2] - flow.folded[idx]
            if delta:
                self._fold(flow, idx, delta, lo, now)
        flow.seen = max(flow.seen, now)

    def _fold(self, flow: _Flow, idx: int, delta: Counters, lo: float, hi: float) -> None:
        fid = flow.fid
        tup = fid.original if idx < 2 else flow.reply
        side = SIDES[idx % 2]
        flow.folded[idx] = flow.folded[idx] + delta
        ep = self._resolve(fid.netns, tup.src_ip if side == SRC else tup.dest_ip)
        stream = f"{fid.netns}|{fid.ct_id}|{STREAM_NAMES[idx]}"
        if (
            ep is None
            or not ep.logging
            or not keep_primary(self.seed, stream, hi, self.primary_rate)
        ):
            flow.accounted[idx] = flow.accounted[idx] + delta
            flow.dirty = True
            self._dirty.add(fid)
            return
        bucket = self._bucket(fid.netns, tup, side, ep, lo, hi)
        bucket.add(delta, lo, hi)
        part = (fid, idx)
        before = bucket.parts.get(part)
        if before is None:
            flow.parts += 1
            bucket.parts[part] = delta
        else:
            bucket.parts[part] = before + delta

    def _bucket(
        self, netns: str, tup: FiveTuple, side: str, ep: Endpoint, lo: float, hi: float
    ) -> Bucket:
        length = ep.subnet.log.interval
        earliest = self._open_from.get(length)
        if earliest is None:
            earliest = interval_start(self._start, length)
        start = interval_start(max((lo + hi) / 2, earliest), length)
        key = BucketKey(netns, tup, side, start, length)
        bucket = self._buckets.get(key)
        if bucket is None:
            src = ep if side == SRC else self._resolve(netns, tup.src_ip)
            dest = ep if side == DEST else self._resolve(netns, tup.dest_ip)
            bucket = self._buckets[key] = Bucket(key, src, dest)
        return bucket

    # -- flushing ------------------------------------------------------------------------------
    def flush_plan(self, now: float, *, everything: bool = False) -> FlushPlan:
        """The buckets whose interval ended by ``now`` (all of them with ``everything``, e.g.
        at shutdown) and the flow rows that must be written with their entries. Changes
        nothing until :meth:`commit`."""
        due = [b for b in self._buckets.values() if everything or b.key.end <= now]
        accounted: dict[FlowId, list[Counters]] = {}
        flushed_parts: dict[FlowId, int] = {}
        for b in due:
            for (fid, idx), c in b.parts.items():
                grown = accounted.get(fid)
                if grown is None:
                    grown = accounted[fid] = list(self._flow(fid).accounted)
                grown[idx] = grown[idx] + c
                flushed_parts[fid] = flushed_parts.get(fid, 0) + 1
        upserts: list[SavedFlow] = []
        deletes: list[FlowId] = []
        final: dict[FlowId, Accounted] = {}
        for fid in self._dirty | accounted.keys():
            flow = self._flow(fid)
            acc = _accounted(accounted.get(fid) or flow.accounted)
            final[fid] = acc
            finished = flow.closed is not None and flow.parts == flushed_parts.get(fid, 0)
            observed = (flow.observed[0], flow.observed[1])
            if finished:
                if flow.saved is not None:
                    deletes.append(fid)
            elif (acc, observed) != flow.saved:
                upserts.append(
                    SavedFlow(
                        fid.netns,
                        fid.ct_id,
                        fid.original,
                        flow.reply,
                        acc,
                        observed,
                        flow.seen,
                        fid.gen,
                    )
                )
        open_from = dict(self._open_from)
        lengths = {b.key.length for b in self._buckets.values()} | set(open_from)
        for length in lengths:
            mark = interval_start(now, length)
            if everything:
                mark += length
            open_from[length] = max(open_from.get(length, mark), mark)
        return FlushPlan(due, upserts, deletes, open_from, final)

    def commit(self, plan: FlushPlan) -> None:
        """The plan's entries and rows are stored: make it so in memory."""
        for b in plan.buckets:
            del self._buckets[b.key]
            for fid, _ in b.parts:
                self._flow(fid).parts -= 1
        for fid, acc in plan.accounted.items():
            flow = self._flow(fid)
            flow.accounted = list(acc)
            flow.dirty = False
            self._dirty.discard(fid)
        for row in plan.upserts:
            self._flow(row.fid).saved = row.state
        for fid in plan.deletes:
            self._flow(fid).saved = None
        self._open_from = plan.open_from

    def _flow(self, fid: FlowId) -> _Flow:
        return self._flows[fid.netns][fid]


def _started(age: int | None, now: float) -> float:
    """The earliest a flow ``age`` whole seconds old can have started."""
    return now if age is None else now - age - 1


def _restarted(e: ConntrackEntry, flow: _Flow, now: float) -> bool:
    """Whether conntrack's age says ``e`` started after ``flow`` did. Ages are whole seconds,
    so estimates of one start lie within a second of each other; ``flow.start`` is the
    latest estimate."""
    return e.age is not None and flow.start is not None and now - e.age - flow.start > 1.0


def _covers(e: ConntrackEntry, flow: _Flow) -> bool:
    """Whether ``e``'s counters can have grown from what ``flow`` last observed."""
    return e.orig_counters.covers(flow.observed[0]) and e.reply_counters.covers(flow.observed[1])


def _accounted(v: Sequence[Counters]) -> Accounted:
    return (v[0], v[1], v[2], v[3])
