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
re-read whenever the store's revision moved.

Public API (the daemon wires it; nothing here starts by itself)::

    FlowCollector(ctx, source, *, routers=None, denied=None, seed="", primary_rate=1.0,
                  tick_seconds=1.0, gone_grace=60.0, persist_every=5.0)
        .tick() -> TickReport        one round: observe every router, write what is due
                                     (blocking: call through asyncio.to_thread)
        .drain() -> TickReport       write every open interval now (shutdown, tests)
        await .run(stop)             tick every ``tick_seconds`` (aligned to the clock) until
                                     ``stop`` is set; a failing tick is logged, not fatal
        .close(flush=False)          stop the source's helper processes (with ``flush``: one
                                     last tick and a drain first)
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from intranode.controllers.context import Context
from intranode.controllers.logs import write_entries
from intranode.dataplane.flow_source import DeniedSource, FlowSource
from intranode.domain.flowlogs.aggregate import Aggregator, FlushPlan, SavedFlow
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

log = logging.getLogger(__name__)

PODS = k8s_kind("pods")
REPLICASETS = k8s_kind("replicasets")
JOBS = k8s_kind("jobs")
SERVICES = k8s_kind("services")
Routers = Callable[[], Mapping[str, str]]


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
    ) -> None:
        self.ctx = ctx
        self.source = source
        self.seed = seed
        self.tick_seconds = tick_seconds
        self.persist_every = persist_every
        self._routers = routers or (lambda: routers_from_store(ctx))
        self._denied = denied
        self.state = FlowStateStore(ctx.db)
        for stale in self.state.readers():
            if source.stop_stale(stale):
                log.info("stopped conntrack reader %s left by an earlier run", stale.pid)
        self.state.set_readers([])
        self._readers: dict[str, ReaderProcess] = {}
        self._inventory: Inventory | None = None
        self._revision = -1
        self._networks: dict[str, str] = {}
        self._last_commit = ctx.clock()
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

    def _refresh_inventory(self) -> None:
        revision = self.ctx.db.current_revision()
        if revision != self._revision or self._inventory is None:
            self._inventory = build_inventory(self.ctx)
            self._revision = revision

    # -- ticks -----------------------------------------------------------------------------------
    def tick(self) -> TickReport:
        self._refresh_inventory()
        routers = dict(self._routers())
        self._networks.update(routers)
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
        entries = self.source.snapshot(netns)
        seen = self.ctx.clock()
        self.aggregator.observe_destroyed(netns, events, seen)
        self.aggregator.observe_snapshot(netns, entries, seen)
        if self._denied is not None:
            self.aggregator.observe_denied(netns, self._denied.denied(netns))

    def _restore(self) -> None:
        if self._unrestored is not None:
            self.aggregator.restore(self._unrestored)
            self._unrestored = None

    def drain(self) -> TickReport:
        """Write every open interval now, partial ones included."""
        self._refresh_inventory()
        self._networks.update(self._routers())
        self._restore()
        return self._flush(self.ctx.clock(), everything=True)

    def _flush(self, now: float, *, everything: bool) -> TickReport:
        plan = self.aggregator.flush_plan(now, everything=everything)
        flows = self.aggregator.flow_count()
        if not self._worth_writing(plan, now):
            return TickReport(flows=flows)
        entries = build_entries(plan.buckets, seed=self.seed, warn=self._warn)
        with self.ctx.db.transaction() as conn:
            if entries:
                write_entries(self.ctx, entries)
            self.state.save(conn, plan.upserts, plan.deletes)
        self.aggregator.commit(plan)
        self._last_commit = now
        return TickReport(len(entries), len(plan.buckets), self.aggregator.flow_count())

    def _worth_writing(self, plan: FlushPlan, now: float) -> bool:
        # Rows of flows nobody reported (only "accounted as not reported") can wait: after a
        # crash they would be dropped again the same way.
        if plan.buckets or plan.deletes:
            return True
        return bool(plan.upserts) and now - self._last_commit >= self.persist_every

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
            self.source.close()
            self._readers = {}
            self.state.set_readers([])
