"""Service Usage v1 on the wire: ``/v1/projects/P/services...`` and ``/v1/operations/...``.

gcloud ``services list|enable|disable`` and ``container clusters create`` (which first GETs
``container.googleapis.com``) use these. Request bodies are the v1 messages; the checks and
state live in :mod:`intranode.controllers.serviceusage`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from intranode.api.deps import get_ctx, parse_model, read_json
from intranode.controllers import serviceusage
from intranode.errors import InvalidArgument

router = APIRouter()

_CHECK_USAGE = {
    "CHECK_IF_SERVICE_HAS_USAGE_UNSPECIFIED": False,
    "SKIP": False,
    "CHECK": True,
    0: False,
    1: False,
    2: True,
}


class _DisableBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    disable_dependent_services: bool = Field(False, alias="disableDependentServices")
    check_if_service_has_usage: str | int = Field(
        "CHECK_IF_SERVICE_HAS_USAGE_UNSPECIFIED", alias="checkIfServiceHasUsage"
    )


class _BatchEnableBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    service_ids: list[str] = Field(default_factory=list, alias="serviceIds")


@router.get("/v1/projects/{project}/services")
async def list_services(
    request: Request,
    project: str,
    filter_: str = Query("", alias="filter"),
    page_size: int = Query(0, alias="pageSize"),
    page_token: str = Query("", alias="pageToken"),
) -> dict[str, Any]:
    services, token = serviceusage.list_services(
        get_ctx(request), project, filter_, page_size, page_token
    )
    body: dict[str, Any] = {"services": services}
    if token:
        body["nextPageToken"] = token
    return body


@router.get("/v1/projects/{project}/services:batchGet")
async def batch_get(
    request: Request, project: str, names: list[str] = Query(default_factory=list)
) -> dict[str, Any]:
    return {"services": serviceusage.batch_get(get_ctx(request), project, names)}


@router.post("/v1/projects/{project}/services:batchEnable")
async def batch_enable(request: Request, project: str) -> dict[str, Any]:
    body = parse_model(await read_json(request), _BatchEnableBody)
    return serviceusage.enable(get_ctx(request), project, body.service_ids, batch=True)


@router.get("/v1/projects/{project}/services/{service}")
async def get_service(request: Request, project: str, service: str) -> dict[str, Any]:
    return serviceusage.get_service(get_ctx(request), project, service)


@router.post("/v1/projects/{project}/services/{service}:enable")
async def enable(request: Request, project: str, service: str) -> dict[str, Any]:
    await read_json(request)  # EnableServiceRequest has no fields; the body must still parse
    return serviceusage.enable(get_ctx(request), project, [service], batch=False)


@router.post("/v1/projects/{project}/services/{service}:disable")
async def disable(request: Request, project: str, service: str) -> dict[str, Any]:
    body = parse_model(await read_json(request), _DisableBody)
    check = _CHECK_USAGE.get(body.check_if_service_has_usage)
    if check is None:
        raise InvalidArgument(
            "Invalid value at 'check_if_service_has_usage' "
            f"({body.check_if_service_has_usage!r}): expected CHECK or SKIP."
        )
    return serviceusage.disable(
        get_ctx(request),
        project,
        service,
        disable_dependents=body.disable_dependent_services,
        check_usage=check,
    )


@router.get("/v1/operations/{operation}")
async def get_operation(request: Request, operation: str) -> dict[str, Any]:
    return serviceusage.get_operation(get_ctx(request), f"operations/{operation}")
