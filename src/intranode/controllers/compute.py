"""Compute Engine state: the project's seed and every change to networks, subnetworks,
firewall rules and routes. Each change is applied before the call returns and recorded as an
Operation that is already DONE, so ``get``/``wait`` on it answer at once.

Derived state follows the subnets whoever writes them (the cluster controller appends GKE's
secondary ranges straight to subnet documents): a store listener keeps one ``SUBNET`` route
per subnet range and each network's ``subnetworks`` list in step with SUBNETWORK changes.

Contracts other parts use: ``seed_project``; ``insert_firewall`` (or
``domain.firewalls.firewall_document`` plus a store write); ``add_secondary_ranges`` /
``remove_secondary_ranges`` (validated, fingerprint rotated).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from intranode.controllers import serviceusage
from intranode.controllers.context import Context
from intranode.domain import compute_networks as networks
from intranode.domain import compute_routes as routes
from intranode.domain import compute_subnets as subnets
from intranode.domain.auto_subnets import REGIONS, region_order
from intranode.domain.compute import (
    in_use,
    invalid_usage,
    link_key,
    not_found,
    operation_document,
    operation_key,
    scope_of,
)
from intranode.domain.firewalls import (
    default_firewall_bodies,
    firewall_document,
    patch_firewall,
    update_firewall,
)
from intranode.domain.resources import (
    COMPUTE_OPERATION,
    COMPUTE_PROJECT,
    FIREWALL,
    INSTANCE,
    NETWORK,
    ROUTE,
    SUBNETWORK,
    compute_link,
    firewall_key,
    network_key,
    new_fingerprint,
    project_key,
    project_number,
    route_key,
    subnetwork_key,
)
from intranode.domain.timefmt import compute_time
from intranode.errors import AlreadyExists
from intranode.store.resources import Change, ResourceStore

log = logging.getLogger(__name__)

SERVICE = "compute.googleapis.com"
Doc = dict[str, Any]

# Weak both ways: the store's listener list is what keeps a watcher alive.
_watchers: weakref.WeakKeyDictionary[ResourceStore, weakref.ref[_Watcher]] = (
    weakref.WeakKeyDictionary()
)


# Seed -----------------------------------------------------------------------------------------
def seed_project(ctx: Context, project: str) -> None:
    """What a new project has: the ``default`` auto-mode network with its 42 subnets, the
    four default firewall rules and the system routes. Runs at every start; the project
    document marks the seed as done, so resources a user deleted stay deleted."""
    watcher = _watch(ctx)
    store = ctx.resources
    if store.get(COMPUTE_PROJECT, project_key(project)) is None:
        now = ctx.clock()
        net = networks.network_document(
            project,
            networks.DEFAULT_NETWORK,
            now,
            auto=True,
            description=networks.DEFAULT_NETWORK_DESCRIPTION,
        )
        watcher.paused = True
        try:
            with store.transaction():
                store.create(
                    COMPUTE_PROJECT, project_key(project), "", _project_document(project, now)
                )
                _create_network(ctx, project, net, now)
                for body in default_firewall_bodies():
                    doc = firewall_document(project, body, now=now)
                    store.put(FIREWALL, firewall_key(project, doc["name"]), _global(project), doc)
        finally:
            watcher.paused = False
    for res in store.find(NETWORK):
        if res.key.startswith(f"projects/{project}/"):
            _sync_network(ctx, project, res.key)


def _project_document(project: str, now: float) -> Doc:
    number = project_number(project)  # a Compute project's id is its number
    return {
        "kind": "compute#project",
        "id": number,
        "creationTimestamp": compute_time(now),
        "name": project,
        "commonInstanceMetadata": {"kind": "compute#metadata", "fingerprint": new_fingerprint()},
        "defaultServiceAccount": f"{number}-compute@developer.gserviceaccount.com",
        "defaultNetworkTier": "PREMIUM",
        "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
        "vmDnsSetting": "ZONAL_ONLY",
        "selfLink": compute_link(project_key(project)),
    }


# Derived state --------------------------------------------------------------------------------
class _Watcher:
    """The listener that re-derives a network's routes when one of its subnets changes;
    paused while seeding writes many subnets at once (one sync follows)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.paused = False

    def __call__(self, change: Change) -> None:
        res = change.resource
        if res.kind != SUBNETWORK or self.paused:
            return
        project = res.key.split("/")[1]
        try:
            _sync_network(self.ctx, project, link_key(str(res.data.get("network", "")), project))
        except Exception:
            # The subnet change itself is committed; the next start re-derives the rest.
            log.exception("cannot update the routes of %s", res.key)


def _watch(ctx: Context) -> _Watcher:
    ref = _watchers.get(ctx.resources)
    watcher = ref() if ref is not None else None
    if watcher is None:
        watcher = _Watcher(ctx)
        _watchers[ctx.resources] = weakref.ref(watcher)
        ctx.resources.subscribe(watcher)
    return watcher


def _sync_network(ctx: Context, project: str, net_key: str) -> None:
    """Make the network's SUBNET routes and ``subnetworks`` list match its subnets."""
    store = ctx.resources
    with store.transaction():
        net = store.get(NETWORK, net_key)
        members = _subnets_in(ctx, project, net_key) if net is not None else []
        wanted = routes.desired_subnet_routes(project, net_key, members, ctx.clock())
        for res in store.find(ROUTE):
            doc = res.data
            if doc.get("routeType") != "SUBNET" or res.key in wanted:
                continue
            if link_key(str(doc.get("network", "")), project) == net_key:
                store.delete(ROUTE, res.key)
        for key, doc in wanted.items():
            if store.get(ROUTE, key) is None:
                store.create(ROUTE, key, _global(project), doc)
        if net is not None:
            links = [s["selfLink"] for s in members]
            if net.data.get("subnetworks") != links:
                store.update(NETWORK, net_key, {**net.data, "subnetworks": links})


# Reads ----------------------------------------------------------------------------------------
def require_project(ctx: Context, project: str) -> None:
    """404 for a project this daemon does not serve; 403 while Compute is disabled in it."""
    if ctx.resources.get(COMPUTE_PROJECT, project_key(project)) is None:
        raise not_found(project_key(project))
    serviceusage.require_enabled(ctx, project, SERVICE)


def require_region(project: str, region: str) -> None:
    if region not in REGIONS:
        raise not_found(f"projects/{project}/regions/{region}")


def get_document(ctx: Context, kind: str, key: str) -> Doc:
    res = ctx.resources.get(kind, key)
    if res is None:
        raise not_found(key)
    return res.data


def list_documents(ctx: Context, kind: str, key_prefix: str) -> list[Doc]:
    """Documents of ``kind`` whose key starts with ``key_prefix``, ordered by key (by region
    as Google orders them for subnets across regions)."""
    found = [r for r in ctx.resources.find(kind) if r.key.startswith(key_prefix)]
    if kind == SUBNETWORK:
        found.sort(key=lambda r: (region_order(r.key.split("/")[3]), r.key))
    return [r.data for r in found]


def _subnets_in(ctx: Context, project: str, net_key: str) -> list[Doc]:
    return [
        doc
        for doc in list_documents(ctx, SUBNETWORK, f"projects/{project}/regions/")
        if link_key(str(doc.get("network", "")), project) == net_key
    ]


def _existing_network_subnets(ctx: Context, project: str) -> Callable[[str], list[Doc]]:
    """Subnets of a network, for validations that must also refuse a missing network."""

    def subnets_of(net_key: str) -> list[Doc]:
        get_document(ctx, NETWORK, net_key)
        return _subnets_in(ctx, project, net_key)

    return subnets_of


def _instances_using(ctx: Context, project: str, field: str, key: str) -> list[str]:
    users = []
    for res in ctx.resources.find(INSTANCE):
        if not res.key.startswith(f"projects/{project}/"):
            continue
        for nic in res.data.get("networkInterfaces") or []:
            if link_key(str(nic.get(field, "")), project) == key:
                users.append(res.key)
                break
    return users


# Operations -----------------------------------------------------------------------------------
def _global(project: str) -> str:
    return f"projects/{project}/global"


def done_operation(
    ctx: Context, project: str, scope: str, op_type: str, target_key: str, target_id: str
) -> Doc:
    """A Compute operation already DONE (Compute's writes here finish before they answer)."""
    doc = operation_document(project, scope, op_type, target_key, target_id, ctx.clock())
    key = operation_key(project, scope, doc["name"])
    ctx.resources.create(COMPUTE_OPERATION, key, scope_of(key), doc)
    return doc


def get_operation(ctx: Context, project: str, scope: str, name: str) -> Doc:
    return get_document(ctx, COMPUTE_OPERATION, operation_key(project, scope, name))


def delete_operation(ctx: Context, project: str, scope: str, name: str) -> None:
    key = operation_key(project, scope, name)
    if ctx.resources.delete(COMPUTE_OPERATION, key) is None:
        raise not_found(key)


# Networks -------------------------------------------------------------------------------------
def _create_network(ctx: Context, project: str, doc: Doc, now: float) -> None:
    store = ctx.resources
    key = network_key(project, doc["name"])
    with store.transaction():
        store.create(NETWORK, key, _global(project), doc)
        if doc["autoCreateSubnetworks"]:
            for sub in networks.auto_subnetwork_documents(project, doc["name"], now):
                sub_key = link_key(sub["selfLink"], project)
                store.create(SUBNETWORK, sub_key, scope_of(sub_key), sub)
        internet = routes.internet_route_document(project, key, now)
        store.put(ROUTE, link_key(internet["selfLink"], project), _global(project), internet)


def insert_network(ctx: Context, project: str, data: Any) -> Doc:
    now = ctx.clock()
    doc = networks.insert_network(project, data, now)
    key = network_key(project, doc["name"])
    if ctx.resources.get(NETWORK, key) is not None:
        raise AlreadyExists(f"The resource '{key}' already exists")
    _create_network(ctx, project, doc, now)
    return done_operation(ctx, project, "global", "insert", key, doc["id"])


def patch_network(ctx: Context, project: str, name: str, data: Any) -> Doc:
    key = network_key(project, name)
    res = ctx.resources.get(NETWORK, key)
    if res is None:
        raise not_found(key)
    doc = networks.patch_network(res.data, data)
    ctx.resources.update(NETWORK, key, doc, expect_revision=res.revision)
    return done_operation(ctx, project, "global", "patch", key, doc["id"])


def delete_network(ctx: Context, project: str, name: str) -> Doc:
    key = network_key(project, name)
    net = get_document(ctx, NETWORK, key)
    internet_key = routes.internet_route_key(project, key)
    users: list[str] = []
    users += [
        link_key(d["selfLink"], project)
        for d in list_documents(ctx, FIREWALL, f"projects/{project}/global/firewalls/")
        if link_key(d["network"], project) == key
    ]
    users += [
        link_key(d["selfLink"], project)
        for d in list_documents(ctx, ROUTE, f"projects/{project}/global/routes/")
        if link_key(d["network"], project) == key
        and d.get("routeType") != "SUBNET"
        and link_key(d["selfLink"], project) != internet_key
    ]
    members = _subnets_in(ctx, project, key)
    users += [
        link_key(s["selfLink"], project) for s in members if not networks.is_auto_subnetwork(net, s)
    ]
    users += _instances_using(ctx, project, "network", key)
    if users:
        raise in_use("network", key, users[0])
    with ctx.resources.transaction():
        for sub in members:
            ctx.resources.delete(SUBNETWORK, link_key(sub["selfLink"], project))
        ctx.resources.delete(ROUTE, internet_key)
        ctx.resources.delete(NETWORK, key)
    _sync_network(ctx, project, key)
    return done_operation(ctx, project, "global", "delete", key, net["id"])


# Subnetworks ----------------------------------------------------------------------------------
def insert_subnetwork(ctx: Context, project: str, region: str, data: Any) -> Doc:
    require_region(project, region)
    doc, _net = subnets.insert_subnetwork(
        project, region, data, ctx.clock(), _existing_network_subnets(ctx, project)
    )
    key = subnetwork_key(project, region, doc["name"])
    ctx.resources.create(SUBNETWORK, key, scope_of(key), doc)
    return done_operation(ctx, project, f"regions/{region}", "insert", key, doc["id"])


def patch_subnetwork(ctx: Context, project: str, region: str, name: str, data: Any) -> Doc:
    key = subnetwork_key(project, region, name)
    doc = _patch_subnet(ctx, project, key, data)
    return done_operation(ctx, project, f"regions/{region}", "patch", key, doc["id"])


def _patch_subnet(ctx: Context, project: str, key: str, data: Any) -> Doc:
    res = ctx.resources.get(SUBNETWORK, key)
    if res is None:
        raise not_found(key)
    net_key = link_key(str(res.data.get("network", "")), project)
    new = subnets.patch_subnetwork(project, res.data, data, _subnets_in(ctx, project, net_key))
    ctx.resources.update(SUBNETWORK, key, new, expect_revision=res.revision)
    return new


def set_private_ip_google_access(
    ctx: Context, project: str, region: str, name: str, data: Any
) -> Doc:
    key = subnetwork_key(project, region, name)
    res = ctx.resources.get(SUBNETWORK, key)
    if res is None:
        raise not_found(key)
    new = subnets.set_private_ip_google_access(res.data, data)
    ctx.resources.update(SUBNETWORK, key, new, expect_revision=res.revision)
    return done_operation(
        ctx, project, f"regions/{region}", "setPrivateIpGoogleAccess", key, new["id"]
    )


def delete_subnetwork(ctx: Context, project: str, region: str, name: str) -> Doc:
    key = subnetwork_key(project, region, name)
    doc = get_document(ctx, SUBNETWORK, key)
    net = ctx.resources.get(NETWORK, link_key(str(doc.get("network", "")), project))
    if net is not None and networks.is_auto_subnetwork(net.data, doc):
        raise invalid_usage("Cannot delete auto subnetwork from an auto subnet mode network")
    users = _instances_using(ctx, project, "subnetwork", key)
    if users:
        raise in_use("subnetwork", key, users[0])
    ctx.resources.delete(SUBNETWORK, key)
    return done_operation(ctx, project, f"regions/{region}", "delete", key, doc["id"])


def add_secondary_ranges(
    ctx: Context, project: str, region: str, name: str, ranges: Sequence[dict[str, str]]
) -> Doc:
    """Append ``[{"rangeName", "ipCidrRange"}, ...]`` to a subnet (GKE's pod and service
    ranges), validated like a PATCH; the updated subnet document."""
    key = subnetwork_key(project, region, name)
    current = get_document(ctx, SUBNETWORK, key)
    body = {
        "fingerprint": current["fingerprint"],
        "secondaryIpRanges": [*(current.get("secondaryIpRanges") or []), *ranges],
    }
    return _patch_subnet(ctx, project, key, body)


def remove_secondary_ranges(
    ctx: Context, project: str, region: str, name: str, range_names: Sequence[str]
) -> Doc:
    key = subnetwork_key(project, region, name)
    current = get_document(ctx, SUBNETWORK, key)
    kept = [r for r in current.get("secondaryIpRanges") or [] if r["rangeName"] not in range_names]
    body = {"fingerprint": current["fingerprint"], "secondaryIpRanges": kept}
    return _patch_subnet(ctx, project, key, body)


# Firewall rules -------------------------------------------------------------------------------
def insert_firewall(ctx: Context, project: str, data: Any) -> Doc:
    doc = firewall_document(project, data, now=ctx.clock())
    get_document(ctx, NETWORK, link_key(doc["network"], project))
    key = firewall_key(project, doc["name"])
    ctx.resources.create(FIREWALL, key, _global(project), doc)
    return done_operation(ctx, project, "global", "insert", key, doc["id"])


def change_firewall(ctx: Context, project: str, name: str, data: Any, *, replace: bool) -> Doc:
    """PATCH (``replace=False``) or PUT (``replace=True``) a firewall rule."""
    key = firewall_key(project, name)
    res = ctx.resources.get(FIREWALL, key)
    if res is None:
        raise not_found(key)
    change = update_firewall if replace else patch_firewall
    doc = change(project, res.data, data)
    ctx.resources.update(FIREWALL, key, doc, expect_revision=res.revision)
    return done_operation(ctx, project, "global", "update" if replace else "patch", key, doc["id"])


def delete_firewall(ctx: Context, project: str, name: str) -> Doc:
    key = firewall_key(project, name)
    doc = get_document(ctx, FIREWALL, key)
    ctx.resources.delete(FIREWALL, key)
    return done_operation(ctx, project, "global", "delete", key, doc["id"])


# Routes ---------------------------------------------------------------------------------------
def insert_route(ctx: Context, project: str, data: Any) -> Doc:
    doc, _net, instance = routes.insert_route(
        project, data, ctx.clock(), _existing_network_subnets(ctx, project)
    )
    if instance is not None:
        get_document(ctx, INSTANCE, instance)
    key = route_key(project, doc["name"])
    ctx.resources.create(ROUTE, key, _global(project), doc)
    return done_operation(ctx, project, "global", "insert", key, doc["id"])


def delete_route(ctx: Context, project: str, name: str) -> Doc:
    key = route_key(project, name)
    doc = get_document(ctx, ROUTE, key)
    routes.check_deletable(doc)
    ctx.resources.delete(ROUTE, key)
    return done_operation(ctx, project, "global", "delete", key, doc["id"])
