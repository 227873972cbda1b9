"""The steps of GKE's cluster operations. Each step is idempotent: run again after a crash, it
finishes what is missing and makes nothing twice, so a resumed operation ends where an
uninterrupted one would have.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from intranode.controllers import compute
from intranode.controllers import pods as kpods
from intranode.controllers.cluster_system import ensure_system_workloads, system_pods
from intranode.controllers.context import Context
from intranode.domain import container as gke
from intranode.domain import container_docs as docs
from intranode.domain import container_ranges as ranges
from intranode.domain import gke_objects as objs
from intranode.domain import naming
from intranode.domain import resources as R
from intranode.domain.compute import scope_of
from intranode.errors import NotFound
from intranode.store.resources import Resource

PODS = R.k8s_kind("pods")
NODES = R.k8s_kind("nodes")
SERVICES = R.k8s_kind("services")

Doc = dict[str, Any]
Step = Callable[[Context, Doc], Awaitable[None]]


# Helpers ---------------------------------------------------------------------------------------
def _doc(ctx: Context, key: str) -> Doc:
    res = ctx.resources.get(R.CLUSTER, key)
    if res is None:
        raise NotFound(f"Not found: {key}.")
    return copy.deepcopy(res.data)


def _project_of(key: str) -> str:
    return key.split("/")[1]


def _subnet_key(cluster: Doc) -> str:
    return str(cluster["networkConfig"]["subnetwork"])


def _subnet_of(cluster: Doc) -> tuple[str, str, str]:
    """(project, region, name) of the cluster's subnetwork."""
    parts = _subnet_key(cluster).split("/")
    return parts[1], parts[3], parts[5]


def _owns_range(cluster: Doc, range_name: str) -> bool:
    """Whether GKE made the range for the cluster (a range the user named is theirs)."""
    chash = naming.cluster_hash(cluster["id"])
    return range_name in (
        naming.pods_range_name(cluster["name"], chash),
        naming.services_range_name(cluster["name"], chash),
    )


async def _step_ranges(ctx: Context, work: Doc) -> None:
    """Add the cluster's Pod and Service ranges to its subnetwork (the ones GKE made)."""
    cluster = _doc(ctx, work["cluster"])
    policy = cluster["ipAllocationPolicy"]
    wanted = [
        (policy["clusterSecondaryRangeName"], policy["clusterIpv4Cidr"]),
        (policy["servicesSecondaryRangeName"], policy["servicesIpv4Cidr"]),
    ]
    project, region, name = _subnet_of(cluster)
    with ctx.resources.transaction():
        subnet = compute.get_document(ctx, R.SUBNETWORK, _subnet_key(cluster))
        names = {r["rangeName"] for r in subnet.get("secondaryIpRanges") or []}
        added = [
            {"rangeName": n, "ipCidrRange": c}
            for n, c in wanted
            if n not in names and _owns_range(cluster, n)
        ]
        if added:
            compute.add_secondary_ranges(ctx, project, region, name, added)


async def _step_endpoint(ctx: Context, work: Doc) -> None:
    key = work["cluster"]
    info = await ctx.endpoints.start(key)
    with ctx.resources.transaction():
        doc = _doc(ctx, key)
        doc["endpoint"] = info.endpoint
        doc.setdefault("masterAuth", {})["clusterCaCertificate"] = info.ca_certificate_b64
        ctx.resources.update(R.CLUSTER, key, doc)


async def _step_firewalls(ctx: Context, work: Doc) -> None:
    """GKE's firewall rules for the cluster (netd_inv.md §4)."""
    cluster = _doc(ctx, work["cluster"])
    project = _project_of(work["cluster"])
    subnet = compute.get_document(ctx, R.SUBNETWORK, _subnet_key(cluster))
    bodies = objs.firewall_bodies(
        cluster=cluster["name"],
        chash=naming.cluster_hash(cluster["id"]),
        network=cluster["networkConfig"]["network"],
        pods_cidr=cluster["clusterIpv4Cidr"],
        subnet_cidr=subnet["ipCidrRange"],
        master_ip=str(cluster.get("endpoint") or "127.0.0.1").rsplit(":", 1)[0],
    )
    with ctx.resources.transaction():
        for body in bodies:
            if ctx.resources.get(R.FIREWALL, R.firewall_key(project, body["name"])) is None:
                compute.insert_firewall(ctx, project, body)


async def _step_kube_basics(ctx: Context, work: Doc) -> None:
    """The namespaces every cluster has and the ``kubernetes`` and ``kube-dns`` Services."""
    key = work["cluster"]
    cluster = _doc(ctx, key)
    now = ctx.clock()
    with ctx.resources.transaction():
        kpods.ensure_system_namespaces(ctx, key)
        for svc in objs.cluster_services(cluster["servicesIpv4Cidr"], now=now):
            meta = svc["metadata"]
            skey = R.k8s_key(key, "services", meta["name"], meta["namespace"])
            if ctx.resources.get(SERVICES, skey) is None:
                ctx.resources.create(SERVICES, skey, R.k8s_parent(key, meta["namespace"]), svc)


async def _step_nodes(ctx: Context, work: Doc) -> None:
    """The instances and Nodes of every pool (or of ``work["pool"]``) that do not exist yet."""
    key = work["cluster"]
    cluster = _doc(ctx, key)
    for pool in cluster.get("nodePools", []):
        if work.get("pool") in (None, pool["name"]):
            _ensure_pool_nodes(ctx, key, cluster, pool)


def _instances_of(ctx: Context, project: str, cluster: Doc) -> list[Resource]:
    return [
        r
        for r in ctx.resources.list_prefix(R.INSTANCE, f"projects/{project}/zones/")
        if r.data.get("labels", {}).get("goog-k8s-cluster-name") == cluster["name"]
        and r.data.get("labels", {}).get("goog-k8s-cluster-location") == cluster["location"]
    ]


def _ensure_pool_nodes(ctx: Context, key: str, cluster: Doc, pool: Doc) -> None:
    project = _project_of(key)
    subnet_key = _subnet_key(cluster)
    subnet_link = R.compute_link(subnet_key)
    pods = cluster["clusterIpv4Cidr"]
    now = ctx.clock()
    with ctx.resources.transaction():
        subnet = ctx.resources.get(R.SUBNETWORK, subnet_key)
        if subnet is None:
            raise NotFound(f"The resource '{subnet_key}' was not found")
        all_instances = ctx.resources.list_prefix(R.INSTANCE, f"projects/{project}/zones/")
        used_ips: list[str] = []
        used_blocks: list[str] = []
        for inst in all_instances:
            for nic in inst.data.get("networkInterfaces", []):
                if nic.get("subnetwork") == subnet_link:
                    used_ips.append(nic.get("networkIP", ""))
                used_blocks += [a["ipCidrRange"] for a in nic.get("aliasIpRanges", [])]
        for url in pool["instanceGroupUrls"]:
            zone, base = docs.group_of_url(url)
            have = [
                r
                for r in ctx.resources.find(R.INSTANCE, parent=f"projects/{project}/zones/{zone}")
                if r.data["name"].startswith(base + "-")
            ]
            missing = int(pool["initialNodeCount"]) - len(have)
            if missing <= 0:
                continue
            blocks = ranges.node_pod_ranges(pods, used_blocks, missing)
            for block in blocks:
                ip = ranges.next_node_ip(subnet.data["ipCidrRange"], used_ips)
                used_ips.append(ip)
                used_blocks.append(block)
                _create_node(ctx, key, cluster, pool, zone, base, ip, block, now)


def _create_node(
    ctx: Context,
    key: str,
    cluster: Doc,
    pool: Doc,
    zone: str,
    group_base: str,
    ip: str,
    block: str,
    now: float,
) -> None:
    project = _project_of(key)
    name = f"{group_base}-{naming.new_node_suffix()}"
    while ctx.resources.get(R.INSTANCE, R.instance_key(project, zone, name)) is not None:
        name = f"{group_base}-{naming.new_node_suffix()}"
    spec = objs.NodeSpec(
        project=project,
        project_number=R.project_number(project),
        cluster=cluster["name"],
        cluster_id=cluster["id"],
        location=cluster["location"],
        zone=zone,
        pool=pool["name"],
        group=group_base + "-grp",
        name=name,
        network=R.key_from_link(cluster["networkConfig"]["network"], project),
        subnetwork=_subnet_key(cluster),
        internal_ip=ip,
        pod_cidr=block,
        pods_range=cluster["ipAllocationPolicy"]["clusterSecondaryRangeName"],
        tag=naming.node_tag(cluster["name"], naming.cluster_hash(cluster["id"])),
        version=pool["version"],
        windows=gke.pool_is_windows(pool),
        config=pool["config"],
    )
    instance_id = R.new_numeric_id()
    ikey = R.instance_key(project, zone, name)
    ctx.resources.create(
        R.INSTANCE,
        ikey,
        scope_of(ikey),
        objs.instance_document(spec, instance_id=instance_id, now=now),
    )
    node = objs.node_object(spec, instance_id=instance_id, now=now)
    ctx.resources.create(NODES, R.k8s_key(key, "nodes", name), key, node)


async def _step_workloads(ctx: Context, work: Doc) -> None:
    ensure_system_workloads(ctx, work["cluster"])


async def _step_update(ctx: Context, work: Doc) -> None:
    """Apply an update; a change of intra-node visibility or version restarts the control
    plane (same CA and port) and re-creates every kube-system pod, as GKE restarts the control
    plane and node components. Users' pods are left alone."""
    key = work["cluster"]
    with ctx.resources.transaction():
        doc = _doc(ctx, key)
        gke.apply_stored_updates(doc, work.get("stored") or {})
        if work.get("masterVersion"):
            doc["currentMasterVersion"] = work["masterVersion"]
        ctx.resources.update(R.CLUSTER, key, doc)
    inv = work.get("inv")
    if inv is None and not work.get("masterVersion"):
        return
    await ctx.endpoints.stop(key)
    try:
        if inv is not None:
            with ctx.resources.transaction():
                doc = _doc(ctx, key)
                if inv:
                    doc["networkConfig"]["enableIntraNodeVisibility"] = True
                else:
                    doc["networkConfig"].pop("enableIntraNodeVisibility", None)
                ctx.resources.update(R.CLUSTER, key, doc)
                old = set(work.get("restartUids") or [])
                for pod in system_pods(ctx, key):
                    if pod.data["metadata"]["uid"] in old:
                        ctx.resources.delete(PODS, pod.key)
                ensure_system_workloads(ctx, key)
    finally:
        info = await ctx.endpoints.start(key)
        with ctx.resources.transaction():
            doc = _doc(ctx, key)
            doc["endpoint"] = info.endpoint
            doc.setdefault("masterAuth", {})["clusterCaCertificate"] = info.ca_certificate_b64
            ctx.resources.update(R.CLUSTER, key, doc)


async def _step_stop_endpoint(ctx: Context, work: Doc) -> None:
    await ctx.endpoints.stop(work["cluster"])


async def _step_delete_kube(ctx: Context, work: Doc) -> None:
    key = work["cluster"]
    with ctx.resources.transaction():
        for kind in ctx.resources.kinds("k8s."):
            for r in ctx.resources.list_prefix(kind, key):
                if r.parent == key or r.parent.startswith(key + "/"):
                    ctx.resources.delete(kind, r.key)


async def _step_delete_instances(ctx: Context, work: Doc) -> None:
    key = work["cluster"]
    res = ctx.resources.get(R.CLUSTER, key)
    if res is None:
        return
    with ctx.resources.transaction():
        for inst in _instances_of(ctx, _project_of(key), res.data):
            ctx.resources.delete(R.INSTANCE, inst.key)


async def _step_delete_firewalls(ctx: Context, work: Doc) -> None:
    key = work["cluster"]
    res = ctx.resources.get(R.CLUSTER, key)
    if res is None:
        return
    project, cluster = _project_of(key), res.data
    chash = naming.cluster_hash(cluster["id"])
    with ctx.resources.transaction():
        for suffix in naming.FIREWALL_SUFFIXES:
            name = naming.firewall_name(cluster["name"], chash, suffix)
            if ctx.resources.get(R.FIREWALL, R.firewall_key(project, name)) is not None:
                compute.delete_firewall(ctx, project, name)


async def _step_delete_ranges(ctx: Context, work: Doc) -> None:
    res = ctx.resources.get(R.CLUSTER, work["cluster"])
    if res is None:
        return
    cluster = res.data
    project, region, name = _subnet_of(cluster)
    with ctx.resources.transaction():
        subnet = ctx.resources.get(R.SUBNETWORK, _subnet_key(cluster))
        if subnet is None:
            return
        mine = [
            r["rangeName"]
            for r in subnet.data.get("secondaryIpRanges") or []
            if _owns_range(cluster, r["rangeName"])
        ]
        if mine:
            compute.remove_secondary_ranges(ctx, project, region, name, mine)


async def _step_delete_pool(ctx: Context, work: Doc) -> None:
    """Remove a node pool's pods, Nodes and instances, then the pool itself."""
    key, pool_name = work["cluster"], work["pool"]
    with ctx.resources.transaction():
        doc = _doc(ctx, key)
        pool = next((p for p in doc.get("nodePools", []) if p["name"] == pool_name), None)
        if pool is not None:
            bases = {docs.group_of_url(u)[1] for u in pool.get("instanceGroupUrls", [])}
            doomed = {
                r.data["name"]
                for r in _instances_of(ctx, _project_of(key), doc)
                if r.data.get("labels", {}).get("goog-k8s-node-pool-name") == pool_name
                or any(r.data["name"].startswith(b + "-") for b in bases)
            }
            for pod in kpods.cluster_pods(ctx, key):
                if (pod.data.get("spec") or {}).get("nodeName") in doomed:
                    ctx.resources.delete(PODS, pod.key)
            for inst in _instances_of(ctx, _project_of(key), doc):
                if inst.data["name"] in doomed:
                    ctx.resources.delete(R.INSTANCE, inst.key)
                    ctx.resources.delete(NODES, R.k8s_key(key, "nodes", inst.data["name"]))
            doc["nodePools"] = [p for p in doc["nodePools"] if p["name"] != pool_name]
            docs.refresh_cluster_summary(doc)
            ctx.resources.update(R.CLUSTER, key, doc)
        ensure_system_workloads(ctx, key)


# An operation can be cancelled before each of its steps.
STEPS: dict[str, tuple[Step, ...]] = {
    "CREATE_CLUSTER": (
        _step_ranges,
        _step_endpoint,
        _step_firewalls,
        _step_kube_basics,
        _step_nodes,
        _step_workloads,
    ),
    "UPDATE_CLUSTER": (_step_update,),
    "UPGRADE_MASTER": (_step_update,),
    "DELETE_CLUSTER": (
        _step_stop_endpoint,
        _step_delete_kube,
        _step_delete_instances,
        _step_delete_firewalls,
        _step_delete_ranges,
    ),
    "CREATE_NODE_POOL": (_step_nodes, _step_workloads),
    "DELETE_NODE_POOL": (_step_delete_pool,),
}
