"""Compute v1: VPC firewall rules (``global/firewalls``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from intranode.api.deps import read_json
from intranode.api.google.compute_wire import ListQuery, list_query, list_reply, project_ctx, reply
from intranode.controllers import compute as ctl
from intranode.domain.resources import FIREWALL, firewall_key

router = APIRouter()
FIREWALLS = "/projects/{project}/global/firewalls"


@router.get(FIREWALLS)
async def list_firewalls(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    collection = f"projects/{project}/global/firewalls"
    docs = ctl.list_documents(ctx, FIREWALL, collection + "/")
    return list_reply("compute#firewallList", collection, docs, q)


@router.post(FIREWALLS)
async def insert_firewall(project: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.insert_firewall(ctx, project, await read_json(request)))


@router.get(FIREWALLS + "/{firewall}")
async def get_firewall(project: str, firewall: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.get_document(ctx, FIREWALL, firewall_key(project, firewall)))


@router.patch(FIREWALLS + "/{firewall}")
async def patch_firewall(project: str, firewall: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    body = await read_json(request)
    return reply(ctl.change_firewall(ctx, project, firewall, body, replace=False))


@router.put(FIREWALLS + "/{firewall}")
async def update_firewall(project: str, firewall: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    body = await read_json(request)
    return reply(ctl.change_firewall(ctx, project, firewall, body, replace=True))


@router.delete(FIREWALLS + "/{firewall}")
async def delete_firewall(project: str, firewall: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.delete_firewall(ctx, project, firewall))
