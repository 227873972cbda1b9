"""What the console shows of a cluster's Kubernetes side: its nodes and the pods on each, read
from the store (the documents the Kubernetes API serves)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from intranode.controllers import pods as kpods
from intranode.controllers.context import Context
from intranode.domain import resources as R
from intranode.store.resources import Resource


@dataclass(frozen=True)
class PodRow:
    namespace: str
    name: str
    ip: str
    node: str
    phase: str
    ready: str  # "1/1"
    restarts: int
    host_network: bool
    start_time: str


@dataclass(frozen=True)
class NodeRow:
    name: str
    uid: str
    internal_ip: str
    pod_cidr: str
    pods: list[PodRow] = field(default_factory=list)


@dataclass(frozen=True)
class ClusterView:
    key: str
    name: str
    location: str
    status: str
    inv: bool
    network: str
    nodes: list[NodeRow]
    unscheduled: list[PodRow]

    @property
    def pod_count(self) -> int:
        return sum(len(n.pods) for n in self.nodes) + len(self.unscheduled)


def project_clusters(ctx: Context) -> list[Resource]:
    return ctx.resources.list_prefix(R.CLUSTER, f"projects/{ctx.settings.project}/locations/")


def pod_row(doc: dict[str, Any]) -> PodRow:
    meta, spec, status = doc.get("metadata") or {}, doc.get("spec") or {}, doc.get("status") or {}
    containers = status.get("containerStatuses") or []
    wanted = len(spec.get("containers") or []) or len(containers)
    ready = sum(1 for c in containers if c.get("ready"))
    return PodRow(
        namespace=str(meta.get("namespace", "default")),
        name=str(meta.get("name", "")),
        ip=str(status.get("podIP", "")),
        node=str(spec.get("nodeName", "")),
        phase=str(status.get("phase", "Pending")),
        ready=f"{ready}/{wanted}",
        restarts=sum(int(c.get("restartCount") or 0) for c in containers),
        host_network=bool(spec.get("hostNetwork")),
        start_time=str(status.get("startTime", "")),
    )


def cluster_view(ctx: Context, res: Resource) -> ClusterView:
    doc = res.data
    nodes: dict[str, NodeRow] = {}
    for n in ctx.resources.find(R.k8s_kind("nodes"), parent=res.key):
        meta, spec = n.data.get("metadata") or {}, n.data.get("spec") or {}
        addresses = (n.data.get("status") or {}).get("addresses") or []
        nodes[str(meta.get("name"))] = NodeRow(
            name=str(meta.get("name")),
            uid=str(meta.get("uid", "")),
            internal_ip=next(
                (str(a.get("address")) for a in addresses if a.get("type") == "InternalIP"), ""
            ),
            pod_cidr=str(spec.get("podCIDR", "")),
        )
    unscheduled: list[PodRow] = []
    for p in kpods.cluster_pods(ctx, res.key):
        row = pod_row(p.data)
        node = nodes.get(row.node)
        (node.pods if node is not None else unscheduled).append(row)
    network = str((doc.get("networkConfig") or {}).get("network", "")).rsplit("/", 1)[-1]
    return ClusterView(
        key=res.key,
        name=str(doc.get("name")),
        location=str(doc.get("location")),
        status=str(doc.get("status")),
        inv=bool((doc.get("networkConfig") or {}).get("enableIntraNodeVisibility")),
        network=network or "default",
        nodes=list(nodes.values()),
        unscheduled=unscheduled,
    )
