"""Compute v1: the project, networks, subnetworks and routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from intranode.api.deps import read_json
from intranode.api.google.compute_wire import (
    ListQuery,
    aggregated_reply,
    list_query,
    list_reply,
    project_ctx,
    reply,
    scope_from_link,
)
from intranode.controllers import compute as ctl
from intranode.domain.resources import (
    COMPUTE_PROJECT,
    NETWORK,
    ROUTE,
    SUBNETWORK,
    network_key,
    project_key,
    route_key,
    subnetwork_key,
)

router = APIRouter()
P = "/projects/{project}"


@router.get(P)
async def get_project(project: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.get_document(ctx, COMPUTE_PROJECT, project_key(project)))


# Networks -------------------------------------------------------------------------------------
@router.get(P + "/global/networks")
async def list_networks(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    collection = f"projects/{project}/global/networks"
    docs = ctl.list_documents(ctx, NETWORK, collection + "/")
    return list_reply("compute#networkList", collection, docs, q)


@router.post(P + "/global/networks")
async def insert_network(project: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.insert_network(ctx, project, await read_json(request)))


@router.get(P + "/global/networks/{network}")
async def get_network(project: str, network: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.get_document(ctx, NETWORK, network_key(project, network)))


@router.patch(P + "/global/networks/{network}")
async def patch_network(project: str, network: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.patch_network(ctx, project, network, await read_json(request)))


@router.delete(P + "/global/networks/{network}")
async def delete_network(project: str, network: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.delete_network(ctx, project, network))


# Subnetworks ----------------------------------------------------------------------------------
@router.get(P + "/aggregated/subnetworks")
async def aggregated_subnetworks(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    docs = ctl.list_documents(ctx, SUBNETWORK, f"projects/{project}/regions/")
    return aggregated_reply(
        "compute#subnetworkAggregatedList",
        f"projects/{project}/aggregated/subnetworks",
        "subnetworks",
        docs,
        q,
        scope_from_link("region"),
    )


@router.get(P + "/regions/{region}/subnetworks")
async def list_subnetworks(
    project: str, region: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    ctl.require_region(project, region)
    collection = f"projects/{project}/regions/{region}/subnetworks"
    docs = ctl.list_documents(ctx, SUBNETWORK, collection + "/")
    return list_reply("compute#subnetworkList", collection, docs, q)


@router.post(P + "/regions/{region}/subnetworks")
async def insert_subnetwork(project: str, region: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.insert_subnetwork(ctx, project, region, await read_json(request)))


@router.get(P + "/regions/{region}/subnetworks/{subnetwork}")
async def get_subnetwork(
    project: str, region: str, subnetwork: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.get_document(ctx, SUBNETWORK, subnetwork_key(project, region, subnetwork)))


@router.patch(P + "/regions/{region}/subnetworks/{subnetwork}")
async def patch_subnetwork(
    project: str, region: str, subnetwork: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    body = await read_json(request)
    return reply(ctl.patch_subnetwork(ctx, project, region, subnetwork, body))


@router.post(P + "/regions/{region}/subnetworks/{subnetwork}/setPrivateIpGoogleAccess")
async def set_private_ip_google_access(
    project: str, region: str, subnetwork: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    body = await read_json(request)
    return reply(ctl.set_private_ip_google_access(ctx, project, region, subnetwork, body))


@router.delete(P + "/regions/{region}/subnetworks/{subnetwork}")
async def delete_subnetwork(
    project: str, region: str, subnetwork: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.delete_subnetwork(ctx, project, region, subnetwork))


# Routes ---------------------------------------------------------------------------------------
@router.get(P + "/global/routes")
async def list_routes(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    collection = f"projects/{project}/global/routes"
    docs = ctl.list_documents(ctx, ROUTE, collection + "/")
    return list_reply("compute#routeList", collection, docs, q)


@router.post(P + "/global/routes")
async def insert_route(project: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.insert_route(ctx, project, await read_json(request)))


@router.get(P + "/global/routes/{route}")
async def get_route(project: str, route: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.get_document(ctx, ROUTE, route_key(project, route)))


@router.delete(P + "/global/routes/{route}")
async def delete_route(project: str, route: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.delete_route(ctx, project, route))
