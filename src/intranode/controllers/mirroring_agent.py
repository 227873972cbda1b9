"""Packet Mirroring on the kernel, for the node agent: each collector backend instance
(``intranode mirror collector create``) becomes a namespace linked to its network's router,
with a capture writing what it receives to rotating pcap files; each router gets the
``netdev vpc_mirror`` table of its network's enabled policies, swapped whole when policies,
collectors, their backends or the nodes change (:mod:`intranode.domain.mirroring`).

Kernel objects are owned in the ledger as ``collector:<instance key>``; the capture processes
are runtime records (kind ``capture-process``), stopped with the rest of the runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from intranode.controllers import mirroring
from intranode.controllers.context import Context
from intranode.dataplane.runtime.capture import capture_dir, start_capture, stop_capture
from intranode.dataplane.runtime.process import ProcessHandle
from intranode.dataplane.runtime.records import RecordSink
from intranode.domain import mirroring as dm
from intranode.domain import resources as R
from intranode.domain.netplan import NftRuleset, Op
from intranode.domain.topology import KernelNames, VpcRouter
from intranode.errors import DataplaneError

log = logging.getLogger(__name__)

# A change to one of these may change what is mirrored, or where to.
MIRRORING_KINDS = frozenset(
    {
        R.PACKET_MIRRORING,
        R.FORWARDING_RULE,
        R.BACKEND_SERVICE,
        R.INSTANCE_GROUP,
        R.INSTANCE_GROUP_MEMBERS,
        R.INSTANCE,
        R.SUBNETWORK,
    }
)
OWNER_PREFIX = "collector:"

Apply = Callable[[tuple[Op, ...], str], Awaitable[None]]
Kernel = Callable[..., Awaitable[Any]]


@dataclass
class _Backend:
    backend: dm.Collector
    network: str
    capture: ProcessHandle | None


class MirroringAgent:
    """The collectors and mirroring tables of every router the node agent runs."""

    def __init__(
        self,
        ctx: Context,
        names: KernelNames,
        sink: RecordSink,
        apply: Apply,
        kernel: Kernel,
        short_id: Callable[[str], str],
        delete_netns: Callable[[str], None],
    ) -> None:
        self.ctx = ctx
        self.names = names
        self.sink = sink
        self._apply = apply
        self._kernel = kernel
        self._short_id = short_id
        self._delete_netns = delete_netns
        self._backends: dict[str, _Backend] = {}  # instance key -> its namespace
        self._rulesets: dict[str, NftRuleset] = {}  # network -> table applied

    def owners(self) -> set[str]:
        return {OWNER_PREFIX + key for key in self._backends}

    async def sync(self, routers: Mapping[str, VpcRouter], node_links: Mapping[str, str]) -> None:
        """Converge: collectors of networks that have a router, then each router's table.
        ``node_links`` maps the instance key of each running node to its router link."""
        wanted = self._wanted_collectors(routers)
        for key in [k for k in self._backends if k not in wanted]:
            await self.remove(key)
        for key, (backend, network) in wanted.items():
            have = self._backends.get(key)
            if have is not None and have.backend == backend:
                continue
            if have is not None:
                await self.remove(key)
            try:
                await self._apply(dm.collector_ops(backend, routers[network]), OWNER_PREFIX + key)
            except DataplaneError as exc:
                log.error("mirroring collector %s: %s", key, exc)
                continue
            name = key.rsplit("/", 1)[-1]
            capture = start_capture(
                self.sink, backend.netns, capture_dir(self.ctx.settings.state_dir, name)
            )
            self._backends[key] = _Backend(backend, network, capture)
        for network, router in routers.items():
            links = dict(node_links)
            links.update({k: b.backend.router_link for k, b in self._backends.items()})
            inputs = mirroring.mirroring_inputs_of(self.ctx, self._project(), network, links)
            op = dm.mirroring_ruleset(inputs, router.netns)
            if self._rulesets.get(network) == op:
                continue
            try:
                await self._apply((op,), f"router:{network}")
            except DataplaneError as exc:
                log.error("packet mirroring of network %s: %s", network, exc)
                continue
            self._rulesets[network] = op

    async def remove(self, key: str) -> None:
        gone = self._backends.pop(key)
        if gone.capture is not None:
            await stop_capture(self.sink, gone.capture)
        await self._kernel(self._delete_netns, gone.backend.netns)

    async def remove_network(self, network: str) -> None:
        """Before a router goes: its collectors go first (their links end in it)."""
        for key in [k for k, b in self._backends.items() if b.network == network]:
            await self.remove(key)
        self._rulesets.pop(network, None)

    async def stop(self) -> None:
        for b in self._backends.values():
            if b.capture is not None:
                await stop_capture(self.sink, b.capture)
        self._backends.clear()
        self._rulesets.clear()

    def ruleset(self, network: str) -> NftRuleset | None:
        return self._rulesets.get(network)

    def _project(self) -> str:
        return self.ctx.settings.project

    def _wanted_collectors(
        self, routers: Mapping[str, VpcRouter]
    ) -> dict[str, tuple[dm.Collector, str]]:
        project = self._project()
        out: dict[str, tuple[dm.Collector, str]] = {}
        for res in self.ctx.resources.find(R.INSTANCE):
            if not dm.is_collector_instance(res.data):
                continue
            nic = (res.data.get("networkInterfaces") or [{}])[0]
            network = R.key_from_link(str(nic.get("network", "")), project).rsplit("/", 1)[-1]
            subnet = self.ctx.resources.get(
                R.SUBNETWORK, R.key_from_link(str(nic.get("subnetwork", "")), project)
            )
            if network not in routers or subnet is None:
                continue  # no router yet: nothing could reach it
            try:
                backend = dm.collector(
                    self.names,
                    self._short_id(OWNER_PREFIX + res.key),
                    ip=str(nic.get("networkIP")),
                    gateway=str(subnet.data.get("gatewayAddress")),
                )
            except ValueError as exc:
                log.error("mirroring collector %s: %s", res.key, exc)
                continue
            out[res.key] = (backend, network)
        return out
