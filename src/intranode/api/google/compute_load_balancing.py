"""Compute v1: what an internal passthrough load balancer (a Packet Mirroring collector) is
made of: zonal unmanaged ``instanceGroups`` (with ``addInstances``, ``removeInstances``,
``listInstances``), global and regional ``healthChecks``, regional ``backendServices`` and
``forwardingRules``, each with its aggregated list."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from intranode.api.deps import read_json
from intranode.api.google.compute_wire import (
    Doc,
    ListQuery,
    aggregated_reply,
    list_query,
    list_reply,
    project_ctx,
    reply,
    scope_from_link,
)
from intranode.controllers import compute as ctl
from intranode.controllers import load_balancing as lbc
from intranode.domain import load_balancing as lb
from intranode.domain.resources import (
    BACKEND_SERVICE,
    FORWARDING_RULE,
    HEALTH_CHECK,
    INSTANCE,
    backend_service_key,
    forwarding_rule_key,
    health_check_key,
    instance_group_key,
)

router = APIRouter()
P = "/projects/{project}"
GROUPS = P + "/zones/{zone}/instanceGroups"
SERVICES = P + "/regions/{region}/backendServices"
RULES = P + "/regions/{region}/forwardingRules"


def _health_check_scope(doc: Doc) -> str:
    """``global`` or ``regions/r`` of a health check, for the aggregated list."""
    return scope_from_link("region")(doc) if doc.get("region") else "global"


# Instance groups --------------------------------------------------------------------------------
@router.get(P + "/aggregated/instanceGroups")
async def aggregated_instance_groups(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    docs = lbc.list_instance_groups(ctx, f"projects/{project}/zones/")
    return aggregated_reply(
        "compute#instanceGroupAggregatedList",
        f"projects/{project}/aggregated/instanceGroups",
        "instanceGroups",
        docs,
        q,
        scope_from_link("zone"),
    )


@router.get(GROUPS)
async def list_instance_groups(
    project: str, zone: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    lb.check_zone(project, zone)
    collection = f"projects/{project}/zones/{zone}/instanceGroups"
    docs = lbc.list_instance_groups(ctx, collection + "/")
    return list_reply("compute#instanceGroupList", collection, docs, q)


@router.post(GROUPS)
async def insert_instance_group(project: str, zone: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(lbc.insert_instance_group(ctx, project, zone, await read_json(request)))


@router.get(GROUPS + "/{group}")
async def get_instance_group(project: str, zone: str, group: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(lbc.get_instance_group(ctx, project, zone, group))


@router.delete(GROUPS + "/{group}")
async def delete_instance_group(
    project: str, zone: str, group: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(lbc.delete_instance_group(ctx, project, zone, group))


@router.post(GROUPS + "/{group}/addInstances")
async def add_instances(project: str, zone: str, group: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    body = await read_json(request)
    return reply(lbc.add_instances(ctx, project, zone, group, body))


@router.post(GROUPS + "/{group}/removeInstances")
async def remove_instances(project: str, zone: str, group: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    body = await read_json(request)
    return reply(lbc.remove_instances(ctx, project, zone, group, body))


@router.post(GROUPS + "/{group}/listInstances")
async def list_instances(
    project: str, zone: str, group: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    docs = lbc.list_instances(ctx, project, zone, group, await read_json(request))
    key = instance_group_key(project, zone, group)
    return list_reply("compute#instanceGroupsListInstances", key, docs, q)


@router.get(P + "/zones/{zone}/instanceGroupManagers")
async def list_instance_group_managers(
    project: str, zone: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    """Read-only: the managed groups of GKE's node pools (see ``lb.managed_groups``)."""
    ctx = project_ctx(request, project)
    lb.check_zone(project, zone)
    instances = ctl.list_documents(ctx, INSTANCE, f"projects/{project}/zones/{zone}/")
    collection = f"projects/{project}/zones/{zone}/instanceGroupManagers"
    docs = lb.managed_groups(project, zone, instances)
    return list_reply("compute#instanceGroupManagerList", collection, docs, q)


# Health checks --------------------------------------------------------------------------------
@router.get(P + "/aggregated/healthChecks")
async def aggregated_health_checks(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    docs = ctl.list_documents(ctx, HEALTH_CHECK, f"projects/{project}/")
    return aggregated_reply(
        "compute#healthChecksAggregatedList",
        f"projects/{project}/aggregated/healthChecks",
        "healthChecks",
        docs,
        q,
        _health_check_scope,
    )


def _add_health_check_routes(fragment: str, regional: bool) -> None:
    base = P + fragment + "/healthChecks"

    def scope(project: str, region: str | None) -> str | None:
        if not regional:
            return None
        assert region is not None
        ctl.require_region(project, region)
        return region

    async def list_checks(
        project: str,
        request: Request,
        q: ListQuery = Depends(list_query),
        region: str | None = None,
    ) -> JSONResponse:
        ctx = project_ctx(request, project)
        where = scope(project, region)
        collection = health_check_key(project, where, "x").rsplit("/", 1)[0]
        docs = ctl.list_documents(ctx, HEALTH_CHECK, collection + "/")
        return list_reply("compute#healthCheckList", collection, docs, q)

    async def insert_check(
        project: str, request: Request, region: str | None = None
    ) -> JSONResponse:
        ctx = project_ctx(request, project)
        body = await read_json(request)
        return reply(lbc.insert_health_check(ctx, project, scope(project, region), body))

    async def get_check(
        project: str, check: str, request: Request, region: str | None = None
    ) -> JSONResponse:
        ctx = project_ctx(request, project)
        key = health_check_key(project, scope(project, region), check)
        return reply(ctl.get_document(ctx, HEALTH_CHECK, key))

    async def delete_check(
        project: str, check: str, request: Request, region: str | None = None
    ) -> JSONResponse:
        ctx = project_ctx(request, project)
        return reply(lbc.delete_health_check(ctx, project, scope(project, region), check))

    router.add_api_route(base, list_checks, methods=["GET"])
    router.add_api_route(base, insert_check, methods=["POST"])
    router.add_api_route(base + "/{check}", get_check, methods=["GET"])
    router.add_api_route(base + "/{check}", delete_check, methods=["DELETE"])


_add_health_check_routes("/global", regional=False)
_add_health_check_routes("/regions/{region}", regional=True)


# Backend services -----------------------------------------------------------------------------
@router.get(P + "/aggregated/backendServices")
async def aggregated_backend_services(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    docs = ctl.list_documents(ctx, BACKEND_SERVICE, f"projects/{project}/regions/")
    return aggregated_reply(
        "compute#backendServiceAggregatedList",
        f"projects/{project}/aggregated/backendServices",
        "backendServices",
        docs,
        q,
        scope_from_link("region"),
    )


@router.get(SERVICES)
async def list_backend_services(
    project: str, region: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    ctl.require_region(project, region)
    collection = f"projects/{project}/regions/{region}/backendServices"
    docs = ctl.list_documents(ctx, BACKEND_SERVICE, collection + "/")
    return list_reply("compute#backendServiceList", collection, docs, q)


@router.post(SERVICES)
async def insert_backend_service(project: str, region: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(lbc.insert_backend_service(ctx, project, region, await read_json(request)))


@router.get(SERVICES + "/{service}")
async def get_backend_service(
    project: str, region: str, service: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    key = backend_service_key(project, region, service)
    return reply(ctl.get_document(ctx, BACKEND_SERVICE, key))


@router.put(SERVICES + "/{service}")
async def update_backend_service(
    project: str, region: str, service: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    body = await read_json(request)
    return reply(lbc.update_backend_service(ctx, project, region, service, body))


@router.delete(SERVICES + "/{service}")
async def delete_backend_service(
    project: str, region: str, service: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(lbc.delete_backend_service(ctx, project, region, service))


# Forwarding rules -------------------------------------------------------------------------------
@router.get(P + "/aggregated/forwardingRules")
async def aggregated_forwarding_rules(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    docs = ctl.list_documents(ctx, FORWARDING_RULE, f"projects/{project}/regions/")
    return aggregated_reply(
        "compute#forwardingRuleAggregatedList",
        f"projects/{project}/aggregated/forwardingRules",
        "forwardingRules",
        docs,
        q,
        scope_from_link("region"),
    )


@router.get(RULES)
async def list_forwarding_rules(
    project: str, region: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    ctl.require_region(project, region)
    collection = f"projects/{project}/regions/{region}/forwardingRules"
    docs = ctl.list_documents(ctx, FORWARDING_RULE, collection + "/")
    return list_reply("compute#forwardingRuleList", collection, docs, q)


@router.post(RULES)
async def insert_forwarding_rule(project: str, region: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(lbc.insert_forwarding_rule(ctx, project, region, await read_json(request)))


@router.get(RULES + "/{rule}")
async def get_forwarding_rule(
    project: str, region: str, rule: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    key = forwarding_rule_key(project, region, rule)
    return reply(ctl.get_document(ctx, FORWARDING_RULE, key))


@router.patch(RULES + "/{rule}")
async def patch_forwarding_rule(
    project: str, region: str, rule: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    body = await read_json(request)
    return reply(lbc.patch_forwarding_rule(ctx, project, region, rule, body))


@router.delete(RULES + "/{rule}")
async def delete_forwarding_rule(
    project: str, region: str, rule: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(lbc.delete_forwarding_rule(ctx, project, region, rule))
