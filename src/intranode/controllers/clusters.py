"""The cluster controller: GKE clusters, their node pools and their operations.

A mutating call checks the request (``domain.container``), then in one store transaction moves
the cluster to its transitional status (PROVISIONING, RECONCILING, STOPPING) and writes a
RUNNING operation whose private part (``container_docs.WORK``) says what the work is. The work runs
in the background (``ctx.runner``) as a list of steps, each idempotent: a daemon killed half way
runs the same steps again at its next start (``recover``) and ends where an uninterrupted run
would have, with nothing made twice.

Cancellation (``operations/{op}:cancel``) is cooperative: the operation turns ABORTING and the
work stops at its next safe point (before a step); the operation then ends DONE with a
CANCELLED ``error``. A cancelled create or delete leaves the cluster ERROR (delete it to clean
up); an update is only cancellable before it starts, so the cluster is left as it was.

What a cluster owns, so delete knows what to remove: its Kubernetes objects (keys under the
cluster key), the instances labelled with its name and location, the firewall rules
``gke-<cluster>-<hash>-*`` and the secondary ranges it added to its subnetwork.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from intranode.controllers import serviceusage
from intranode.controllers.cluster_steps import STEPS
from intranode.controllers.cluster_system import system_pods
from intranode.controllers.context import Context
from intranode.domain import container as gke
from intranode.domain import container_docs as docs
from intranode.domain import container_messages as msgs
from intranode.domain import container_ranges as ranges
from intranode.domain import naming
from intranode.domain import resources as R
from intranode.domain.compute import scope_of
from intranode.domain.compute_subnets import subnet_ranges
from intranode.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from intranode.store.resources import Resource

log = logging.getLogger(__name__)

SERVICE = "container.googleapis.com"
NODES = R.k8s_kind("nodes")

Doc = dict[str, Any]


@dataclass(frozen=True)
class Where:
    """The project and location of a request, and the path form it used (``locations`` or the
    legacy ``zones``), which GKE's messages repeat."""

    project: str
    location: str
    form: str = "locations"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def shown(self, *parts: str) -> str:
        return "/".join((f"projects/{self.project}/{self.form}/{self.location}", *parts))

    def cluster_key(self, name: str) -> str:
        return R.cluster_key(self.project, self.location, name)

    def operation_key(self, name: str) -> str:
        return f"{self.parent}/operations/{name}"


# Reads -----------------------------------------------------------------------------------------
def _require(ctx: Context, project: str) -> None:
    serviceusage.require_enabled(ctx, project, SERVICE)


def get_cluster(ctx: Context, where: Where, name: str) -> Doc:
    _require(ctx, where.project)
    return _cluster(ctx, where, name).data


def list_clusters(ctx: Context, where: Where) -> list[Doc]:
    _require(ctx, where.project)
    if where.location == "-":
        rows = ctx.resources.list_prefix(R.CLUSTER, f"projects/{where.project}/locations/")
    else:
        gke.parse_location(where.location)
        rows = ctx.resources.find(R.CLUSTER, parent=where.parent)
    return [r.data for r in rows]


def list_node_pools(ctx: Context, where: Where, cluster: str) -> list[Doc]:
    _require(ctx, where.project)
    return list(_cluster(ctx, where, cluster).data.get("nodePools", []))


def get_node_pool(ctx: Context, where: Where, cluster: str, pool: str) -> Doc:
    _require(ctx, where.project)
    doc = _cluster(ctx, where, cluster).data
    for p in doc.get("nodePools", []):
        if p["name"] == pool:
            return dict(p)
    raise NotFound(f"Not found: {where.shown('clusters', cluster, 'nodePools', pool)}.")


def get_operation(ctx: Context, where: Where, name: str) -> Doc:
    _require(ctx, where.project)
    return docs.public(done_operation(ctx, where, name).data)


def list_operations(ctx: Context, where: Where) -> list[Doc]:
    _require(ctx, where.project)
    if where.location == "-":
        rows = ctx.resources.list_prefix(
            R.CONTAINER_OPERATION, f"projects/{where.project}/locations/"
        )
    else:
        gke.parse_location(where.location)
        rows = ctx.resources.find(R.CONTAINER_OPERATION, parent=where.parent)
    return [docs.public(r.data) for r in rows]


def server_config(ctx: Context, where: Where) -> Doc:
    _require(ctx, where.project)
    gke.parse_location(where.location)
    return gke.server_config()


def _cluster(ctx: Context, where: Where, name: str) -> Resource:
    res = ctx.resources.get(R.CLUSTER, where.cluster_key(name))
    if res is None:
        raise NotFound(f"Not found: {where.shown('clusters', name)}.")
    return res


def done_operation(ctx: Context, where: Where, name: str) -> Resource:
    res = ctx.resources.get(R.CONTAINER_OPERATION, where.operation_key(name))
    if res is None:
        raise NotFound(f"Not found: {where.shown('operations', name)}.")
    return res


def _busy(ctx: Context, cluster_key: str) -> Resource | None:
    """The unfinished operation on a cluster, if any."""
    parent = cluster_key.rsplit("/clusters/", 1)[0]
    for op in ctx.resources.find(R.CONTAINER_OPERATION, parent=parent):
        if op.data.get("status") != "DONE" and op.data.get(docs.WORK, {}).get("cluster") == (
            cluster_key
        ):
            return op
    return None


_VERBS = {
    "CREATE_CLUSTER": "creating",
    "DELETE_CLUSTER": "deleting",
    "CREATE_NODE_POOL": "creating a node pool in",
    "DELETE_NODE_POOL": "deleting a node pool of",
    "UPGRADE_MASTER": "upgrading",
}


def _refuse_if_busy(ctx: Context, cluster_key: str, name: str) -> None:
    op = _busy(ctx, cluster_key)
    if op is not None:
        verb = _VERBS.get(op.data["operationType"], "updating")
        raise FailedPrecondition(
            f"Operation {op.data['name']} is currently {verb} cluster {name}. Please wait and "
            "try again once it is done."
        )


# Creating --------------------------------------------------------------------------------------
def create_cluster(ctx: Context, where: Where, cluster_in: msgs.ClusterIn | None) -> Doc:
    _require(ctx, where.project)
    if cluster_in is None:
        raise InvalidArgument("Required field 'cluster' not specified.")
    loc = gke.parse_location(where.location)
    plan = gke.plan_cluster(cluster_in, loc)
    project = where.project
    key = where.cluster_key(plan.name)
    network_key = R.network_key(project, plan.network)
    subnet_key = R.subnetwork_key(project, loc.region, plan.subnetwork)
    now = ctx.clock()
    with ctx.resources.transaction():
        if ctx.resources.get(R.CLUSTER, key) is not None:
            raise AlreadyExists(f"Already exists: {docs.zonal_key(key)}.")
        if ctx.resources.get(R.NETWORK, network_key) is None:
            raise InvalidArgument(f'Network "{plan.network}" does not exist.')
        subnet = ctx.resources.get(R.SUBNETWORK, subnet_key)
        if subnet is None or subnet.data.get("network") != R.compute_link(network_key):
            raise InvalidArgument(
                f'Subnetwork "{plan.subnetwork}" does not exist in region "{loc.region}" of '
                f'network "{plan.network}".'
            )
        existing = {
            r["rangeName"]: r["ipCidrRange"] for r in subnet.data.get("secondaryIpRanges", [])
        }
        pods, services = ranges.allocate_ranges(
            plan, _taken_ranges(ctx, project, network_key), existing
        )
        cluster_id = naming.new_cluster_id()
        chash = naming.cluster_hash(cluster_id)
        pods_range = plan.pods_range_name or naming.pods_range_name(plan.name, chash)
        services_range = plan.services_range_name or naming.services_range_name(plan.name, chash)
        pools = [
            _pool_doc(where, plan.name, p, pods_range, pods, status="PROVISIONING")
            for p in plan.pools
        ]
        doc = docs.cluster_document(
            plan,
            project=project,
            cluster_id=cluster_id,
            pods=pods,
            services=services,
            pods_range=pods_range,
            services_range=services_range,
            pools=pools,
            now=now,
        )
        ctx.resources.create(R.CLUSTER, key, where.parent, doc)
        op = _new_operation(ctx, where, "CREATE_CLUSTER", f"clusters/{plan.name}", key, now)
    _spawn(ctx, op)
    return docs.public(op)


def _pool_doc(
    where: Where, cluster: str, plan: gke.PoolPlan, pods_range: str, pods: str, *, status: str
) -> Doc:
    groups = {
        z: naming.instance_group_name(cluster, plan.name, naming.new_group_hash())
        for z in plan.zones
    }
    return docs.pool_document(
        plan,
        project=where.project,
        location=where.location,
        cluster=cluster,
        groups=groups,
        pods_range=pods_range,
        pods_cidr=pods,
        status=status,
    )


def _taken_ranges(ctx: Context, project: str, network_key: str) -> list[ranges.TakenRange]:
    """Every range a new cluster's ranges must not overlap: the network's subnets (primary and
    secondary) and every cluster of the project."""
    out: list[ranges.TakenRange] = []
    link = R.compute_link(network_key)
    for s in ctx.resources.list_prefix(R.SUBNETWORK, f"projects/{project}/"):
        if s.data.get("network") == link:
            region = scope_of(s.key).rsplit("/", 1)[-1]
            owner = f'subnetwork "{s.data["name"]}" in {region}'
            out += [ranges.TakenRange(c, owner) for c in subnet_ranges(s.data)]
    for c in ctx.resources.list_prefix(R.CLUSTER, f"projects/{project}/"):
        for cidr in (c.data.get("clusterIpv4Cidr"), c.data.get("servicesIpv4Cidr")):
            if cidr:
                out.append(ranges.TakenRange(cidr, f'a range of cluster "{c.data["name"]}"'))
    return out


def _new_operation(
    ctx: Context,
    where: Where,
    op_type: str,
    target: str,
    cluster_key: str,
    now: float,
    **work: Any,
) -> Doc:
    name = naming.operation_name(now)
    op = docs.operation_document(
        project=where.project,
        location=where.location,
        name=name,
        op_type=op_type,
        target_path=target,
        now=now,
    )
    op[docs.WORK] = {"cluster": cluster_key, **work}
    ctx.resources.create(R.CONTAINER_OPERATION, where.operation_key(name), where.parent, op)
    return op


# Updating --------------------------------------------------------------------------------------
def update_cluster(
    ctx: Context, where: Where, name: str, update_in: msgs.ClusterUpdateIn | None
) -> Doc:
    _require(ctx, where.project)
    if update_in is None:
        raise InvalidArgument("Required field 'update' not specified.")
    now = ctx.clock()
    with ctx.resources.transaction():
        res = _cluster(ctx, where, name)
        _refuse_if_busy(ctx, res.key, name)
        _require_settled(res.data)
        plan = gke.plan_update(update_in, res.data)
        restart = (
            [p.data["metadata"]["uid"] for p in system_pods(ctx, res.key)]
            if plan.inv is not None
            else []
        )
        doc = copy.deepcopy(res.data)
        doc["status"] = "RECONCILING"
        ctx.resources.update(R.CLUSTER, res.key, doc)
        op = _new_operation(
            ctx,
            where,
            plan.op_type,
            f"clusters/{name}",
            res.key,
            now,
            inv=plan.inv,
            masterVersion=plan.master_version,
            stored=plan.stored,
            restartUids=restart,
        )
    _spawn(ctx, op)
    return docs.public(op)


def _require_settled(cluster: Doc) -> None:
    if cluster.get("status") not in ("RUNNING", "DEGRADED"):
        raise FailedPrecondition(
            f"Cluster {cluster['name']} is {cluster.get('status')}; it can be changed only "
            "while it is RUNNING."
        )


# Deleting --------------------------------------------------------------------------------------
def delete_cluster(ctx: Context, where: Where, name: str) -> Doc:
    _require(ctx, where.project)
    now = ctx.clock()
    with ctx.resources.transaction():
        res = _cluster(ctx, where, name)
        _refuse_if_busy(ctx, res.key, name)
        doc = copy.deepcopy(res.data)
        doc["status"] = "STOPPING"
        ctx.resources.update(R.CLUSTER, res.key, doc)
        op = _new_operation(ctx, where, "DELETE_CLUSTER", f"clusters/{name}", res.key, now)
    _spawn(ctx, op)
    return docs.public(op)


# Node pools ------------------------------------------------------------------------------------
def create_node_pool(
    ctx: Context, where: Where, cluster: str, pool_in: msgs.NodePoolIn | None
) -> Doc:
    _require(ctx, where.project)
    if pool_in is None:
        raise InvalidArgument("Required field 'node_pool' not specified.")
    loc = gke.parse_location(where.location)
    now = ctx.clock()
    with ctx.resources.transaction():
        res = _cluster(ctx, where, cluster)
        _refuse_if_busy(ctx, res.key, cluster)
        _require_settled(res.data)
        doc = copy.deepcopy(res.data)
        plan = gke.plan_pool(
            pool_in,
            default_zones=tuple(doc.get("locations") or (loc.name,)),
            region=loc.region,
            master_version=doc["currentMasterVersion"],
            autopilot=bool(doc.get("autopilot", {}).get("enabled")),
        )
        gke.check_new_pool(plan, doc)
        policy = doc["ipAllocationPolicy"]
        pool_doc = _pool_doc(
            where,
            cluster,
            plan,
            policy["clusterSecondaryRangeName"],
            policy["clusterIpv4Cidr"],
            status="PROVISIONING",
        )
        _check_pool_room(ctx, res.key, doc, plan)
        doc["nodePools"].append(pool_doc)
        docs.refresh_cluster_summary(doc)
        doc["status"] = "RECONCILING"
        ctx.resources.update(R.CLUSTER, res.key, doc)
        op = _new_operation(
            ctx,
            where,
            "CREATE_NODE_POOL",
            f"clusters/{cluster}/nodePools/{plan.name}",
            res.key,
            now,
            pool=plan.name,
        )
    _spawn(ctx, op)
    return docs.public(op)


def _check_pool_room(ctx: Context, key: str, cluster: Doc, plan: gke.PoolPlan) -> None:
    pods = cluster["clusterIpv4Cidr"]
    capacity = 2 ** (gke.NODE_POD_PREFIX - ipaddress.ip_network(pods).prefixlen)
    used = len(ctx.resources.find(NODES, parent=key))
    if used + plan.node_count > capacity:
        raise FailedPrecondition(
            f"The Pod address range {pods} of cluster {cluster['name']} has room for "
            f"{capacity - used} more node(s); node pool {plan.name} needs {plan.node_count}."
        )


def delete_node_pool(ctx: Context, where: Where, cluster: str, pool: str) -> Doc:
    _require(ctx, where.project)
    now = ctx.clock()
    with ctx.resources.transaction():
        res = _cluster(ctx, where, cluster)
        doc = copy.deepcopy(res.data)
        target = next((p for p in doc.get("nodePools", []) if p["name"] == pool), None)
        if target is None:
            raise NotFound(f"Not found: {where.shown('clusters', cluster, 'nodePools', pool)}.")
        _refuse_if_busy(ctx, res.key, cluster)
        _require_settled(res.data)
        rest = [p for p in doc["nodePools"] if p["name"] != pool]
        if rest and all(gke.pool_is_windows(p) for p in rest):
            raise FailedPrecondition(
                f"Node pool {pool} is the cluster's last Linux node pool; a cluster with "
                "Windows Server node pools needs at least one Linux node pool."
            )
        target["status"] = "STOPPING"
        doc["status"] = "RECONCILING"
        ctx.resources.update(R.CLUSTER, res.key, doc)
        op = _new_operation(
            ctx,
            where,
            "DELETE_NODE_POOL",
            f"clusters/{cluster}/nodePools/{pool}",
            res.key,
            now,
            pool=pool,
        )
    _spawn(ctx, op)
    return docs.public(op)


# Cancelling ------------------------------------------------------------------------------------
def cancel_operation(ctx: Context, where: Where, name: str) -> Doc:
    _require(ctx, where.project)
    with ctx.resources.transaction():
        res = done_operation(ctx, where, name)
        if res.data.get("status") == "DONE":
            raise FailedPrecondition(f"Operation {name} is already done and cannot be cancelled.")
        if ctx.runner.is_running(name):
            op = dict(res.data)
            op["status"] = "ABORTING"
            ctx.resources.update(R.CONTAINER_OPERATION, res.key, op)
            return {}
    _finish_cancelled(ctx, res.key)
    return {}


class _Cancelled(Exception):
    """Raised at a safe point when the operation was asked to stop."""


def _finish_cancelled(ctx: Context, op_key: str) -> None:
    now = ctx.clock()
    with ctx.resources.transaction():
        res = ctx.resources.get(R.CONTAINER_OPERATION, op_key)
        if res is None or res.data.get("status") == "DONE":
            return
        op = res.data
        message = "The operation was cancelled."
        ctx.resources.update(
            R.CONTAINER_OPERATION,
            op_key,
            docs.finish_operation(op, now, error=(docs.GRPC_CANCELLED, message)),
        )
        kind = op["operationType"]
        status = "ERROR" if kind in ("CREATE_CLUSTER", "DELETE_CLUSTER") else "RUNNING"
        note = {
            "CREATE_CLUSTER": "Cluster creation was cancelled; delete the cluster to clean up.",
            "DELETE_CLUSTER": "Cluster deletion was cancelled; delete the cluster again.",
        }.get(kind, "")
        _set_cluster_status(ctx, _cluster_of(op), status, note, pool_status="ERROR")


def _cluster_of(op: Doc) -> str:
    return str((op.get(docs.WORK) or {}).get("cluster", ""))


def _set_cluster_status(
    ctx: Context, key: str, status: str, message: str, *, pool_status: str | None = None
) -> None:
    res = ctx.resources.get(R.CLUSTER, key) if key else None
    if res is None:
        return
    doc = copy.deepcopy(res.data)
    doc["status"] = status
    if message:
        doc["statusMessage"] = message
    else:
        doc.pop("statusMessage", None)
    if pool_status is not None:
        for p in doc.get("nodePools", []):
            if p.get("status") in ("PROVISIONING", "STOPPING", "RECONCILING"):
                p["status"] = pool_status
    ctx.resources.update(R.CLUSTER, key, doc)


# Running operations ----------------------------------------------------------------------------
def _spawn(ctx: Context, op: Doc) -> None:
    key = _op_key(op)

    async def work() -> None:
        await run_operation(ctx, key)

    ctx.runner.spawn(op["name"], work, lambda message, code: _fail(ctx, key, message, code))


def _op_key(op: Doc) -> str:
    cluster_key: str = op[docs.WORK]["cluster"]
    return cluster_key.rsplit("/clusters/", 1)[0] + f"/operations/{op['name']}"


async def run_operation(ctx: Context, op_key: str, *, max_steps: int | None = None) -> None:
    """Run (or resume) an operation's steps, then finish it.

    ``max_steps`` stops after that many steps without finishing, as a crash would: tests use it
    to leave an operation half done; the daemon never passes it.
    """
    res = ctx.resources.get(R.CONTAINER_OPERATION, op_key)
    if res is None or res.data.get("status") == "DONE":
        return
    steps = STEPS[res.data["operationType"]]
    try:
        for i, step in enumerate(steps):
            if max_steps is not None and i >= max_steps:
                return
            current = _op_doc(ctx, op_key)
            if current.get("status") == "ABORTING":
                raise _Cancelled
            await step(ctx, current[docs.WORK])
            await asyncio.sleep(0)
    except _Cancelled:
        _finish_cancelled(ctx, op_key)
        return
    _finish_ok(ctx, op_key)


def _op_doc(ctx: Context, op_key: str) -> Doc:
    res = ctx.resources.get(R.CONTAINER_OPERATION, op_key)
    if res is None:
        raise NotFound(f"Not found: {op_key}.")
    return res.data


def _fail(ctx: Context, op_key: str, message: str, http_code: int) -> None:
    """A failed operation ends DONE with ``error``; its cluster says why."""
    log.warning("operation %s failed: %s", op_key, message)
    now = ctx.clock()
    with ctx.resources.transaction():
        res = ctx.resources.get(R.CONTAINER_OPERATION, op_key)
        if res is None or res.data.get("status") == "DONE":
            return
        op = res.data
        ctx.resources.update(
            R.CONTAINER_OPERATION,
            op_key,
            docs.finish_operation(op, now, error=(docs.grpc_code(http_code), message)),
        )
        kind = op["operationType"]
        status = "ERROR" if kind in ("CREATE_CLUSTER", "DELETE_CLUSTER") else "DEGRADED"
        _set_cluster_status(ctx, _cluster_of(op), status, message, pool_status="ERROR")


def _finish_ok(ctx: Context, op_key: str) -> None:
    now = ctx.clock()
    with ctx.resources.transaction():
        op = _op_doc(ctx, op_key)
        key = op[docs.WORK]["cluster"]
        if op["operationType"] == "DELETE_CLUSTER":
            ctx.resources.delete(R.CLUSTER, key)
        else:
            res = ctx.resources.get(R.CLUSTER, key)
            if res is not None:
                doc = copy.deepcopy(res.data)
                doc["status"] = "RUNNING"
                doc.pop("statusMessage", None)
                for p in doc.get("nodePools", []):
                    p["status"] = "RUNNING"
                doc["currentNodeCount"] = len(ctx.resources.find(NODES, parent=key))
                ctx.resources.update(R.CLUSTER, key, doc)
        ctx.resources.update(R.CONTAINER_OPERATION, op_key, docs.finish_operation(op, now))


# Restart ---------------------------------------------------------------------------------------
async def recover(ctx: Context) -> None:
    """At daemon start: resume every unfinished operation (its steps are idempotent), and bring
    any cluster left in a transitional status without one to where it belongs."""
    live: set[str] = set()
    for res in ctx.resources.find(R.CONTAINER_OPERATION):
        op = res.data
        if op.get("status") == "DONE":
            continue
        work = op.get(docs.WORK)
        if op.get("status") == "ABORTING":
            _finish_cancelled(ctx, res.key)
        elif not work or op.get("operationType") not in STEPS:
            _fail(
                ctx,
                res.key,
                "intranode restarted while this operation ran and cannot resume it.",
                500,
            )
        else:
            live.add(work["cluster"])
            log.info("resuming operation %s", op["name"])
            _spawn(ctx, op)
    for res in ctx.resources.find(R.CLUSTER):
        if res.key in live:
            continue
        status = res.data.get("status")
        if status == "PROVISIONING":
            _set_cluster_status(
                ctx, res.key, "ERROR", "Cluster creation was interrupted; delete the cluster."
            )
        elif status == "RECONCILING":
            # It may have stopped in a control-plane restart; the endpoint start is idempotent.
            await ctx.endpoints.start(res.key)
            _set_cluster_status(ctx, res.key, "RUNNING", "")
        elif status == "STOPPING":
            await _delete_now(ctx, res.key)


async def _delete_now(ctx: Context, key: str) -> None:
    """Finish deleting a cluster whose delete operation is gone."""
    work = {"cluster": key}
    for step in STEPS["DELETE_CLUSTER"]:
        await step(ctx, work)
    ctx.resources.delete(R.CLUSTER, key)
