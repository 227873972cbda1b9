"""Wire helpers shared by the Compute v1 routers: the project check, list pages and
aggregated lists in Compute's JSON shapes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from intranode.api.deps import get_ctx
from intranode.controllers import compute as ctl
from intranode.controllers.context import Context
from intranode.domain.compute import paginate
from intranode.domain.compute_filter import compile_filter
from intranode.domain.resources import compute_link

Doc = dict[str, Any]


def project_ctx(request: Request, project: str) -> Context:
    """The context, once the project is known to be served here with Compute enabled."""
    ctx = get_ctx(request)
    ctl.require_project(ctx, project)
    return ctx


def reply(doc: Doc) -> JSONResponse:
    return JSONResponse(doc)


@dataclass(frozen=True)
class ListQuery:
    """``filter``, ``maxResults`` and ``pageToken``; ``orderBy``, ``returnPartialSuccess``
    and the format parameters (``alt``, ``prettyPrint``) are accepted and ignored."""

    filter: str | None
    max_results: int | None
    page_token: str | None

    def page(self, docs: Sequence[Doc]) -> tuple[list[Doc], str | None]:
        matches = compile_filter(self.filter)
        return paginate([d for d in docs if matches(d)], self.max_results, self.page_token)


def list_query(
    filter: str | None = Query(None),
    max_results: int | None = Query(None, alias="maxResults"),
    page_token: str | None = Query(None, alias="pageToken"),
) -> ListQuery:
    return ListQuery(filter, max_results, page_token)


def list_reply(kind: str, collection_key: str, docs: Sequence[Doc], q: ListQuery) -> JSONResponse:
    """``{"kind": "compute#xList", "id", "items", "nextPageToken", "selfLink"}``; like Google,
    ``items`` is left out of an empty page and ``nextPageToken`` out of the last."""
    page, token = q.page(docs)
    body: Doc = {"kind": kind, "id": collection_key}
    if page:
        body["items"] = page
    if token:
        body["nextPageToken"] = token
    body["selfLink"] = compute_link(collection_key)
    return reply(body)


def aggregated_reply(
    kind: str,
    collection_key: str,
    field: str,
    docs: Sequence[Doc],
    q: ListQuery,
    scope: Callable[[Doc], str],
) -> JSONResponse:
    """An aggregated list: ``items`` maps ``regions/r`` (or ``zones/z``) to ``{field: [...]}``,
    scopes in the order of ``docs``."""
    page, token = q.page(docs)
    items: dict[str, Doc] = {}
    for doc in page:
        items.setdefault(scope(doc), {field: []})[field].append(doc)
    body: Doc = {"kind": kind, "id": collection_key, "items": items}
    if token:
        body["nextPageToken"] = token
    body["selfLink"] = compute_link(collection_key)
    return reply(body)


def scope_from_link(link_field: str) -> Callable[[Doc], str]:
    """``regions/us-central1`` from a document's ``region`` (or ``zone``) URL."""

    def scope(doc: Doc) -> str:
        value = str(doc.get(link_field, ""))
        return "/".join(value.rstrip("/").split("/")[-2:])

    return scope
