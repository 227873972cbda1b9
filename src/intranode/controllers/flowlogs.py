"""The VPC Flow Logs collector: conntrack in each VPC router -> flow-log entries in the store.

Every tick it reads, per router namespace, the destroy events since the last tick and a
conntrack snapshot (and, when a ``DeniedSource`` is given, the packets the firewall denied),
folds them into per-interval buckets (:mod:`intranode.domain.flowlogs.aggregate`), and once
an interval of a reporting subnet has ended writes its records through
:func:`intranode.controllers.logs.write_entries` — in the SAME transaction as the flow state
(:mod:`intranode.store.flowstate`), so a daemon killed at any point resumes each flow from
what its committed records accounted for: at ``flowSampling`` 1.0 every packet and byte that
crossed a router is reported once. Annotations come from the store (subnets' ``logConfig``,
instances' ``networkIP``/``aliasIpRanges``, Kubernetes pods, ReplicaSets, Jobs, Services),
re-read on the next tick after a change to one of those kinds (a store listener marks it
stale; the collector's own log writes do not).

Listings cost the ``conntrack`` process about 8 us per entry: a router whose last listing held
at most ``busy_table`` entries is listed every tick (records' times precise to the tick); a
busier one every ``busy_every`` seconds (5: the shortest aggregation interval), on the first
tick after each multiple, so listings still fall just after interval ends. Destroy events are
read every tick either way, and kernel timestamps give each connection its exact start.

Public API (the daemon wires it; nothing here starts by itself)::

    FlowCollector(ctx, source, *, routers=None, denied=None, seed="", primary_rate=1.0,
                  tick_seconds=1.0, gone_grace=60.0, persist_every=5.0,
                  busy_table=10_000, busy_every=5.0)
        .tick() -> TickReport        one round: observe every router, write what is due
                                     (blocking: call through asyncio.to_thread)
        .drain() -> TickReport       write every open interval now (shutdown, tests)
        await .run(stop)             tick every ``tick_seconds`` (aligned to the clock) until
                                     ``stop`` is set; a failing tick is logged, not fatal
        .close(flush=False)          stop the source's helper processes and the store
                                     listener (with ``flush``: one last tick and a drain
                                     first)
        .aggregator                  the pure state, for inspection
    routers_from_store(ctx) -> dict[netns, network]   default ``routers``: the networks in
                                     the store whose router namespace exists
    build_inventory(ctx) -> Inventory                   the IP lookup, from the store

``source`` is a :class:`~intranode.dataplane.flow_source.FlowSource`
(``LinuxFlowSource()`` in the daemon); ``routers`` maps router namespace -> VPC network
name; ``seed`` fixes the sampling decisions. Ticks shorter than the shortest aggregation
interval (5 s) make ``start_time``/``end_time`` precise to the tick. On start the collector
stops destroy-event readers a crashed run left behind (by exact PID and start time).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from intranode.controllers.context import Context
from intranode.controllers.logs import write_entries
from intranode.dataplane.flow_source import DeniedSource, FlowSource
from intranode.domain.flowlogs.aggregate import Aggregator, SavedFlow
from intranode.domain.flowlogs.inventory import (
    Endpoint,
    InstanceInfo,
    Inventory,
    InventoryInput,
    LogConfig,
    PodInfo,
    SubnetInfo,
    pods_of_cluster,
)
from intranode.domain.flowlogs.observations import ConntrackEntry, ReaderProcess
from intranode.domain.flowlogs.records import build_entries
from intranode.domain.resources import (
    CLUSTER,
    INSTANCE,
    NETWORK,
    SUBNETWORK,
    k8s_kind,
    key_from_link,
)
from intranode.domain.topology import KernelNames
from intranode.errors import DataplaneError
from intranode.store.flowstate import FlowStateStore
from intranode.store.resources import Change

log = logging.getLogger(__name__)

PODS = k8s_kind("pods")
REPLICASETS = k8s_kind("replicasets")
JOBS = k8s_kind("jobs")
SERVICES = k8s_kind("services")
INVENTORY_KINDS = frozenset({SUBNETWORK, INSTANCE, CLUSTER, PODS, REPLICASETS, JOBS, SERVICES})
Routers = Callable[[], Mapping[str, str]]
WRITE_SLICE = 1000  # buckets turned into entries and written at a time


@dataclass(frozen=True)
class TickReport:
    entries: int = 0  # flow-log entries written
    buckets: int = 0  # buckets flushed (before filter and sampling)
    flows: int = 0  # connections tracked after the tick
    errors: tuple[str, ...] = ()


# -- the store as the collector sees it ------------------------------------------------------
def _last(link: Any) -> str:
    return str(link or "").rstrip("/").rsplit("/", 1)[-1]


def routers_from_store(ctx: Context) -> dict[str, str]:
    names = KernelNames(ctx.settings.prefix)
    out: dict[str, str] = {}
    for res in ctx.resources.find(NETWORK):
        name = str(res.data.get("name") or _last(res.key))
        try:
            netns = names.router_netns(name)
        except ValueError:
            continue
        if os.path.exists(f"/run/netns/{netns}"):
            out[netns] = name
    return out


def _instance_group(doc: Mapping[str, Any]) -> str | None:
    for item in (doc.get("metadata") or {}).get("items") or []:
        if item.get("key") == "created-by":
            value = str(item.get("value") or "")
            if "/instanceGroupManagers/" in value:
                return value.rsplit("/", 1)[-1]
    return None


def build_inventory(ctx: Context) -> Inventory:
    subnets: list[SubnetInfo] = []
    for res in ctx.resources.find(SUBNETWORK):
        parts = res.key.split("/")  # projects/P/regions/R/subnetworks/S
        subnets.append(
            SubnetInfo(
                key=res.key,
                id=str(res.data.get("id") or ""),
                name=parts[5],
                project=parts[1],
                region=parts[3],
                network=_last(res.data.get("network")),
                log=LogConfig.of_subnet(res.data),
            )
        )
    instances: list[InstanceInfo] = []
    for res in ctx.resources.find(INSTANCE):
        parts = res.key.split("/")  # projects/P/zones/Z/instances/N
        nics = res.data.get("networkInterfaces") or []
        if not nics or not nics[0].get("networkIP"):
            continue
        nic = nics[0]
        instances.append(
            InstanceInfo(
                key=res.key,
                name=parts[5],
                project=parts[1],
                zone=parts[3],
                network=_last(nic.get("network")),
                subnet_key=key_from_link(str(nic.get("subnetwork") or ""), parts[1]),
                ip=str(nic["networkIP"]),
                alias_ranges=tuple(str(a["ipCidrRange"]) for a in nic.get("aliasIpRanges") or []),
                instance_group=_instance_group(res.data),
            )
        )
    pods: list[PodInfo] = []
    for cluster in ctx.resources.find(CLUSTER):
        prefix = cluster.key + "/"
        pods += pods_of_cluster(
            network=_last(cluster.data.get("network")) or "default",
            cluster=str(cluster.data.get("name") or _last(cluster.key)),
            location=str(cluster.data.get("location") or cluster.key.split("/")[3]),
            pods=[r.data for r in ctx.resources.list_prefix(PODS, prefix)],
            owners=[
                r.data
                for kind in (REPLICASETS, JOBS)
                for r in ctx.resources.list_prefix(kind, prefix)
            ],
            services=[r.data for r in ctx.resources.list_prefix(SERVICES, prefix)],
        )
    return Inventory(InventoryInput(subnets, instances, pods))


# -- the collector ---------------------------------------------------------------------------
class FlowCollector:
    def __init__(
        self,
        ctx: Context,
        source: FlowSource,
        *,
        routers: Routers | None = None,
        denied: DeniedSource | None = None,
        seed: str = "",
        primary_rate: float = 1.0,
        tick_seconds: float = 1.0,
        gone_grace: float = 60.0,
        persist_every: float = 5.0,
        busy_table: int = 10_000,
        busy_every: float = 5.0,
    ) -> None:
        self.ctx = ctx
        self.source = source
        self.seed = seed
        self.tick_seconds = tick_seconds
        self.persist_every = persist_every
        self.busy_table = busy_table
        self.busy_every = busy_every
        self._routers = routers or (lambda: routers_from_store(ctx))
        self._denied = denied
        self.state = FlowStateStore(ctx.db)
        for stale in self.state.readers():
            if source.stop_stale(stale):
                log.info("stopped conntrack reader %s left by an earlier run", stale.pid)
        self.state.set_readers([])
        self._readers: dict[str, ReaderProcess] = {}
        self._inventory: Inventory | None = None
        self._stale = True
        self._unsubscribe = ctx.resources.subscribe(self._changed)
        self._networks: dict[str, str] = {}
        self._listed: dict[str, tuple[float, int]] = {}  # netns -> (when, entries)
        self._last_commit = ctx.clock()
        self._bucket_seconds = 0.0  # what writing one bucket took lately (wall)
        self._warned: set[tuple[str, str]] = set()
        self.aggregator = Aggregator(
            self._resolve,
            ctx.clock(),
            primary_rate=primary_rate,
            seed=seed,
            gone_grace=gone_grace,
        )
        # Restored on the first tick, once the inventory and routers are known: what was
        # observed but not reported is folded again then, under the right reporters.
        self._unrestored: list[SavedFlow] | None = self.state.load()

    # -- lookups ---------------------------------------------------------------------------------
    def _resolve(self, netns: str, ip: str) -> Endpoint | None:
        network = self._networks.get(netns)
        if network is None or self._inventory is None:
            return None
        return self._inventory.endpoint(network, ip)

    def _changed(self, change: Change) -> None:
        if change.resource.kind in INVENTORY_KINDS:
            self._stale = True

    def _refresh_inventory(self) -> None:
        if self._stale or self._inventory is None:
            self._stale = False  # before reading: a change meanwhile marks it stale again
            try:
                self._inventory = build_inventory(self.ctx)
            except BaseException:
                self._stale = True
                raise
            self.aggregator.endpoints_changed()

    def _learn_routers(self, routers: Mapping[str, str]) -> None:
        if any(self._networks.get(netns) != net for netns, net in routers.items()):
            self._networks.update(routers)
            self.aggregator.endpoints_changed()

    # -- ticks -----------------------------------------------------------------------------------
    def tick(self) -> TickReport:
        self._refresh_inventory()
        routers = dict(self._routers())
        self._learn_routers(routers)
        self._restore()
        errors: list[str] = []
        for netns in routers:
            try:
                self._observe(netns)
            except DataplaneError as err:
                if err.errno != errno.ENOENT:
                    errors.append(str(err))
                    log.warning("flow logs: %s", err)
        for netns in set(self._readers) - set(routers):
            self.source.stop_watching(netns)
            self._listed.pop(netns, None)
        now = self.ctx.clock()
        self.aggregator.expire(now)
        report = self._flush(now, everything=False)
        self._sync_readers()
        return TickReport(report.entries, report.buckets, report.flows, tuple(errors))

    def _observe(self, netns: str) -> None:
        events: list[ConntrackEntry] = []
        try:
            events = self.source.destroyed(netns)
        except DataplaneError as err:
            if err.errno == errno.ENOENT:
                raise
            log.warning("flow logs: %s (restarting the reader)", err)
        now = self.ctx.clock()
        if not self._listing_due(netns, now):
            self.aggregator.observe_destroyed(netns, events, now)
        else:
            entries = self.source.snapshot(netns)
            seen = self.ctx.clock()
            self.aggregator.observe_destroyed(netns, events, seen)
            self.aggregator.observe_snapshot(netns, entries, seen)
            self._listed[netns] = (seen, len(entries))
        if self._denied is not None:
            self.aggregator.observe_denied(netns, self._denied.denied(netns))

    def _listing_due(self, netns: str, now: float) -> bool:
        last = self._listed.get(netns)
        if last is None or last[1] <= self.busy_table:
            return True
        every = self.busy_every
        return math.floor(now / every) > math.floor(last[0] / every)

    def _restore(self) -> None:
        if self._unrestored is not None:
            self.aggregator.restore(self._unrestored)
            self._unrestored = None

    def drain(self) -> TickReport:
        """Write every open interval now, partial ones included."""
        self._refresh_inventory()
        self._learn_routers(self._routers())
        self._restore()
        return self._flush(self.ctx.clock(), everything=True)

    def _flush(self, now: float, *, everything: bool) -> TickReport:
        # Rows of flows not reported yet (or only "accounted as not reported") can wait: after
        # a crash they are listed again, or dropped again the same way. So a plan is made when
        # records are due, a finished flow's row is to go, or every ``persist_every``.
        if (
            not everything
            and not self.aggregator.has_due(now)
            and now - self._last_commit < self.persist_every
        ):
            return TickReport(flows=self.aggregator.flow_count())
        limit = None if everything else self._flush_limit()
        plan = self.aggregator.flush_plan(now, everything=everything, limit=limit)
        began = time.perf_counter()
        written = 0
        if plan.buckets or plan.upserts or plan.deletes:
            with self.ctx.db.transaction() as conn:
                # In slices, so that a big flush never holds more than a slice of entry
                # documents: fewer objects outlive a young collection, fewer full ones run.
                for i in range(0, len(plan.buckets), WRITE_SLICE):
                    part = plan.buckets[i : i + WRITE_SLICE]
                    entries = build_entries(part, seed=self.seed, warn=self._warn)
                    if entries:
                        write_entries(self.ctx, entries)
                        written += len(entries)
                    del entries
                self.state.save(conn, plan.upserts, plan.deletes)
        self.aggregator.commit(plan)
        self._last_commit = now
        if plan.buckets:
            took = (time.perf_counter() - began) / len(plan.buckets)
            self._bucket_seconds = 0.5 * self._bucket_seconds + 0.5 * took
        return TickReport(written, len(plan.buckets), self.aggregator.flow_count())

    def _flush_limit(self) -> int:
        # A tick writes what fits in half of it (by the cost of the last writes), at least a
        # slice: the next listing stays on time even when records pile up faster than they
        # can be written (they wait; a late listing could miss short connections whose
        # destroy events the kernel dropped).
        budget = 0.5 * self.tick_seconds
        return max(WRITE_SLICE, int(budget / max(self._bucket_seconds, 1e-6)))

    def _warn(self, subnet: SubnetInfo, message: str) -> None:
        key = (subnet.key, subnet.log.filter_expr)
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "flow logs: subnet %s has an invalid filterExpr, keeping every record: %s",
                subnet.key,
                message,
            )

    def _sync_readers(self) -> None:
        readers = dict(self.source.readers())
        if readers != self._readers:
            self.state.set_readers(readers.values())
            self._readers = readers

    # -- running ---------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = self.ctx.clock()
            # Just after a multiple of the tick, so interval ends are seen promptly.
            wait = (math.floor(now / self.tick_seconds) + 1) * self.tick_seconds - now + 0.01
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
                return
            except TimeoutError:
                pass
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("flow-log tick failed")

    def close(self, *, flush: bool = False) -> None:
        """Stop the source's helper processes; with ``flush``, first take a last look at
        every router and write every open interval."""
        try:
            if flush:
                self.tick()
                self.drain()
        finally:
            self._unsubscribe()
            self.source.close()
            self._readers = {}
            self.state.set_readers([])
