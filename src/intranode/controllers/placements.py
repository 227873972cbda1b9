"""Where every pod of every cluster is placed (node, IP), kept in memory for the scheduler.

Loaded from the store the first time a cluster is asked for, then kept exact by a store write
hook, which sees each pod write inside its transaction: placing a pod reads no document, and
two pods placed one after the other in separate transactions never get the same address.
"""

from __future__ import annotations

from dataclasses import dataclass

from intranode.domain.resources import k8s_kind
from intranode.store.resources import Change, ResourceStore

PODS = k8s_kind("pods")
_FIELDS = ("$.spec.nodeName", "$.spec.hostNetwork", "$.status.podIP", "$.status.phase")


@dataclass(frozen=True)
class Placement:
    node: str
    ip: str
    host_network: bool
    terminated: bool


def _placement(node: object, host_net: object, ip: object, phase: object) -> Placement:
    return Placement(
        str(node or ""), str(ip or ""), bool(host_net), phase in ("Succeeded", "Failed")
    )


def cluster_of(pod_key: str) -> str:
    return pod_key.split("/namespaces/", 1)[0]


class PlacementIndex:
    def __init__(self, resources: ResourceStore) -> None:
        self._resources = resources
        self._clusters: dict[str, dict[str, Placement]] = {}
        resources.add_hook(self)

    def pods(self, cluster_key: str) -> dict[str, Placement]:
        """Pod key -> placement for every pod of the cluster."""
        pods = self._clusters.get(cluster_key)
        if pods is None:
            rows = self._resources.fields(PODS, f"{cluster_key}/namespaces/", _FIELDS)
            pods = {key: _placement(*values) for key, values in rows}
            self._clusters[cluster_key] = pods
        return pods

    def changed(self, change: Change) -> None:
        res = change.resource
        if res.kind != PODS:
            return
        pods = self._clusters.get(cluster_of(res.key))
        if pods is None:
            return
        if change.type == "DELETED":
            pods.pop(res.key, None)
            return
        spec, status = res.data.get("spec") or {}, res.data.get("status") or {}
        pods[res.key] = _placement(
            spec.get("nodeName"), spec.get("hostNetwork"), status.get("podIP"), status.get("phase")
        )

    def invalidate(self) -> None:
        self._clusters.clear()
