"""From conntrack observations to per-interval flow-log buckets, with exact accounting.

The VPC router's conntrack sees every connection that crosses the VPC once, with ORIGINAL and
REPLY counters. Each connection gives four **streams**: for each direction, the record its
sending VM reports (``SRC``) and the record its receiving VM reports (``DEST``); a same-node
flow with intra-node visibility has the same VM on both ends and so reports all four.

How counters become records:

* Each conntrack entry is one **incarnation** of a connection. Where conntrack prints kernel
  timestamps (``ConntrackEntry.start``), ``(conntrack id, start)`` names it exactly: a client
  that reuses a port makes conntrack replace the TIME_WAIT entry by a new one with the same
  tuple and often the same id, but a new start, however often that happens between two
  listings. Its persisted key (``FlowId.gen``) is then that start.
* Without timestamps (an older conntrack, or ``nf_conntrack_timestamp`` off when the entry
  was made) incarnations are told apart as well as counters and whole-second ages allow: a
  listing whose counters went backwards, or whose age says it started later, is a new
  incarnation (``gen`` 0, 1, ...), and a destroy event goes to the oldest open incarnation it
  can be (counters covered, born before the event). Two reuses within one listing interval
  can then be confused; with timestamps they cannot.
* A listing (``conntrack -L``) is diffed per incarnation: the growth of each direction since
  it was last observed is a **delta**, observed in the window ``(previous listing, now]``, or
  ``(start, now]`` for an incarnation first seen. Destroy events carry the final counters and
  close the incarnation; one that vanishes from listings without an event is closed after
  ``gone_grace`` seconds (events can lag or be lost) and remembered as a tombstone for
  ``tombstone_for`` seconds, so a late event is still diffed, never re-counted. Entries a
  listing repeats unchanged (the very same object, see ``conntrack.parse_output``) cost a
  dictionary lookup.
* A delta is folded into the **bucket** of its stream's reporter: key (router netns, 5-tuple of
  the direction, reporter side, interval). The interval is that of the reporting VM's subnet
  (``aggregationInterval``), aligned to multiples of its length since the epoch, chosen by the
  window's midpoint; so several incarnations of one 5-tuple in one interval make one record.
  A stream whose reporter is not a VM, or whose subnet has flow logs off, is counted as
  handled at once (there is nothing to report). ``start_time``/``end_time`` are the window
  bounds clipped to the interval: the first and last packet lie between them.
* :meth:`Aggregator.flush_plan` lists the buckets whose interval has ended and the flow rows
  to persist; the caller writes the entries and the rows in ONE transaction and then calls
  :meth:`Aggregator.commit`. A row holds, per stream, the counters **accounted** (reported or
  deliberately not reported), and the counters last **observed**. After a crash,
  :meth:`Aggregator.restore` starts each incarnation from its accounted counters and folds the
  observed-but-unreported rest again at once, so the next listing's delta is exactly what
  was not yet reported: nothing is lost and nothing is counted twice. (What a flow sent after
  the last commit is lost only if it also left conntrack before the restart; a closed TCP
  connection stays there for ``nf_conntrack_tcp_timeout_time_wait``, 120 s by default.) An
  incarnation that is closed and fully reported is forgotten at once.
* Denied packets (nflog) never enter conntrack. Egress is sampled before the egress firewall
  and ingress after the ingress firewall, so a denied packet gives a ``SRC`` record (whichever
  direction's rule denied it: a packet denied on ingress had passed egress) and never a
  ``DEST`` one. They are not persisted (a crash loses the denied packets of the open interval).

Public API::

    Aggregator(resolve, start, *, primary_rate=1.0, seed="", gone_grace=60, tombstone_for=300)
      .observe_snapshot(netns, entries, now)   .observe_destroyed(netns, events, now)
      .observe_denied(netns, packets)          .expire(now)
      .flush_plan(now, everything=False) -> FlushPlan     .commit(plan)
      .restore(rows)                           .endpoints_changed()   .open_buckets
    Bucket (key: BucketKey, counters, first, last, src, dest, reporter_endpoint)
    SavedFlow (a persisted row), interval_start(t, length)

``resolve`` is asked once per incarnation and stream; call :meth:`Aggregator.
endpoints_changed` whenever its answers may have changed (a new inventory, a new router).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

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
State = tuple[Accounted, tuple[Counters, Counters]]
# A FlowId.gen at least this large is a kernel start time in ns; smaller ones number the
# incarnations of entries without timestamps.
EXACT_GEN = 1 << 40
ROUTE_CACHE = 100_000  # address pairs whose endpoints are remembered


def interval_start(t: float, length: int) -> int:
    return math.floor(t / length) * length


class FlowId(NamedTuple):
    """One incarnation of a conntrack entry, as persisted: ``gen`` is its kernel start time
    in ns, or (without timestamps) its number among the incarnations of the same id and
    tuple."""

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
    def state(self) -> State:
        return (self.accounted, self.observed)

    @property
    def fid(self) -> FlowId:
        return FlowId(self.netns, self.ct_id, self.original, self.gen)


class BucketKey(NamedTuple):
    netns: str
    flow: FiveTuple
    reporter: str  # SRC or DEST
    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


# What a stream reports through: the reporter, both ends and the reporter's side. None:
# nothing to report (the stream is accounted at once).
_Route = tuple[Endpoint, Endpoint | None, Endpoint | None, str]
_Routes = tuple[_Route | None, _Route | None, _Route | None, _Route | None]


class _Flow:
    """One incarnation in memory. ``observed`` is always fully folded into buckets or
    ``accounted``."""

    __slots__ = (
        "accounted",
        "born",
        "closed",
        "entry",
        "epoch",
        "evented",
        "exact",
        "fid",
        "gone",
        "mark",
        "observed",
        "parts",
        "reply",
        "routes",
        "saved",
        "seen",
        "start",
        "version",
    )

    def __init__(self, fid: FlowId, reply: FiveTuple, seen: float) -> None:
        self.fid = fid
        self.reply = reply
        self.observed = [ZERO, ZERO]
        self.accounted = [ZERO, ZERO, ZERO, ZERO]
        self.version = 0  # bumped whenever ``accounted`` or ``observed`` change
        self.saved: int | None = None  # the version its persisted row holds (None: no row)
        self.seen = seen  # when ``observed`` was observed
        self.gone: float | None = None  # absent from listings since
        self.closed: float | None = None  # destroyed (or given up on) at
        self.parts = 0  # contributions in buckets not yet flushed
        self.entry: ConntrackEntry | None = None  # the listing row last folded
        self.born = seen  # when this incarnation was first observed
        self.start: float | None = None  # without timestamps: its start, from the age
        self.exact: int | None = None  # the kernel's start time (ns), when known
        self.evented = False  # its destroy event was seen
        self.mark = 0  # the listing of its router that last listed it
        self.routes: _Routes = (None, None, None, None)
        self.epoch = -1  # the endpoints version ``routes`` were resolved under


class Bucket:
    """One future record: a 5-tuple's packets in one interval, from one reporter. ``parts``
    lists what each incarnation's stream added, flat: flow, stream index, packets, bytes."""

    __slots__ = ("bytes", "dest", "first", "key", "last", "packets", "parts", "src")

    def __init__(self, key: BucketKey, src: Endpoint | None, dest: Endpoint | None) -> None:
        self.key = key
        self.src = src
        self.dest = dest
        self.packets = 0
        self.bytes = 0
        self.first = math.inf
        self.last = -math.inf
        self.parts: list[Any] = []

    @property
    def counters(self) -> Counters:
        return Counters(self.packets, self.bytes)

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
        self.packets += delta.packets
        self.bytes += delta.bytes
        if lo < self.first:
            self.first = lo
        if hi > self.last:
            self.last = hi


@dataclass(frozen=True)
class FlushPlan:
    buckets: list[Bucket]
    upserts: list[SavedFlow]
    deletes: list[FlowId]
    open_from: dict[int, int]
    accounted: dict[_Flow, Accounted]
    saved: dict[_Flow, int | None]


class _Router:
    """The incarnations seen in one router namespace."""

    __slots__ = ("by_id", "exact", "flows", "gens", "gone", "last", "mark", "netns", "open")

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self.flows: dict[FlowId, _Flow] = {}
        self.by_id: dict[int, _Flow] = {}  # the incarnation last listed under each id
        self.exact: dict[tuple[int, int], _Flow] = {}  # (id, kernel start) -> incarnation
        self.gens: dict[tuple[int, FiveTuple], int] = {}  # without timestamps: latest gen
        self.open: set[_Flow] = set()  # not closed
        self.gone: set[_Flow] = set()  # open but absent from the last listing
        self.last: float | None = None  # when the last listing was taken
        self.mark = 0  # how many listings were taken


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
        self._routers: dict[str, _Router] = {}
        self._buckets: dict[BucketKey, Bucket] = {}
        self._ends: dict[int, list[Bucket]] = {}  # open buckets by interval end
        self._open_from: dict[int, int] = {}
        self._dirty: set[_Flow] = set()  # accounted, observed or closed since the last plan
        self._tombstones: collections.deque[tuple[float, _Flow]] = collections.deque()
        self._unsaved: set[_Flow] = set()  # closed with a row that is still to be deleted
        self._epoch = 0
        self._route_cache: dict[tuple[str, str, str, str, str], _Routes] = {}
        self._lengths: set[int] = set()  # the interval lengths buckets were made for

    # -- introspection ------------------------------------------------------------------------
    @property
    def open_buckets(self) -> list[Bucket]:
        return list(self._buckets.values())

    def flow_count(self, netns: str | None = None) -> int:
        if netns is not None:
            r = self._routers.get(netns)
            return 0 if r is None else len(r.flows)
        return sum(len(r.flows) for r in self._routers.values())

    def has_due(self, now: float) -> bool:
        """Whether a plan made now would hold records or a row to delete."""
        return bool(self._unsaved) or any(end <= now for end in self._ends)

    def endpoints_changed(self) -> None:
        """The resolver may answer differently now: streams are routed afresh."""
        self._epoch += 1
        self._route_cache = {}

    def _router(self, netns: str) -> _Router:
        r = self._routers.get(netns)
        if r is None:
            r = self._routers[netns] = _Router(netns)
        return r

    # -- observations --------------------------------------------------------------------------
    def restore(self, rows: Iterable[SavedFlow]) -> None:
        """Flows persisted by an earlier run: each resumes from its accounted counters, and
        what had been observed but not yet reported is folded again at once (so it is
        reported even if the flow ended while nobody watched)."""
        for row in rows:
            r = self._router(row.netns)
            flow = _Flow(row.fid, row.reply, row.seen)
            if row.gen >= EXACT_GEN:
                flow.exact = row.gen
                r.exact[(row.ct_id, row.gen)] = flow
            else:
                key = (row.ct_id, row.original)
                if row.gen >= r.gens.get(key, -1):
                    r.gens[key] = row.gen
            latest = r.by_id.get(row.ct_id)
            if latest is None or latest.fid.gen <= row.gen:
                r.by_id[row.ct_id] = flow
            flow.accounted = list(row.accounted)
            flow.observed = list(row.observed)
            flow.saved = flow.version
            r.flows[flow.fid] = flow
            r.open.add(flow)
            for idx in range(4):
                delta = flow.observed[idx // 2] - flow.accounted[idx]
                if delta.packets > 0 or delta.bytes > 0:
                    self._fold(flow, idx, delta, row.seen, row.seen)

    def observe_snapshot(self, netns: str, entries: Sequence[ConntrackEntry], now: float) -> None:
        r = self._router(netns)
        prev, prev_mark = r.last, r.mark
        mark = r.mark = prev_mark + 1
        by_id = r.by_id
        for e in entries:
            flow = by_id.get(e.ct_id)
            if flow is not None and flow.entry is e and flow.closed is None:
                # The same row as last time (the hot path): nothing moved.
                flow.mark = mark
                if flow.gone is not None:
                    flow.gone = None
                    r.gone.discard(flow)
                continue
            if e.start is not None:
                found = self._exact(r, e, now)
            else:
                found = self._by_counters(r, e, flow, now)
            if found is None:
                continue
            flow = found
            by_id[e.ct_id] = flow
            lo = prev if prev is not None and flow.mark == prev_mark else flow.seen
            self._update(r, flow, e, lo, now)
            flow.entry = e
            flow.mark = mark
        for flow in r.open:
            if flow.mark != mark and flow.gone is None:
                flow.gone = now
                r.gone.add(flow)
        r.last = now

    def _exact(self, r: _Router, e: ConntrackEntry, now: float) -> _Flow | None:
        """The incarnation a timestamped listing row belongs to (a new one if none); None
        when it is one whose destroy event was already folded."""
        assert e.start is not None
        flow = r.exact.get((e.ct_id, e.start))
        if flow is not None and flow.fid.original == e.original:
            return None if flow.evented else flow
        flow = self._adopt(r, e)
        if flow is None:
            flow = self._new_flow(r, e, e.start / 1e9)
            flow.born = now
        return flow

    def _adopt(self, r: _Router, e: ConntrackEntry) -> _Flow | None:
        """An incarnation without a start time (restored from a run that read none) that a
        timestamped row continues: open, same id and tuple, counters covered."""
        if not r.gens:
            return None
        assert e.start is not None
        latest = self._latest(r, e.ct_id, e.original)
        if (
            latest is None
            or latest.exact is not None
            or latest.evented
            or latest.closed is not None
            or not _covers(e, latest)
            or e.start / 1e9 > latest.seen
        ):
            return None
        latest.exact = e.start
        r.exact[(e.ct_id, e.start)] = latest
        return latest

    def _by_counters(self, r: _Router, e: ConntrackEntry, hint: _Flow | None, now: float) -> _Flow:
        """The incarnation a row without a start time belongs to, told by its counters and
        age (a new one when they cannot have grown from the latest one's)."""
        flow = hint
        if flow is None or flow.fid.original != e.original or flow.exact is not None:
            flow = self._latest(r, e.ct_id, e.original)
        if flow is not None and (flow.evented or not _covers(e, flow) or _restarted(e, flow, now)):
            # A new incarnation: the old one ended (its destroy event may still come).
            if flow.closed is None and flow.gone is None:
                flow.gone = now
                r.gone.add(flow)
            flow = None
        if flow is None:
            lo = _started(e.age, now)
            if r.last is not None:
                lo = max(lo, r.last)  # it was not in the last listing
            flow = self._new_flow(r, e, lo)
            flow.born = now
        if e.age is not None:
            flow.start = max(flow.start or -math.inf, now - e.age)
        return flow

    def observe_destroyed(self, netns: str, events: Sequence[ConntrackEntry], now: float) -> None:
        """Destroy events: final counters; the incarnation is closed."""
        r = self._router(netns)
        for e in events:
            t = e.time if e.time is not None else now
            flow = self._owner_of_event(r, e, t)
            if flow is None:
                lo = e.start / 1e9 if e.start is not None else _started(e.age, t)
                flow = self._new_flow(r, e, min(lo, t))
                r.by_id.setdefault(e.ct_id, flow)
            if flow.evented:
                continue  # the same event twice: its counters are folded already
            if _covers(e, flow):
                lo = r.last if r.last is not None and flow.mark == r.mark else flow.seen
                self._update(r, flow, e, lo, max(t, lo))
            flow.evented = True
            self._close(r, flow, now)

    def _latest(self, r: _Router, ct_id: int, original: FiveTuple) -> _Flow | None:
        gen = r.gens.get((ct_id, original))
        if gen is None:
            return None
        return r.flows.get(FlowId(r.netns, ct_id, original, gen))

    def _new_flow(self, r: _Router, e: ConntrackEntry, seen: float) -> _Flow:
        netns = r.netns
        if e.start is not None:
            gen = e.start
        else:
            key = (e.ct_id, e.original)
            gen = r.gens.get(key, -1) + 1
            r.gens[key] = gen
        flow = _Flow(FlowId(netns, e.ct_id, e.original, gen), e.reply, seen)
        if e.start is not None:
            flow.exact = e.start
            r.exact[(e.ct_id, e.start)] = flow
        r.flows[flow.fid] = flow
        r.open.add(flow)
        return flow

    def _owner_of_event(self, r: _Router, e: ConntrackEntry, t: float) -> _Flow | None:
        """The incarnation a destroy event ends; None when it is none seen so far.
        Timestamped: the one with its start. Otherwise, of those still open whose counters
        it can be, the oldest that was born before the event (one cannot end before it
        began), else the oldest."""
        if e.start is not None:
            flow = r.exact.get((e.ct_id, e.start))
            if flow is not None and flow.fid.original == e.original:
                return flow
            if not r.gens:
                return None
        latest = self._latest(r, e.ct_id, e.original)
        if latest is None:
            return None
        netns = r.netns
        fits = sorted(
            (
                f
                for gen in range(latest.fid.gen + 1)
                if (f := r.flows.get(FlowId(netns, e.ct_id, e.original, gen))) is not None
                and not f.evented
                and f.exact is None
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
            dest = self._resolve(netns, p.tuple.dest_ip)
            bucket = self._bucket(netns, p.tuple, SRC, ep, ep, dest, p.time, p.time)
            bucket.add(Counters(1, p.length), p.time, p.time)

    def expire(self, now: float) -> None:
        """Close flows gone for longer than the grace; forget old tombstones."""
        for r in self._routers.values():
            late = [f for f in r.gone if now - (f.gone or now) >= self.gone_grace]
            for flow in late:
                self._close(r, flow, now)
        tombstones = self._tombstones
        again: list[tuple[float, _Flow]] = []
        while tombstones and now - tombstones[0][0] >= self.tombstone_for:
            _, flow = tombstones.popleft()
            router = self._routers.get(flow.fid.netns)
            if router is None or flow.closed is None or router.flows.get(flow.fid) is not flow:
                continue  # reopened (it has a new entry here when it closes again) or gone
            if self._finished(flow):
                self._forget(router, flow)
            else:
                again.append((now, flow))
        tombstones.extend(again)

    def _close(self, r: _Router, flow: _Flow, now: float) -> None:
        if flow.closed is not None:
            return
        flow.closed = now
        flow.gone = None
        r.open.discard(flow)
        r.gone.discard(flow)
        if flow.evented and flow.parts == 0 and flow.saved is None:
            self._forget(r, flow)  # nothing left to report or to delete
            return
        self._dirty.add(flow)
        if flow.saved is not None:
            self._unsaved.add(flow)
        if not flow.evented:
            self._tombstones.append((now, flow))

    def _finished(self, flow: _Flow) -> bool:
        return (
            flow.closed is not None
            and flow.parts == 0
            and flow.saved is None
            and flow not in self._dirty
        )

    def _forget(self, r: _Router, flow: _Flow) -> None:
        fid = flow.fid
        r.flows.pop(fid, None)
        r.open.discard(flow)
        r.gone.discard(flow)
        self._dirty.discard(flow)
        self._unsaved.discard(flow)
        if r.by_id.get(fid.ct_id) is flow:
            del r.by_id[fid.ct_id]
        if flow.exact is not None and r.exact.get((fid.ct_id, flow.exact)) is flow:
            del r.exact[(fid.ct_id, flow.exact)]
        if fid.gen < EXACT_GEN:
            key = (fid.ct_id, fid.original)
            # The latest number stays taken while an older incarnation lives on.
            if r.gens.get(key) == fid.gen and not any(
                FlowId(fid.netns, fid.ct_id, fid.original, g) in r.flows for g in range(fid.gen)
            ):
                del r.gens[key]

    # -- folding -----------------------------------------------------------------------------
    def _update(self, r: _Router, flow: _Flow, e: ConntrackEntry, lo: float, now: float) -> None:
        orig, reply = e.orig_counters, e.reply_counters
        seen_orig, seen_reply = flow.observed
        if not (orig.covers(seen_orig) and reply.covers(seen_reply)):
            return  # an older view of this incarnation than one already folded
        grew = orig != seen_orig or reply != seen_reply
        if flow.closed is not None and not flow.evented and grew:
            # Given up on too early: seen again with more traffic.
            flow.closed = None
            r.open.add(flow)
            self._unsaved.discard(flow)
        if flow.gone is not None:
            flow.gone = None
            r.gone.discard(flow)
        if not grew:
            return
        flow.observed = [orig, reply]
        flow.version += 1
        self._dirty.add(flow)
        if lo > now:
            lo = now
        if orig != seen_orig:
            delta = orig - seen_orig
            self._fold(flow, 0, delta, lo, now)
            self._fold(flow, 1, delta, lo, now)
        if reply != seen_reply:
            delta = reply - seen_reply
            self._fold(flow, 2, delta, lo, now)
            self._fold(flow, 3, delta, lo, now)
        if now > flow.seen:
            flow.seen = now

    def _routes(self, flow: _Flow) -> _Routes:
        if flow.epoch == self._epoch:
            return flow.routes
        fid = flow.fid
        orig, reply = fid.original, flow.reply
        # Shared by every connection between the same addresses (all of a client's).
        key = (fid.netns, orig.src_ip, orig.dest_ip, reply.src_ip, reply.dest_ip)
        routes = self._route_cache.get(key)
        if routes is None:
            if len(self._route_cache) >= ROUTE_CACHE:
                self._route_cache.clear()  # a bound; it refills with the pairs still talking
            found: list[_Route | None] = []
            for idx in range(4):
                src_ip, dest_ip = (orig if idx < 2 else reply)[1:3]
                side = SIDES[idx % 2]
                ep = self._resolve(fid.netns, src_ip if side == SRC else dest_ip)
                if ep is None or not ep.logging:
                    found.append(None)
                    continue
                src = ep if side == SRC else self._resolve(fid.netns, src_ip)
                dest = ep if side == DEST else self._resolve(fid.netns, dest_ip)
                found.append((ep, src, dest, side))
            routes = self._route_cache[key] = (found[0], found[1], found[2], found[3])
        flow.routes = routes
        flow.epoch = self._epoch
        return routes

    def _fold(self, flow: _Flow, idx: int, delta: Counters, lo: float, hi: float) -> None:
        route = self._routes(flow)[idx]
        if route is None or (
            self.primary_rate < 1.0
            and not keep_primary(
                self.seed,
                f"{flow.fid.netns}|{flow.fid.ct_id}|{STREAM_NAMES[idx]}",
                hi,
                self.primary_rate,
            )
        ):
            flow.accounted[idx] = flow.accounted[idx] + delta
            flow.version += 1
            self._dirty.add(flow)
            return
        ep, src, dest, side = route
        tup = flow.fid.original if idx < 2 else flow.reply
        bucket = self._bucket(flow.fid.netns, tup, side, ep, src, dest, lo, hi)
        bucket.add(delta, lo, hi)
        bucket.parts += (flow, idx, delta.packets, delta.bytes)
        flow.parts += 1

    def _bucket(
        self,
        netns: str,
        tup: FiveTuple,
        side: str,
        ep: Endpoint,
        src: Endpoint | None,
        dest: Endpoint | None,
        lo: float,
        hi: float,
    ) -> Bucket:
        length = ep.subnet.log.interval
        earliest = self._open_from.get(length)
        if earliest is None:
            earliest = interval_start(self._start, length)
        mid = (lo + hi) / 2
        start = interval_start(mid if mid > earliest else earliest, length)
        key = BucketKey(netns, tup, side, start, length)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(key, src, dest)
            self._ends.setdefault(start + length, []).append(bucket)
            self._lengths.add(length)
        return bucket

    # -- flushing ------------------------------------------------------------------------------
    def flush_plan(
        self, now: float, *, everything: bool = False, limit: int | None = None
    ) -> FlushPlan:
        """The buckets whose interval ended by ``now`` (all of them with ``everything``, e.g.
        at shutdown; at most ``limit``, oldest first, the rest left for the next plan) and
        the flow rows that must be written with their entries. Changes nothing until
        :meth:`commit`."""
        due = [b for end in sorted(self._ends) if everything or end <= now for b in self._ends[end]]
        if limit is not None:
            due = due[:limit]
        # Per flow: packets and bytes per stream flushed now, and how many parts.
        grown: dict[_Flow, list[int]] = {}
        for b in due:
            p = b.parts
            for i in range(0, len(p), 4):
                sums = grown.get(p[i])
                if sums is None:
                    sums = grown[p[i]] = [0, 0, 0, 0, 0, 0, 0, 0, 0]
                j = 2 * p[i + 1]
                sums[j] += p[i + 2]
                sums[j + 1] += p[i + 3]
                sums[8] += 1
        upserts: list[SavedFlow] = []
        deletes: list[FlowId] = []
        final: dict[_Flow, Accounted] = {}
        saved: dict[_Flow, int | None] = {}
        for flow in self._dirty | grown.keys():
            sums = grown.get(flow)
            acc = _accounted(flow.accounted) if sums is None else _grown(flow, sums)
            final[flow] = acc
            finished = flow.closed is not None and flow.parts == (sums[8] if sums else 0)
            if finished:
                if flow.saved is not None:
                    deletes.append(flow.fid)
                    saved[flow] = None
                continue
            version = flow.version if sums is None else flow.version + 1  # see commit
            if version != flow.saved:
                fid = flow.fid
                observed = (flow.observed[0], flow.observed[1])
                row = SavedFlow(
                    fid.netns,
                    fid.ct_id,
                    fid.original,
                    flow.reply,
                    acc,
                    observed,
                    flow.seen,
                    fid.gen,
                )
                upserts.append(row)
                saved[flow] = version
        open_from = dict(self._open_from)
        for length in self._lengths | set(open_from):
            mark = interval_start(now, length)
            if everything:
                mark += length
            open_from[length] = max(open_from.get(length, mark), mark)
        return FlushPlan(due, upserts, deletes, open_from, final, saved)

    def commit(self, plan: FlushPlan) -> None:
        """The plan's entries and rows are stored: make it so in memory."""
        flushed = {id(b) for b in plan.buckets}
        for b in plan.buckets:
            self._buckets.pop(b.key, None)
            for flow in b.parts[::4]:
                flow.parts -= 1
        for end in {b.key.end for b in plan.buckets}:
            left = [b for b in self._ends.get(end, ()) if id(b) not in flushed]
            if left:
                self._ends[end] = left
            else:
                self._ends.pop(end, None)
        for flow, acc in plan.accounted.items():
            grown = list(acc)
            if grown != flow.accounted:
                flow.accounted = grown
                flow.version += 1
            self._dirty.discard(flow)
        for flow, state in plan.saved.items():
            flow.saved = state
            if state is None:
                self._unsaved.discard(flow)
        self._open_from = plan.open_from
        for flow in plan.accounted:
            if flow.evented and self._finished(flow):
                r = self._routers.get(flow.fid.netns)
                if r is not None:
                    self._forget(r, flow)


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


def _grown(flow: _Flow, sums: list[int]) -> Accounted:
    """``flow``'s accounted counters plus ``sums`` (packets, bytes per stream). Counters
    equal to the observed ones are those very objects: fewer objects per remembered flow
    for the cycle collector to walk."""
    out: list[Counters] = []
    for idx in range(4):
        acc = flow.accounted[idx]
        if sums[2 * idx] or sums[2 * idx + 1]:
            acc = Counters(acc.packets + sums[2 * idx], acc.bytes + sums[2 * idx + 1])
            seen = flow.observed[idx // 2]
            if acc == seen:
                acc = seen
        out.append(acc)
    return _accounted(out)
