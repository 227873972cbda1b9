"""Compute v1: operations in their three scopes, and instances (read-only: the cluster
controller writes the documents of GKE's nodes)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

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
from intranode.domain.compute import link_key
from intranode.domain.resources import COMPUTE_OPERATION, INSTANCE, instance_key, region_of_zone

router = APIRouter()
P = "/projects/{project}"
# (path fragment, scope) for the three operation collections.
_SCOPES = (("/global", "global"), ("/regions/{region}", "regions"), ("/zones/{zone}", "zones"))


def _scope(kind: str, region: str | None, zone: str | None, project: str) -> str:
    if kind == "regions" and region is not None:
        ctl.require_region(project, region)
        return f"regions/{region}"
    if kind == "zones" and zone is not None:
        ctl.require_region(project, region_of_zone(zone))
        return f"zones/{zone}"
    return "global"


def _operation_scope(doc: Doc) -> str:
    """``global``, ``regions/r`` or ``zones/z`` of an operation, from its selfLink."""
    parts = link_key(str(doc["selfLink"]), "").split("/")
    return parts[2] if parts[2] == "global" else "/".join(parts[2:4])


def _add_operation_routes(fragment: str, kind: str) -> None:
    base = P + fragment + "/operations"

    async def list_ops(
        project: str,
        request: Request,
        q: ListQuery = Depends(list_query),
        region: str | None = None,
        zone: str | None = None,
    ) -> JSONResponse:
        ctx = project_ctx(request, project)
        collection = f"projects/{project}/{_scope(kind, region, zone, project)}/operations"
        docs = ctl.list_documents(ctx, COMPUTE_OPERATION, collection + "/")
        return list_reply("compute#operationList", collection, docs, q)

    async def get_op(
        project: str,
        operation: str,
        request: Request,
        region: str | None = None,
        zone: str | None = None,
    ) -> JSONResponse:
        ctx = project_ctx(request, project)
        scope = _scope(kind, region, zone, project)
        return reply(ctl.get_operation(ctx, project, scope, operation))

    async def delete_op(
        project: str,
        operation: str,
        request: Request,
        region: str | None = None,
        zone: str | None = None,
    ) -> Response:
        ctx = project_ctx(request, project)
        ctl.delete_operation(ctx, project, _scope(kind, region, zone, project), operation)
        return JSONResponse({})

    router.add_api_route(base, list_ops, methods=["GET"])
    router.add_api_route(base + "/{operation}", get_op, methods=["GET"])
    router.add_api_route(base + "/{operation}", delete_op, methods=["DELETE"])
    # Operations here finish before the call that started them returns, so wait is a get.
    router.add_api_route(base + "/{operation}/wait", get_op, methods=["POST"])


for _fragment, _kind in _SCOPES:
    _add_operation_routes(_fragment, _kind)


@router.get(P + "/aggregated/operations")
async def aggregated_operations(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    docs = ctl.list_documents(ctx, COMPUTE_OPERATION, f"projects/{project}/")
    return aggregated_reply(
        "compute#operationAggregatedList",
        f"projects/{project}/aggregated/operations",
        "operations",
        docs,
        q,
        _operation_scope,
    )


# Instances ------------------------------------------------------------------------------------
@router.get(P + "/aggregated/instances")
async def aggregated_instances(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    docs = ctl.list_documents(ctx, INSTANCE, f"projects/{project}/zones/")
    return aggregated_reply(
        "compute#instanceAggregatedList",
        f"projects/{project}/aggregated/instances",
        "instances",
        docs,
        q,
        scope_from_link("zone"),
    )


@router.get(P + "/zones/{zone}/instances")
async def list_instances(
    project: str, zone: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    ctl.require_region(project, region_of_zone(zone))
    collection = f"projects/{project}/zones/{zone}/instances"
    docs = ctl.list_documents(ctx, INSTANCE, collection + "/")
    return list_reply("compute#instanceList", collection, docs, q)


@router.get(P + "/zones/{zone}/instances/{instance}")
async def get_instance(project: str, zone: str, instance: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.get_document(ctx, INSTANCE, instance_key(project, zone, instance)))
