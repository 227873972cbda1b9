"""Internal passthrough load balancing (the collectors of Packet Mirroring): unmanaged instance
groups and their members, health checks, regional backend services and forwarding rules.
Each change is applied before the call returns and recorded as an Operation already DONE, in
the resource's scope (``zones/<z>``, ``regions/<r>`` or ``global``), as the rest of Compute.

An instance group's members are kept apart from its document (kind
``INSTANCE_GROUP_MEMBERS``, keyed by the group), because Google serves them only through
``listInstances``; the group's ``size``, ``network`` and ``subnetwork`` are derived from the
members that still exist whenever the group is read.

Deleting something another resource uses is refused with Google's ``resourceInUseByAnother
Resource`` error: a group behind a backend service, a health check of a backend service, a
backend service behind a forwarding rule, a forwarding rule that a packet mirroring sends to.

Contracts other parts use: :func:`lookup` (the store as a ``domain.load_balancing.Lookup``),
:func:`taken_ips`, :func:`members`, and the ``insert_*`` functions (``create_collector``
chains them in one transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from intranode.controllers.compute import (
    done_operation,
    get_document,
    list_documents,
    require_region,
)
from intranode.controllers.context import Context
from intranode.domain import load_balancing as lb
from intranode.domain.compute import in_use, invalid_field, link_key, not_found, scope_of
from intranode.domain.resources import (
    BACKEND_SERVICE,
    FORWARDING_RULE,
    HEALTH_CHECK,
    INSTANCE,
    INSTANCE_GROUP,
    INSTANCE_GROUP_MEMBERS,
    PACKET_MIRRORING,
    backend_service_key,
    compute_link,
    forwarding_rule_key,
    health_check_key,
    instance_group_key,
)
from intranode.errors import InvalidArgument

Doc = dict[str, Any]


def key_of(doc: Doc) -> str:
    """The store key of a served document (its selfLink without host and version)."""
    return link_key(str(doc["selfLink"]), "")


def lookup(ctx: Context) -> lb.Lookup:
    """The store as the domain's ``Lookup``; instance groups as they are served."""

    def get(kind: str, key: str) -> Doc | None:
        if kind == INSTANCE_GROUP:
            return _group_view(ctx, key)
        res = ctx.resources.get(kind, key)
        return None if res is None else res.data

    return get


def taken_ips(ctx: Context, project: str) -> Callable[[str], set[str]]:
    """The addresses of a subnet in use: instances' nic0 and forwarding rules'."""

    def taken(subnet_key: str) -> set[str]:
        instances = list_documents(ctx, INSTANCE, f"projects/{project}/zones/")
        used = set(lb.subnet_addresses(project, subnet_key, instances))
        for rule in list_documents(ctx, FORWARDING_RULE, f"projects/{project}/regions/"):
            if link_key(str(rule.get("subnetwork", "")), project) == subnet_key:
                used.add(str(rule["IPAddress"]))
        return used

    return taken


def _refuse_if_used(
    ctx: Context,
    what: str,
    key: str,
    kind: str,
    prefix: str,
    references: Callable[[Doc], list[str]],
) -> None:
    """Google's in-use error when a ``kind`` document under ``prefix`` references ``key``."""
    project = key.split("/")[1]
    for doc in list_documents(ctx, kind, prefix):
        if key in (link_key(ref, project) for ref in references(doc)):
            raise in_use(what, key, key_of(doc))


def _create(ctx: Context, kind: str, doc: Doc, scope: str, op_type: str) -> Doc:
    key = key_of(doc)
    ctx.resources.create(kind, key, scope_of(key), doc)
    return done_operation(ctx, key.split("/")[1], scope, op_type, key, doc["id"])


def _delete(ctx: Context, kind: str, key: str, scope: str) -> Doc:
    doc = get_document(ctx, kind, key)
    ctx.resources.delete(kind, key)
    return done_operation(ctx, key.split("/")[1], scope, "delete", key, doc["id"])


# Instance groups --------------------------------------------------------------------------------
def _zone(project: str, zone: str) -> str:
    lb.check_zone(project, zone)
    return f"zones/{zone}"


def members(ctx: Context, group_key: str) -> list[str]:
    """Store keys of the group's instances, in the order they joined (gone ones left out)."""
    res = ctx.resources.get(INSTANCE_GROUP_MEMBERS, group_key)
    keys = [] if res is None else [str(k) for k in res.data.get("instances") or []]
    return [k for k in keys if ctx.resources.get(INSTANCE, k) is not None]


def _group_view(ctx: Context, key: str) -> Doc | None:
    res = ctx.resources.get(INSTANCE_GROUP, key)
    if res is None:
        return None
    docs = [get_document(ctx, INSTANCE, k) for k in members(ctx, key)]
    return lb.group_with_members(key.split("/")[1], res.data, docs)


def get_instance_group(ctx: Context, project: str, zone: str, name: str) -> Doc:
    key = instance_group_key(project, zone, name)
    doc = _group_view(ctx, key)
    if doc is None:
        raise not_found(key)
    return doc


def list_instance_groups(ctx: Context, prefix: str) -> list[Doc]:
    views = (_group_view(ctx, key_of(d)) for d in list_documents(ctx, INSTANCE_GROUP, prefix))
    return [v for v in views if v is not None]


def insert_instance_group(ctx: Context, project: str, zone: str, data: Any) -> Doc:
    scope = _zone(project, zone)
    doc = lb.instance_group_document(project, zone, data, ctx.clock())
    return _create(ctx, INSTANCE_GROUP, doc, scope, "insert")


def delete_instance_group(ctx: Context, project: str, zone: str, name: str) -> Doc:
    scope = _zone(project, zone)
    key = instance_group_key(project, zone, name)
    _refuse_if_used(
        ctx,
        "instance_group",
        key,
        BACKEND_SERVICE,
        f"projects/{project}/regions/",
        lambda bs: [str(b["group"]) for b in bs.get("backends") or []],
    )
    with ctx.resources.transaction():
        op = _delete(ctx, INSTANCE_GROUP, key, scope)
        ctx.resources.delete(INSTANCE_GROUP_MEMBERS, key)
    return op


def add_instances(ctx: Context, project: str, zone: str, name: str, data: Any) -> Doc:
    """``addInstances``: every named instance must exist, be in the group's zone and network,
    and not be a member yet; all join or none."""
    scope = _zone(project, zone)
    key = instance_group_key(project, zone, name)
    group = get_instance_group(ctx, project, zone, name)
    wanted = lb.instance_references(project, zone, data, "instance_groups_add_instances_request")
    with ctx.resources.transaction():
        current = members(ctx, key)
        docs = [get_document(ctx, INSTANCE, k) for k in current]
        for instance_key in wanted:
            instance = get_document(ctx, INSTANCE, instance_key)
            if instance_key in current:
                raise InvalidArgument(
                    f"Resource '{compute_link(instance_key)}' is already a member of "
                    f"'{compute_link(key)}'",
                    reason="memberAlreadyExists",
                )
            lb.check_new_member(project, group, instance, docs)
            current.append(instance_key)
            docs.append(instance)
        ctx.resources.put(INSTANCE_GROUP_MEMBERS, key, scope_of(key), {"instances": current})
        return done_operation(ctx, project, scope, "addInstances", key, group["id"])


def remove_instances(ctx: Context, project: str, zone: str, name: str, data: Any) -> Doc:
    scope = _zone(project, zone)
    key = instance_group_key(project, zone, name)
    group = get_instance_group(ctx, project, zone, name)
    unwanted = lb.instance_references(project, zone, data, "instance_groups_add_instances_request")
    with ctx.resources.transaction():
        current = members(ctx, key)
        for i, instance_key in enumerate(unwanted):
            if instance_key not in current:
                raise invalid_field(
                    f"instances[{i}].instance",
                    compute_link(instance_key),
                    f"The instance is not a member of '{compute_link(key)}'.",
                )
        kept = [k for k in current if k not in unwanted]
        ctx.resources.put(INSTANCE_GROUP_MEMBERS, key, scope_of(key), {"instances": kept})
        return done_operation(ctx, project, scope, "removeInstances", key, group["id"])


def list_instances(ctx: Context, project: str, zone: str, name: str, data: Any) -> list[Doc]:
    """``listInstances``: ``{instance, status}`` of each member (RUNNING only, if asked)."""
    _zone(project, zone)
    key = instance_group_key(project, zone, name)
    get_instance_group(ctx, project, zone, name)
    state = lb.list_instances_state(data)
    out = []
    for instance_key in members(ctx, key):
        status = str(get_document(ctx, INSTANCE, instance_key).get("status", "RUNNING"))
        if state == "ALL" or status == "RUNNING":
            out.append({"instance": compute_link(instance_key), "status": status})
    return out


# Health checks --------------------------------------------------------------------------------
def _check_scope(project: str, region: str | None) -> str:
    if region is None:
        return "global"
    require_region(project, region)
    return f"regions/{region}"


def insert_health_check(ctx: Context, project: str, region: str | None, data: Any) -> Doc:
    scope = _check_scope(project, region)
    doc = lb.health_check_document(project, region, data, ctx.clock())
    return _create(ctx, HEALTH_CHECK, doc, scope, "insert")


def delete_health_check(ctx: Context, project: str, region: str | None, name: str) -> Doc:
    scope = _check_scope(project, region)
    key = health_check_key(project, region, name)
    get_document(ctx, HEALTH_CHECK, key)
    _refuse_if_used(
        ctx,
        "health_check",
        key,
        BACKEND_SERVICE,
        f"projects/{project}/regions/",
        lambda bs: [str(h) for h in bs.get("healthChecks") or []],
    )
    return _delete(ctx, HEALTH_CHECK, key, scope)


# Backend services -----------------------------------------------------------------------------
def insert_backend_service(ctx: Context, project: str, region: str, data: Any) -> Doc:
    require_region(project, region)
    doc = lb.backend_service_document(project, region, data, ctx.clock(), lookup(ctx))
    return _create(ctx, BACKEND_SERVICE, doc, f"regions/{region}", "insert")


def update_backend_service(ctx: Context, project: str, region: str, name: str, data: Any) -> Doc:
    """PUT: the whole backend service (gcloud's ``add-backend`` and ``remove-backend``)."""
    require_region(project, region)
    key = backend_service_key(project, region, name)
    res = ctx.resources.get(BACKEND_SERVICE, key)
    if res is None:
        raise not_found(key)
    doc = lb.update_backend_service(project, region, res.data, data, lookup(ctx))
    for rule in list_documents(ctx, FORWARDING_RULE, f"projects/{project}/regions/{region}/"):
        if link_key(str(rule["backendService"]), project) == key:
            _check_backends_network(ctx, project, doc, rule)
    ctx.resources.update(BACKEND_SERVICE, key, doc, expect_revision=res.revision)
    return done_operation(ctx, project, f"regions/{region}", "update", key, doc["id"])


def _check_backends_network(ctx: Context, project: str, service: Doc, rule: Doc) -> None:
    """A backend service behind a forwarding rule keeps to the rule's network."""
    net = link_key(str(rule["network"]), project)
    for i, group_key in enumerate(lb.backend_groups(project, service)):
        group = _group_view(ctx, group_key)
        if group and group.get("network") and link_key(str(group["network"]), project) != net:
            raise invalid_field(
                f"resource.backends[{i}].group",
                compute_link(group_key),
                f"The instances of the group must be in the network of the forwarding rule "
                f"'{rule['selfLink']}'.",
            )


def delete_backend_service(ctx: Context, project: str, region: str, name: str) -> Doc:
    require_region(project, region)
    key = backend_service_key(project, region, name)
    get_document(ctx, BACKEND_SERVICE, key)
    _refuse_if_used(
        ctx,
        "backend_service",
        key,
        FORWARDING_RULE,
        f"projects/{project}/regions/",
        lambda rule: [str(rule.get("backendService", ""))],
    )
    return _delete(ctx, BACKEND_SERVICE, key, f"regions/{region}")


# Forwarding rules -------------------------------------------------------------------------------
def insert_forwarding_rule(ctx: Context, project: str, region: str, data: Any) -> Doc:
    require_region(project, region)
    with ctx.resources.transaction():  # the address is free when the rule takes it
        doc = lb.forwarding_rule_document(
            project, region, data, ctx.clock(), lookup(ctx), taken_ips(ctx, project)
        )
        return _create(ctx, FORWARDING_RULE, doc, f"regions/{region}", "insert")


def patch_forwarding_rule(ctx: Context, project: str, region: str, name: str, data: Any) -> Doc:
    require_region(project, region)
    key = forwarding_rule_key(project, region, name)
    res = ctx.resources.get(FORWARDING_RULE, key)
    if res is None:
        raise not_found(key)
    doc = lb.patch_forwarding_rule(res.data, data)
    ctx.resources.update(FORWARDING_RULE, key, doc, expect_revision=res.revision)
    return done_operation(ctx, project, f"regions/{region}", "patch", key, doc["id"])


def delete_forwarding_rule(ctx: Context, project: str, region: str, name: str) -> Doc:
    require_region(project, region)
    key = forwarding_rule_key(project, region, name)
    get_document(ctx, FORWARDING_RULE, key)
    _refuse_if_used(
        ctx,
        "forwarding_rule",
        key,
        PACKET_MIRRORING,
        f"projects/{project}/regions/",
        lambda pm: [str(pm["collectorIlb"]["url"])],
    )
    return _delete(ctx, FORWARDING_RULE, key, f"regions/{region}")
