"""Network Management API v1 on the wire: Connectivity Tests and their operations, under
``/v1/projects/{p}/locations/global/...`` (the root gcloud's ``networkmanagement`` endpoint
override points at).

``/v1/projects/{p}/locations/{l}/operations/...`` is also the Container API's path form: this
router's routes name the location ``global`` literally (no GKE cluster lives in ``global``),
and must come before Container's in the app so that they are tried first.

Query parameters ``alt`` and ``prettyPrint`` are ignored; bodies are parsed strictly (unknown
names refused with Google's text) by :mod:`intranode.domain.connectivity.spec`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from intranode.api.deps import CtxDep, read_json, read_model
from intranode.api.google.errors import unmatched
from intranode.controllers import connectivity
from intranode.domain.wire import Wire

router = APIRouter()

BASE = "/v1/projects/{project}/locations/global"
Doc = dict[str, Any]


class _Empty(Wire):
    """``RerunConnectivityTestRequest`` and ``CancelOperationRequest``: no fields."""


def _plain(request: Request, name: str) -> str:
    """``name`` of a plain method's path; ``t1:getIamPolicy`` is a custom method intranode
    does not serve (501), not a test named so."""
    if ":" in name:
        raise unmatched(request.method, request.url.path)
    return name


def _page(items: list[Doc], token: str | None, field: str) -> Doc:
    out: Doc = {field: items} if items else {}
    if token:
        out["nextPageToken"] = token
    return out


@router.post(BASE + "/connectivityTests")
async def create_test(
    request: Request, ctx: CtxDep, project: str, test_id: str = Query("", alias="testId")
) -> Doc:
    return connectivity.create_test(ctx, project, test_id, await read_json(request))


@router.get(BASE + "/connectivityTests")
async def list_tests(
    ctx: CtxDep,
    project: str,
    page_size: int = Query(0, alias="pageSize"),
    page_token: str = Query("", alias="pageToken"),
    filter_: str = Query("", alias="filter"),
    order_by: str = Query("", alias="orderBy"),
) -> Doc:
    tests, token = connectivity.list_tests(
        ctx, project, page_size=page_size, page_token=page_token, filter_=filter_, order_by=order_by
    )
    return _page(tests, token, "resources")


@router.get(BASE + "/connectivityTests/{test}")
async def get_test(request: Request, ctx: CtxDep, project: str, test: str) -> Doc:
    return connectivity.get_test(ctx, project, _plain(request, test))


@router.patch(BASE + "/connectivityTests/{test}")
async def update_test(
    request: Request,
    ctx: CtxDep,
    project: str,
    test: str,
    update_mask: str = Query("", alias="updateMask"),
) -> Doc:
    data = await read_json(request)
    return connectivity.update_test(ctx, project, _plain(request, test), data, update_mask)


@router.delete(BASE + "/connectivityTests/{test}")
async def delete_test(request: Request, ctx: CtxDep, project: str, test: str) -> Doc:
    return connectivity.delete_test(ctx, project, _plain(request, test))


@router.post(BASE + "/connectivityTests/{test}:rerun")
async def rerun_test(request: Request, ctx: CtxDep, project: str, test: str) -> Doc:
    await read_model(request, _Empty)
    return connectivity.rerun_test(ctx, project, test)


@router.get(BASE + "/operations")
async def list_operations(
    ctx: CtxDep,
    project: str,
    page_size: int = Query(0, alias="pageSize"),
    page_token: str = Query("", alias="pageToken"),
    filter_: str = Query("", alias="filter"),
) -> Doc:
    ops, token = connectivity.list_operations(
        ctx, project, page_size=page_size, page_token=page_token, filter_=filter_
    )
    return _page(ops, token, "operations")


@router.get(BASE + "/operations/{operation}")
async def get_operation(request: Request, ctx: CtxDep, project: str, operation: str) -> Doc:
    return connectivity.get_operation(ctx, project, _plain(request, operation))


@router.post(BASE + "/operations/{operation}:cancel")
async def cancel_operation(request: Request, ctx: CtxDep, project: str, operation: str) -> Doc:
    await read_model(request, _Empty)
    return connectivity.cancel_operation(ctx, project, operation)


@router.delete(BASE + "/operations/{operation}")
async def delete_operation(request: Request, ctx: CtxDep, project: str, operation: str) -> Doc:
    return connectivity.delete_operation(ctx, project, _plain(request, operation))
