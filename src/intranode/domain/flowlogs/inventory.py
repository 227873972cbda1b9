"""Who is behind an IP address of a VPC network: the pure lookup the flow-log collector uses to
pick the reporting VM (and so the subnet whose ``logConfig`` applies) and to fill a record's
metadata (``src_instance``, ``src_vpc``, ``src_gke_details``...).

The controller builds an :class:`InventoryInput` from the store (subnets, instances, pods) and
hands it to :class:`Inventory`; nothing here reads the store. An IP belongs to the VM whose nic0
holds it as ``networkIP`` or inside one of its ``aliasIpRanges`` (a GKE node's Pod range), so a
pod's traffic is reported by its node, as on GKE; a pod IP also maps to its :class:`PodInfo`.
Host-network pods share their node's IP and are not pods here (the node is the endpoint).

Kubernetes helpers (:func:`pods_of_cluster`) turn a cluster's pod, ReplicaSet, Job and Service
objects into :class:`PodInfo`: the workload is the pod's top-level controller (a ReplicaSet
owned by a Deployment is the Deployment, a Job owned by a CronJob is the CronJob), and the
services are those whose selector matches the pod, at most two, else one ``MANY_SERVICES``.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from intranode.domain.compute_subnets import AGGREGATION_INTERVALS, FLOW_LOG_DEFAULTS

INTERVAL_SECONDS: Mapping[str, int] = dict(
    zip(AGGREGATION_INTERVALS, (5, 30, 60, 300, 600, 900), strict=True)
)
MANY_SERVICES = "MANY_SERVICES"
MAX_SERVICES = 2
WORKLOAD_TYPES: Mapping[str, str] = {
    "Deployment": "DEPLOYMENT",
    "ReplicaSet": "REPLICA_SET",
    "StatefulSet": "STATEFUL_SET",
    "DaemonSet": "DAEMON_SET",
    "Job": "JOB",
    "CronJob": "CRON_JOB",
    "ReplicationController": "REPLICATION_CONTROLLER",
}


@dataclass(frozen=True)
class LogConfig:
    """A subnet's flow-log settings, defaults filled as the Compute API fills them."""

    enabled: bool = False
    interval: int = 5  # seconds
    flow_sampling: float = float(FLOW_LOG_DEFAULTS["flowSampling"])
    metadata: str = str(FLOW_LOG_DEFAULTS["metadata"])
    metadata_fields: tuple[str, ...] = ()
    filter_expr: str = ""  # empty keeps every record

    @classmethod
    def of_subnet(cls, doc: Mapping[str, Any]) -> LogConfig:
        """From a stored ``compute#subnetwork``: ``logConfig``, else the legacy
        ``enableFlowLogs`` with the defaults."""
        lc: Mapping[str, Any] = doc.get("logConfig") or {}
        enabled = lc.get("enable", doc.get("enableFlowLogs", False))
        interval = lc.get("aggregationInterval", FLOW_LOG_DEFAULTS["aggregationInterval"])
        sampling = lc.get("flowSampling", FLOW_LOG_DEFAULTS["flowSampling"])
        return cls(
            enabled=bool(enabled),
            interval=INTERVAL_SECONDS.get(str(interval), 5),
            flow_sampling=float(sampling),
            metadata=str(lc.get("metadata", FLOW_LOG_DEFAULTS["metadata"])),
            metadata_fields=tuple(str(f) for f in lc.get("metadataFields") or ()),
            filter_expr=str(lc.get("filterExpr") or ""),
        )


@dataclass(frozen=True)
class SubnetInfo:
    key: str  # projects/P/regions/R/subnetworks/S
    id: str
    name: str
    project: str
    region: str
    network: str  # the network's name
    log: LogConfig = field(default_factory=LogConfig)


@dataclass(frozen=True)
class InstanceInfo:
    key: str  # projects/P/zones/Z/instances/N
    name: str
    project: str
    zone: str
    network: str  # the network's name
    subnet_key: str
    ip: str
    alias_ranges: tuple[str, ...] = ()
    instance_group: str | None = None  # the managed instance group's name (GKE node pools)

    @property
    def region(self) -> str:
        return self.zone.rsplit("-", 1)[0]


@dataclass(frozen=True)
class PodInfo:
    network: str
    ip: str
    name: str
    namespace: str
    cluster: str
    cluster_location: str
    workload_name: str | None = None
    workload_type: str | None = None
    services: tuple[tuple[str, str], ...] = ()  # (name, namespace)


@dataclass(frozen=True)
class InventoryInput:
    subnets: Sequence[SubnetInfo] = ()
    instances: Sequence[InstanceInfo] = ()
    pods: Sequence[PodInfo] = ()


@dataclass(frozen=True)
class Endpoint:
    """An address of the VPC and what is behind it; ``instance`` reports its flows under
    ``subnet``'s ``logConfig``."""

    ip: str
    instance: InstanceInfo
    subnet: SubnetInfo
    pod: PodInfo | None = None

    @property
    def logging(self) -> bool:
        return self.subnet.log.enabled


class Inventory:
    """IP -> :class:`Endpoint` within one VPC network."""

    def __init__(self, data: InventoryInput) -> None:
        subnets = {s.key: s for s in data.subnets}
        self._by_ip: dict[tuple[str, str], tuple[InstanceInfo, SubnetInfo]] = {}
        # Per network, alias ranges sorted by first address: (first, last, instance, subnet).
        ranges: dict[str, list[tuple[int, int, InstanceInfo, SubnetInfo]]] = {}
        for inst in data.instances:
            subnet = subnets.get(inst.subnet_key)
            if subnet is None:
                continue
            self._by_ip[(inst.network, inst.ip)] = (inst, subnet)
            for cidr in inst.alias_ranges:
                net = ipaddress.ip_network(cidr, strict=False)
                ranges.setdefault(inst.network, []).append(
                    (int(net.network_address), int(net.broadcast_address), inst, subnet)
                )
        self._ranges = {k: sorted(v, key=lambda r: r[0]) for k, v in ranges.items()}
        self._starts = {k: [r[0] for r in v] for k, v in self._ranges.items()}
        self._pods = {(p.network, p.ip): p for p in data.pods}
        self._cache: dict[tuple[str, str], Endpoint | None] = {}

    def endpoint(self, network: str, ip: str) -> Endpoint | None:
        key = (network, ip)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._lookup(network, ip)
        self._cache[key] = found
        return found

    def _lookup(self, network: str, ip: str) -> Endpoint | None:
        hit = self._by_ip.get((network, ip))
        if hit is not None:
            return Endpoint(ip, hit[0], hit[1])
        ranges = self._ranges.get(network)
        if not ranges:
            return None
        try:
            addr = int(ipaddress.ip_address(ip))
        except ValueError:
            return None
        i = bisect.bisect_right(self._starts[network], addr) - 1
        if i < 0 or addr > ranges[i][1]:
            return None
        _, _, inst, subnet = ranges[i]
        return Endpoint(ip, inst, subnet, self._pods.get((network, ip)))


# -- Kubernetes ---------------------------------------------------------------------------------
def _controller(meta: Mapping[str, Any]) -> Mapping[str, Any] | None:
    refs = meta.get("ownerReferences") or []
    for ref in refs:
        if ref.get("controller"):
            return dict(ref)
    return dict(refs[0]) if refs else None


def workload_of(
    pod: Mapping[str, Any], owners: Mapping[tuple[str, str, str], Mapping[str, Any]]
) -> tuple[str, str] | None:
    """``(name, WORKLOAD_TYPE)`` of a pod's top-level controller; ``owners`` maps
    ``(kind, namespace, name)`` to the ReplicaSets and Jobs of the cluster."""
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    ref = _controller(meta)
    if ref is None:
        return None
    kind, name = str(ref.get("kind")), str(ref.get("name"))
    if kind in ("ReplicaSet", "Job"):
        parent = owners.get((kind, namespace, name))
        up = _controller(parent.get("metadata") or {}) if parent is not None else None
        if up is not None and up.get("kind") in ("Deployment", "CronJob"):
            kind, name = str(up["kind"]), str(up["name"])
    wtype = WORKLOAD_TYPES.get(kind)
    return None if wtype is None else (name, wtype)


def services_of(
    pod: Mapping[str, Any], services: Iterable[Mapping[str, Any]]
) -> tuple[tuple[str, str], ...]:
    """The services whose selector picks the pod, as GKE details list them."""
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    labels: Mapping[str, Any] = meta.get("labels") or {}
    found: list[tuple[str, str]] = []
    for svc in services:
        smeta = svc.get("metadata") or {}
        if str(smeta.get("namespace") or "default") != namespace:
            continue
        selector: Mapping[str, Any] = (svc.get("spec") or {}).get("selector") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            found.append((str(smeta.get("name")), namespace))
    found.sort()
    if len(found) > MAX_SERVICES:
        return ((MANY_SERVICES, ""),)
    return tuple(found)


def pods_of_cluster(
    *,
    network: str,
    cluster: str,
    location: str,
    pods: Iterable[Mapping[str, Any]],
    owners: Iterable[Mapping[str, Any]] = (),
    services: Iterable[Mapping[str, Any]] = (),
) -> list[PodInfo]:
    """The cluster's pods that have their own IP (not host-network), with workload and
    services. ``owners`` are the cluster's ReplicaSets and Jobs."""
    by_key = {
        (
            str(o.get("kind")),
            str((o.get("metadata") or {}).get("namespace") or "default"),
            str((o.get("metadata") or {}).get("name")),
        ): o
        for o in owners
    }
    svcs = list(services)
    out: list[PodInfo] = []
    for pod in pods:
        spec = pod.get("spec") or {}
        ip = str((pod.get("status") or {}).get("podIP") or "")
        if not ip or spec.get("hostNetwork"):
            continue
        meta = pod.get("metadata") or {}
        workload = workload_of(pod, by_key)
        out.append(
            PodInfo(
                network=network,
                ip=ip,
                name=str(meta.get("name")),
                namespace=str(meta.get("namespace") or "default"),
                cluster=cluster,
                cluster_location=location,
                workload_name=workload[0] if workload else None,
                workload_type=workload[1] if workload else None,
                services=services_of(pod, svcs),
            )
        )
    return out
