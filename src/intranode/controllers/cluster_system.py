"""kube-system as GKE runs it, kept in step with a cluster's nodes and intra-node visibility.

The objects come from ``domain.gke_objects``; this module decides which ones a cluster needs
now and creates or removes pods to match (``ensure_system_workloads``), placing each pod on its
node with the Kubernetes API's ``create_pod``.
"""

from __future__ import annotations

from typing import Any

from intranode.controllers import pods as kpods
from intranode.controllers.context import Context
from intranode.domain import gke_objects as objs
from intranode.domain import resources as R
from intranode.errors import NotFound
from intranode.store.resources import Resource

PODS = R.k8s_kind("pods")
NODES = R.k8s_kind("nodes")
DAEMONSETS = R.k8s_kind("daemonsets")
DEPLOYMENTS = R.k8s_kind("deployments")
REPLICASETS = R.k8s_kind("replicasets")
KUBE_SYSTEM = objs.KUBE_SYSTEM

Doc = dict[str, Any]


def _cluster_doc(ctx: Context, key: str) -> Doc:
    res = ctx.resources.get(R.CLUSTER, key)
    if res is None:
        raise NotFound(f"Not found: {key}.")
    return res.data


# Pods -----------------------------------------------------------------------------------
def system_pods(ctx: Context, key: str) -> list[Resource]:
    """The pods intranode runs for GKE's components (not users' pods, even in kube-system)."""
    return [
        r
        for r in ctx.resources.find(PODS, parent=R.k8s_parent(key, KUBE_SYSTEM))
        if (r.data["metadata"].get("annotations") or {}).get(objs.EMULATED_ANNOTATION) == "true"
    ]


def ensure_system_workloads(ctx: Context, key: str) -> None:
    """Make kube-system hold exactly what GKE runs for the cluster as it is now: a kube-proxy
    pod and a pod of each system DaemonSet on every Linux node (netd only with intra-node
    visibility), and the kube-dns replicas. Idempotent; creates only what is missing and
    removes only what should not be there."""
    now = ctx.clock()
    with ctx.resources.transaction():
        cluster = _cluster_doc(ctx, key)
        inv = bool(cluster.get("networkConfig", {}).get("enableIntraNodeVisibility"))
        nodes = [
            r.data
            for r in ctx.resources.find(NODES, parent=key)
            if r.data["metadata"].get("labels", {}).get(objs.OS_LABEL) == "linux"
        ]
        names = {n["metadata"]["name"] for n in nodes}
        system = system_pods(ctx, key)
        for ds in objs.SYSTEM_DAEMONSETS:
            _ensure_daemonset(ctx, key, ds, not ds.only_with_inv or inv, nodes, system, now)
        for pod in system:
            labels = pod.data["metadata"].get("labels") or {}
            if (
                labels.get("component") == "kube-proxy"
                and pod.data["spec"]["nodeName"] not in names
            ):
                ctx.resources.delete(PODS, pod.key)
        have = {
            p.data["spec"]["nodeName"]
            for p in system
            if (p.data["metadata"].get("labels") or {}).get("component") == "kube-proxy"
        }
        for node in nodes:
            if node["metadata"]["name"] not in have:
                version = node["status"]["nodeInfo"]["kubeletVersion"]
                _create_system_pod(ctx, key, objs.kube_proxy_pod(node, version, now=now), now)
        _ensure_kube_dns(ctx, key, sorted(names), system, now)


def _ensure_daemonset(
    ctx: Context,
    key: str,
    ds: objs.SystemDaemonSet,
    wanted: bool,
    nodes: list[Doc],
    system: list[Resource],
    now: float,
) -> None:
    ds_key = R.k8s_key(key, "daemonsets", ds.name, KUBE_SYSTEM)
    existing = ctx.resources.get(DAEMONSETS, ds_key)
    mine = [
        p
        for p in system
        if (p.data["metadata"].get("labels") or {}).get("k8s-app") == ds.name
        and ctx.resources.get(PODS, p.key) is not None
    ]
    if not wanted:
        for p in mine:
            ctx.resources.delete(PODS, p.key)
        if existing is not None:
            ctx.resources.delete(DAEMONSETS, ds_key)
        return
    if existing is None:
        ds_doc = objs.daemonset_object(ds, now=now)
        existing = ctx.resources.create(DAEMONSETS, ds_key, R.k8s_parent(key, KUBE_SYSTEM), ds_doc)
    selector = dict(ds.node_selector)
    targets = {
        n["metadata"]["name"]
        for n in nodes
        if all(n["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
    }
    placed = set()
    for p in mine:
        node = p.data["spec"].get("nodeName")
        if node in targets and node not in placed:
            placed.add(node)
        else:
            ctx.resources.delete(PODS, p.key)
    for node in sorted(targets - placed):
        _create_system_pod(ctx, key, objs.daemonset_pod(ds, existing.data, node, now=now), now)
    status = objs.daemonset_status(len(targets), len(targets))
    if existing.data.get("status") != status:
        ctx.resources.update(DAEMONSETS, ds_key, {**existing.data, "status": status})


def _ensure_kube_dns(
    ctx: Context, key: str, nodes: list[str], system: list[Resource], now: float
) -> None:
    if not nodes:
        return
    replicas = 1 if len(nodes) == 1 else 2
    dep_key = R.k8s_key(key, "deployments", objs.KUBE_DNS, KUBE_SYSTEM)
    rs_res = [
        r
        for r in ctx.resources.find(REPLICASETS, parent=R.k8s_parent(key, KUBE_SYSTEM))
        if r.data["metadata"].get("labels", {}).get("k8s-app") == objs.KUBE_DNS
    ]
    if ctx.resources.get(DEPLOYMENTS, dep_key) is None or not rs_res:
        deployment, replicaset = objs.kube_dns_objects(replicas=replicas, now=now)
        ctx.resources.put(DEPLOYMENTS, dep_key, R.k8s_parent(key, KUBE_SYSTEM), deployment)
        rs_key = R.k8s_key(key, "replicasets", replicaset["metadata"]["name"], KUBE_SYSTEM)
        rs = ctx.resources.create(REPLICASETS, rs_key, R.k8s_parent(key, KUBE_SYSTEM), replicaset)
    else:
        rs = rs_res[0]
    pods = [
        p
        for p in system
        if (p.data["metadata"].get("labels") or {}).get("k8s-app") == objs.KUBE_DNS
        and ctx.resources.get(PODS, p.key) is not None
    ]
    alive: list[Resource] = []
    for p in pods:
        if p.data["spec"].get("nodeName") in nodes and len(alive) < replicas:
            alive.append(p)
        else:
            ctx.resources.delete(PODS, p.key)
    used = {p.data["spec"]["nodeName"] for p in alive}
    free = [n for n in nodes if n not in used] or nodes
    for i in range(replicas - len(alive)):
        node = free[i % len(free)]
        _create_system_pod(ctx, key, objs.kube_dns_pod(rs.data, node, now=now), now)


def _create_system_pod(ctx: Context, key: str, pod: Doc, now: float) -> None:
    """Save a system pod placed on its node; its containers are emulated, so it runs at once."""
    res = kpods.create_pod(ctx, key, pod)
    running = dict(res.data)
    running["status"] = objs.running_status(res.data.get("status") or {}, now)
    ctx.resources.update(PODS, res.key, running)
