"""Logging v2 on the wire: ``entries:list``, ``entries:write``, and the logs of a project.

``gcloud logging read`` and ``google.cloud.logging.Client(_use_grpc=False)`` use these. Entries
go out exactly as stored, spliced into the response as JSON text (no re-encoding). Query
parameters the clients add (``alt``, ``$alt``, ``prettyPrint``) are ignored.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from intranode.api.deps import get_ctx, parse_model, read_json
from intranode.controllers import logs

router = APIRouter()


class _ListBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    resource_names: list[str] = Field(default_factory=list, alias="resourceNames")
    project_ids: list[str] = Field(default_factory=list, alias="projectIds")
    filter: str = ""
    order_by: str = Field("", alias="orderBy")
    page_size: int = Field(0, alias="pageSize")
    page_token: str = Field("", alias="pageToken")


class _WriteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    log_name: str | None = Field(None, alias="logName")
    resource: dict[str, Any] | None = None
    labels: dict[str, str] | None = None
    entries: list[Any] = Field(default_factory=list)
    partial_success: bool = Field(False, alias="partialSuccess")
    dry_run: bool = Field(False, alias="dryRun")
    # The Python client spells this one in snake case in JSON.
    dry_run_snake: bool = Field(False, alias="dry_run")


# Reading and writing run in the thread pool (plain ``def``): a long scan or a large batch
# must not stall the event loop that serves every other API. The store serialises access.
@router.post("/v2/entries:list")
def list_entries(request: Request, raw: Any = Depends(read_json)) -> Response:
    body = parse_model(raw, _ListBody)
    names = [*body.resource_names, *(f"projects/{p}" for p in body.project_ids)]
    page = logs.list_entries(
        get_ctx(request),
        logs.ListRequest(
            resource_names=names,
            filter=body.filter,
            order_by=body.order_by,
            page_size=body.page_size,
            page_token=body.page_token,
        ),
    )
    text = '{"entries":[' + ",".join(page.entries) + "]"
    if page.next_page_token:
        text += ',"nextPageToken":' + json.dumps(page.next_page_token)
    return Response(text + "}", media_type="application/json")


@router.post("/v2/entries:write")
def write_entries(request: Request, raw: Any = Depends(read_json)) -> dict[str, Any]:
    body = parse_model(raw, _WriteBody)
    logs.write_request(
        get_ctx(request),
        logs.WriteRequest(
            entries=body.entries,
            log_name=body.log_name,
            resource=body.resource,
            labels=body.labels,
            partial_success=body.partial_success,
            dry_run=body.dry_run or body.dry_run_snake,
        ),
    )
    return {}


@router.get("/v2/projects/{project}/logs")
async def list_logs(
    request: Request,
    project: str,
    page_size: int = Query(0, alias="pageSize"),
    page_token: str = Query("", alias="pageToken"),
) -> dict[str, Any]:
    names, token = logs.list_logs(get_ctx(request), f"projects/{project}", page_size, page_token)
    body: dict[str, Any] = {"logNames": names}
    if token:
        body["nextPageToken"] = token
    return body


@router.delete("/v2/projects/{project}/logs/{log_id:path}")
async def delete_log(request: Request, project: str, log_id: str) -> dict[str, Any]:
    # The path arrives decoded (%2F is already /); the log name wants the id encoded.
    encoded = urllib.parse.quote(log_id, safe="")
    logs.delete_log(get_ctx(request), f"projects/{project}/logs/{encoded}")
    return {}
