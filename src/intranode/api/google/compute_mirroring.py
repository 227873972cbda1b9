"""Compute v1: ``packetMirrorings`` (insert, get, list, patch, delete, aggregatedList), and
intranode's one extension under this prefix, ``POST /compute/v1/projects/{p}/regions/{r}/
intranode/mirroringCollectors`` (body ``{"name", "network"?, "subnetwork"?}``): it creates a
collector with a backend that receives the copies (``intranode mirror collector create``)
and answers ``{"forwardingRule": <selfLink>}``. Google has no such method: the path carries
``intranode`` so it can never be mistaken for one. ``DELETE .../mirroringCollectors/{name}``
removes such a collector again."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import StrictStr

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
from intranode.controllers import mirroring as mc
from intranode.domain.resources import PACKET_MIRRORING, packet_mirroring_key
from intranode.domain.wire import Wire, parse_message

router = APIRouter()
P = "/projects/{project}"
MIRRORINGS = P + "/regions/{region}/packetMirrorings"


@router.get(P + "/aggregated/packetMirrorings")
async def aggregated_packet_mirrorings(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    docs = ctl.list_documents(ctx, PACKET_MIRRORING, f"projects/{project}/regions/")
    return aggregated_reply(
        "compute#packetMirroringAggregatedList",
        f"projects/{project}/aggregated/packetMirrorings",
        "packetMirrorings",
        docs,
        q,
        scope_from_link("region"),
    )


@router.get(MIRRORINGS)
async def list_packet_mirrorings(
    project: str, region: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    ctl.require_region(project, region)
    collection = f"projects/{project}/regions/{region}/packetMirrorings"
    docs = ctl.list_documents(ctx, PACKET_MIRRORING, collection + "/")
    return list_reply("compute#packetMirroringList", collection, docs, q)


@router.post(MIRRORINGS)
async def insert_packet_mirroring(project: str, region: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(mc.insert_packet_mirroring(ctx, project, region, await read_json(request)))


@router.get(MIRRORINGS + "/{name}")
async def get_packet_mirroring(
    project: str, region: str, name: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    key = packet_mirroring_key(project, region, name)
    return reply(ctl.get_document(ctx, PACKET_MIRRORING, key))


@router.patch(MIRRORINGS + "/{name}")
async def patch_packet_mirroring(
    project: str, region: str, name: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    body = await read_json(request)
    return reply(mc.patch_packet_mirroring(ctx, project, region, name, body))


@router.delete(MIRRORINGS + "/{name}")
async def delete_packet_mirroring(
    project: str, region: str, name: str, request: Request
) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(mc.delete_packet_mirroring(ctx, project, region, name))


class CollectorBody(Wire):
    name: StrictStr | None = None
    network: StrictStr | None = None
    subnetwork: StrictStr | None = None


@router.post(P + "/regions/{region}/intranode/mirroringCollectors")
async def create_collector(project: str, region: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    body = parse_message(CollectorBody, await read_json(request))
    link = mc.create_collector(
        ctx,
        project,
        region,
        body.name or "",
        network=body.network or "default",
        subnetwork=body.subnetwork,
    )
    return reply({"forwardingRule": link})


@router.delete(P + "/regions/{region}/intranode/mirroringCollectors/{name}")
async def delete_collector(project: str, region: str, name: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    mc.delete_collector(ctx, project, region, name)
    return reply({})
