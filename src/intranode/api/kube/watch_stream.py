"""A watch as an HTTP response: one JSON event per line (``ADDED``, ``MODIFIED``, ``DELETED``,
``BOOKMARK``, ``ERROR``), starting with what exists when no resourceVersion is given, and
turning changes into arrivals and departures when selectors are given."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from intranode.api.kube.objects import ClusterObjects
from intranode.api.kube.requests import KubeApi, Target, flag, matches, selectors
from intranode.api.kube.status import error_status
from intranode.api.kube.tables import table, wants_table
from intranode.api.kube.watch import WatchFilter
from intranode.domain.kube.validation import bad_request
from intranode.domain.resources import k8s_kind, k8s_parent
from intranode.errors import ApiError
from intranode.store.resources import Change

Obj = dict[str, Any]
WATCH_TIMEOUT = 1800.0
BOOKMARK_EVERY = 60.0


def watch_response(request: Request, api: KubeApi, target: Target) -> Response:
    rt, ns = target.rt, target.namespace
    q = request.query_params
    labels, fields = selectors(request, rt)
    rv = q.get("resourceVersion") or ""
    if rv not in ("", "0") and not rv.isdigit():
        raise bad_request(f'resourceVersion: Invalid value: "{rv}": must be a number')
    try:
        timeout = float(q.get("timeoutSeconds") or WATCH_TIMEOUT)
    except ValueError as exc:
        raise bad_request("timeoutSeconds: must be an integer") from exc
    bookmarks = flag(request, "allowWatchBookmarks")
    initial = rv in ("", "0") or flag(request, "sendInitialEvents")
    as_table = wants_table(request.headers.get("accept"))
    include = q.get("includeObject") or "Metadata"
    kind = k8s_kind(rt.plural)
    if not rt.namespaced:
        filt = WatchFilter(api.cluster, kind, parent=api.cluster)
    elif ns:
        filt = WatchFilter(api.cluster, kind, parent=k8s_parent(api.cluster, ns))
    else:
        filt = WatchFilter(api.cluster, kind, parent_prefix=k8s_parent(api.cluster, ""))
    with api.ctx.db.reading():
        items, revision = api.objects.list_objects(rt, ns)
        since = revision if initial else int(rv)
        try:
            watcher = api.feed.watch(filt, since)
        except ApiError as exc:
            return _single_event("ERROR", error_status(exc))
    matching = {
        (o["metadata"].get("namespace"), o["metadata"]["name"])
        for o in items
        if matches(o, labels, fields)
    }
    first = [True]

    def encode(kind_: str, obj: Obj) -> bytes:
        shown: Obj = obj
        if as_table:
            shown = table(
                rt.plural,
                [obj],
                api.ctx.clock(),
                resource_version=str(obj["metadata"].get("resourceVersion", "")),
                include_object=include,
                with_columns=first[0],
            )
            first[0] = False
        return json.dumps({"type": kind_, "object": shown}, separators=(",", ":")).encode() + b"\n"

    def bookmark(rev: int, end_of_initial: bool = False) -> bytes:
        meta: Obj = {"resourceVersion": str(rev)}
        if end_of_initial:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": rt.kind, "apiVersion": rt.group_version, "metadata": meta}
        return json.dumps({"type": "BOOKMARK", "object": obj}).encode() + b"\n"

    def event_of(change: Change) -> bytes | None:
        obj = ClusterObjects.output(change.resource)
        ident = (obj["metadata"].get("namespace"), obj["metadata"].get("name"))
        now_matches = matches(obj, labels, fields)
        if change.type == "DELETED":
            if ident in matching or now_matches:
                matching.discard(ident)
                return encode("DELETED", obj)
            return None
        if now_matches:
            kind_ = "MODIFIED" if ident in matching and change.type == "MODIFIED" else "ADDED"
            matching.add(ident)
            return encode(kind_, obj)
        if ident in matching:
            matching.discard(ident)
            return encode("DELETED", obj)
        return None

    async def stream() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_rev = since
        try:
            if initial:
                for obj in items:
                    if matches(obj, labels, fields):
                        yield encode("ADDED", obj)
            if flag(request, "sendInitialEvents") and bookmarks:
                yield bookmark(revision, end_of_initial=True)
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    change = await watcher.next(min(remaining, BOOKMARK_EVERY))
                except TimeoutError:
                    if bookmarks and loop.time() < deadline:
                        yield bookmark(last_rev)
                    continue
                if change is None:
                    return
                if change.resource.revision <= since:
                    continue
                last_rev = change.resource.revision
                event = event_of(change)
                if event is not None:
                    yield event
        finally:
            watcher.close()

    return StreamingResponse(stream(), media_type="application/json")


def _single_event(kind: str, obj: Obj) -> Response:
    return Response(
        json.dumps({"type": kind, "object": obj}).encode() + b"\n", media_type="application/json"
    )
