"""Pod placement: which node a pod runs on and which address of that node's range it gets.

``place_pod`` only reads the store; callers run it in the same store transaction as the write
that saves the pod (``create_pod`` does both), so two pods never get the same address.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from intranode.controllers.context import Context
from intranode.domain.ipam import allocate_pod_ip
from intranode.domain.kube.pods import (
    DATA_PLANE_WAITING,
    NodeView,
    choose_node,
    default_pod,
    node_view,
    pending_status,
    placement_events,
    unschedulable_status,
)
from intranode.domain.kube_objects import new_uid, object_meta
from intranode.domain.resources import k8s_key, k8s_kind, k8s_parent
from intranode.errors import AlreadyExists
from intranode.store.resources import Resource

PODS = k8s_kind("pods")
NODES = k8s_kind("nodes")
NAMESPACES = k8s_kind("namespaces")
EVENTS = k8s_kind("events")
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def cluster_pods(ctx: Context, cluster_key: str) -> list[Resource]:
    """Every pod of a cluster, in every namespace."""
    return ctx.resources.list_prefix(PODS, f"{k8s_parent(cluster_key, '')}")


def cluster_nodes(ctx: Context, cluster_key: str) -> list[NodeView]:
    return [node_view(r.data) for r in ctx.resources.find(NODES, parent=cluster_key)]


def place_pod(ctx: Context, cluster_key: str, pod: dict[str, Any]) -> dict[str, Any]:
    """``pod`` bound to a node, with its host and pod IPs and its initial (Pending) status.

    A pod with ``spec.nodeName`` keeps it; otherwise the Linux node with the fewest pods that
    matches ``nodeSelector`` is chosen. With no node that fits, the pod stays Pending with
    ``PodScheduled=False`` (reason Unschedulable), as kube-scheduler leaves it.
    """
    out = copy.deepcopy(pod)
    spec: dict[str, Any] = out.setdefault("spec", {})
    meta = out.get("metadata") or {}
    me = (meta.get("namespace"), meta.get("name"))
    now = ctx.clock()
    nodes = {n.name: n for n in cluster_nodes(ctx, cluster_key)}
    my_key = k8s_key(cluster_key, "pods", str(me[1]), str(me[0] or "default"))
    others = [
        p
        for key, p in ctx.placements.pods(cluster_key).items()
        if not p.terminated and key != my_key
    ]
    node_name = spec.get("nodeName")
    if not node_name:
        load = Counter(p.node for p in others)
        placement = choose_node(out, nodes.values(), load)
        if placement.node is None:
            out["status"] = unschedulable_status(out, placement.reason, now)
            return out
        node_name = spec["nodeName"] = placement.node.name
    node = nodes.get(str(node_name))
    host_ip = node.internal_ip if node else ""
    pod_ip: str | None
    if spec.get("hostNetwork"):
        pod_ip = host_ip or None
    elif node is None or not node.pod_cidr:
        pod_ip = None
    else:
        used = (p.ip for p in others if p.node == node_name and not p.host_network)
        pod_ip = allocate_pod_ip(node.pod_cidr, used)
    waiting = "" if ctx.data_plane else DATA_PLANE_WAITING
    out["status"] = pending_status(out, host_ip, pod_ip, now, waiting)
    return out


def new_pod(ctx: Context, pod: dict[str, Any], namespace: str) -> dict[str, Any]:
    """``pod`` with the metadata and spec defaults kube-apiserver adds on create."""
    out = default_pod(pod)
    out["apiVersion"], out["kind"] = "v1", "Pod"
    given = out.get("metadata") or {}
    meta = object_meta(str(given.get("name", "")), now=ctx.clock(), namespace=namespace)
    out["metadata"] = {**given, **{k: v for k, v in meta.items() if k not in given}}
    out["metadata"]["namespace"] = namespace
    return out


def create_pod(ctx: Context, cluster_key: str, pod: dict[str, Any]) -> Resource:
    """Save a new pod (defaults, node and IP chosen in the same transaction).

    For controllers making system pods; the namespace is created if it is missing.
    """
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    name = str(pod["metadata"]["name"])
    key = k8s_key(cluster_key, "pods", name, namespace)
    with ctx.resources.transaction():
        ensure_namespace(ctx, cluster_key, namespace)
        if ctx.resources.get(PODS, key) is not None:
            raise AlreadyExists(f'pods "{name}" already exists')
        placed = place_pod(ctx, cluster_key, new_pod(ctx, pod, namespace))
        res = ctx.resources.create(PODS, key, k8s_parent(cluster_key, namespace), placed)
        # System pods are run by their controller at once: no "waiting" event for them.
        record_placement_events(ctx, cluster_key, res.data, waiting=False)
        return res


def record_placement_events(
    ctx: Context, cluster_key: str, pod: dict[str, Any], *, waiting: bool = True
) -> None:
    """The Events a placed pod gets: Scheduled (or FailedScheduling) and, with ``waiting``,
    why its containers wait."""
    now = ctx.clock()
    for i, event in enumerate(placement_events(pod, now, waiting=waiting)):
        meta = event["metadata"]
        # Like kube's recorder: the object's name and a hex timestamp, so names sort by time.
        meta["name"] = f"{pod['metadata']['name']}.{int(now * 1e9) + i:x}"
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = event["firstTimestamp"]
        ns = str(meta["namespace"])
        key = k8s_key(cluster_key, "events", meta["name"], ns)
        ctx.resources.create(EVENTS, key, k8s_parent(cluster_key, ns), event)


def namespace_doc(name: str, now: float) -> dict[str, Any]:
    meta = object_meta(name, now=now, labels={"kubernetes.io/metadata.name": name})
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def ensure_namespace(ctx: Context, cluster_key: str, name: str) -> None:
    key = k8s_key(cluster_key, "namespaces", name)
    if ctx.resources.get(NAMESPACES, key) is None:
        ctx.resources.create(NAMESPACES, key, cluster_key, namespace_doc(name, ctx.clock()))


def ensure_system_namespaces(ctx: Context, cluster_key: str) -> None:
    """``default``, ``kube-system``, ``kube-public`` and ``kube-node-lease``; idempotent."""
    with ctx.resources.transaction():
        for name in SYSTEM_NAMESPACES:
            ensure_namespace(ctx, cluster_key, name)
