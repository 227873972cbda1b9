"""The resource endpoints of a cluster's API: ``/api/v1/...`` and ``/apis/<group>/<v>/...``.

Paths are parsed here rather than by the router, because ``/api/v1/namespaces/x`` is an
object while ``/api/v1/namespaces/x/pods`` is a collection inside it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from intranode.api.kube import discovery
from intranode.api.kube.exec import exec_params, exec_target, not_running, refusal
from intranode.api.kube.objects import PATCH_TYPES, WriteOptions, WriteResult, parse_body
from intranode.api.kube.requests import (
    KubeApi,
    Target,
    flag,
    kube_of,
    matches,
    parse_target,
    selectors,
)
from intranode.api.kube.status import JSON, json_response, method_not_allowed, unknown_path
from intranode.api.kube.tables import table, wants_table
from intranode.api.kube.watch_stream import watch_response
from intranode.controllers.nodeagent import pods_log_dir
from intranode.dataplane.runtime.spec import container_log_path
from intranode.domain.kube.types import NAMESPACES, PODS, SERVICES, ResourceType
from intranode.domain.kube.validation import bad_request
from intranode.errors import ApiError, InvalidArgument

Obj = dict[str, Any]
NAMESPACE_PURGE_DELAY = 0.5  # seconds a deleted namespace stays Terminating


def write_options(request: Request) -> WriteOptions:
    q = request.query_params
    validation = q.get("fieldValidation") or "Warn"
    if validation not in ("Strict", "Warn", "Ignore"):
        raise bad_request(
            f"fieldValidation parameter unsupported: {validation}. "
            "Valid values are Strict, Warn and Ignore"
        )
    dry_run = q.getlist("dryRun")
    if any(d != "All" for d in dry_run):
        raise bad_request(f'dryRun: Unsupported value: "{dry_run[0]}": supported values: "All"')
    agent = request.headers.get("user-agent", "")
    manager = q.get("fieldManager") or agent.split("/", 1)[0] or "unknown"
    return WriteOptions(
        manager=manager,
        dry_run=bool(dry_run),
        validation=validation,
        force=flag(request, "force"),
        manager_named=bool(q.get("fieldManager")),
    )


def _written(result: WriteResult, code: int = 200) -> Response:
    response = json_response(result.obj, 201 if result.created else code)
    for warning in result.warnings:
        response.headers.append("Warning", f"299 - {json.dumps(warning)}")
    return response


def _list_body(rt: ResourceType, items: list[Obj], revision: int) -> Obj:
    return {
        "kind": f"{rt.kind}List",
        "apiVersion": rt.group_version,
        "metadata": {"resourceVersion": str(revision)},
        "items": [{k: v for k, v in i.items() if k not in ("apiVersion", "kind")} for i in items],
    }


async def handle(request: Request) -> Response:
    """Every ``/api...`` and ``/apis...`` request."""
    api = kube_of(request)
    segs = [s for s in request.url.path.split("/") if s]
    if segs[0] == "api":
        if len(segs) == 1:
            return _discovery(request, discovery.api_versions(request.url.netloc))
        group, version, rest = "", segs[1], segs[2:]
    else:
        if len(segs) == 1:
            return _discovery(request, discovery.api_group_list())
        group = segs[1]
        if group not in discovery.group_names():
            raise unknown_path()
        if len(segs) == 2:
            return _discovery(request, discovery.api_group(group))
        version, rest = segs[2], segs[3:]
    if not rest:
        body = discovery.resource_list(group, version)
        if body is None:
            raise unknown_path()
        return _discovery(request, body)
    target = parse_target(group, version, rest)
    method = request.method
    if target.sub == "exec":
        return await _exec_without_upgrade(request, api, target)
    if target.sub == "log":
        return _log(request, api, target)
    if target.name is None:
        return await _collection(request, api, target, method)
    return await _item(request, api, target, method)


def _discovery(request: Request, body: Obj) -> Response:
    if request.method != "GET":
        raise method_not_allowed()
    return json_response(body)


def _require(rt: ResourceType, verb: str) -> None:
    if verb not in rt.verbs:
        raise method_not_allowed()


async def _collection(request: Request, api: KubeApi, target: Target, method: str) -> Response:
    rt = target.rt
    if method == "GET":
        watching = target.watch or flag(request, "watch")
        _require(rt, "watch" if watching else "list")
        if watching:
            return watch_response(request, api, target)
        return _list(request, api, target)
    if method == "POST":
        _require(rt, "create")
        opts = write_options(request)
        body = parse_body(await request.body(), request.headers.get("content-type", ""), rt.kind)
        return _written(api.objects.create(rt, target.namespace, body, opts), 201)
    if method == "DELETE":
        _require(rt, "deletecollection")
        labels, fields = selectors(request, rt)
        items, _ = api.objects.list_objects(rt, target.namespace)
        dry_run = bool(request.query_params.getlist("dryRun"))
        deleted = []
        for obj in items:
            if matches(obj, labels, fields):
                meta = obj["metadata"]
                deleted.append(
                    api.objects.delete(rt, meta.get("namespace"), meta["name"], {}, dry_run)
                )
        return json_response(_list_body(rt, deleted, api.ctx.db.current_revision()))
    raise method_not_allowed()


def _list(request: Request, api: KubeApi, target: Target) -> Response:
    rt = target.rt
    labels, fields = selectors(request, rt)
    as_table = wants_table(request.headers.get("accept"))
    if rt is SERVICES:  # the default ``kubernetes`` service may be made up on the fly
        items, revision = api.objects.list_objects(rt, target.namespace)
        items = [o for o in items if matches(o, labels, fields)]
        if not as_table:
            return json_response(_list_body(rt, items, revision))
    else:
        entries, revision = api.objects.list_entries(rt, target.namespace)
        if labels.requirements or fields.requirements:
            entries = [e for e in entries if matches(e.obj, labels, fields)]
        if not as_table:
            # Items were serialised once per revision; a list only joins them.
            head = json.dumps(
                {
                    "kind": f"{rt.kind}List",
                    "apiVersion": rt.group_version,
                    "metadata": {"resourceVersion": str(revision)},
                },
                separators=(",", ":"),
            )
            body = head[:-1].encode() + b',"items":[' + b",".join(e.item for e in entries) + b"]}"
            return Response(body, media_type=JSON)
        items = [e.obj for e in entries]
    include = request.query_params.get("includeObject") or "Metadata"
    return json_response(
        table(
            rt.plural,
            items,
            api.ctx.clock(),
            resource_version=str(revision),
            include_object=include,
        )
    )


async def _item(request: Request, api: KubeApi, target: Target, method: str) -> Response:
    rt, ns, name = target.rt, target.namespace, str(target.name)
    sub = target.sub or ""
    if method == "GET":
        _require(rt, "get")
        obj = api.objects.get(rt, ns, name)
        if wants_table(request.headers.get("accept")):
            include = request.query_params.get("includeObject") or "Metadata"
            rv = str(obj["metadata"].get("resourceVersion", ""))
            return json_response(
                table(
                    rt.plural, [obj], api.ctx.clock(), resource_version=rv, include_object=include
                )
            )
        return json_response(obj)
    if sub and sub != "status":
        raise method_not_allowed()
    if sub == "status" and rt is not PODS:
        raise method_not_allowed()
    if method == "PUT":
        _require(rt, "update")
        opts = write_options(request)
        body = parse_body(await request.body(), request.headers.get("content-type", ""), rt.kind)
        return _written(api.objects.replace(rt, ns, name, body, opts, subresource=sub))
    if method == "PATCH":
        _require(rt, "patch")
        opts = write_options(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        patch_type = PATCH_TYPES.get(content_type)
        if patch_type is None:
            raise unsupported_media_type()
        if opts.force and patch_type != "apply":
            raise bad_request(
                "force: Invalid value: true: may not be specified for non-apply patch"
            )
        raw = await request.body()
        return _written(api.objects.patch(rt, ns, name, patch_type, raw, opts, subresource=sub))
    if method == "DELETE":
        _require(rt, "delete")
        raw = await request.body()
        options: Obj = {}
        if raw.strip():
            parsed = parse_body(raw, request.headers.get("content-type", ""), "DeleteOptions")
            if not isinstance(parsed, dict):
                raise bad_request("the body of a DELETE must be a DeleteOptions object")
            options = parsed
        dry_run = bool(request.query_params.getlist("dryRun") or options.get("dryRun"))
        answer = api.objects.delete(rt, ns, name, options, dry_run)
        if rt is NAMESPACES and not dry_run:
            asyncio.get_running_loop().call_later(
                NAMESPACE_PURGE_DELAY, api.objects.purge_namespace, name
            )
        return json_response(answer)
    raise method_not_allowed()


def unsupported_media_type() -> ApiError:
    return InvalidArgument(
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(PATCH_TYPES),
        reason="UnsupportedMediaType",
    )


# -- exec and logs without a data plane ---------------------------------------------------------
async def _exec_without_upgrade(request: Request, api: KubeApi, target: Target) -> Response:
    """``pods/exec`` reached without a WebSocket upgrade (SPDY, or a plain request)."""
    if request.method not in ("GET", "POST"):
        raise method_not_allowed()
    pod = api.objects.get(PODS, target.namespace, str(target.name))
    params = exec_params(request.query_params)
    container = exec_target(pod, params.container)
    why = not_running(pod, container)
    if why is not None:
        return refusal(why)
    upgrade = request.headers.get("upgrade", "")
    if upgrade.lower().startswith("spdy"):
        raise bad_request(
            "unable to upgrade connection: intranode serves exec over WebSocket "
            "(v5.channel.k8s.io) only; use kubectl 1.30 or later"
        )
    raise bad_request("Upgrade request required")


def _log(request: Request, api: KubeApi, target: Target) -> Response:
    if request.method != "GET":
        raise method_not_allowed()
    pod = api.objects.get(PODS, target.namespace, str(target.name))
    name = pod["metadata"]["name"]
    spec_names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    container = request.query_params.get("container")
    if not container:
        if len(spec_names) != 1:
            raise bad_request(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(map(str, spec_names))}]"
            )
        container = str(spec_names[0])
    elif container not in spec_names:
        raise bad_request(f"container {container} is not valid for pod {name}")
    restarts = 0
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != container:
            continue
        restarts = int(status.get("restartCount") or 0)
        waiting = (status.get("state") or {}).get("waiting")
        if waiting and not restarts:
            raise bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: '
                f"{waiting.get('reason', 'ContainerCreating')}"
            )
    if request.query_params.get("previous") in ("true", "1"):
        if restarts == 0:
            raise bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        restarts -= 1
    log_dir = pods_log_dir(
        api.ctx.settings.state_dir, str(target.namespace), name, pod["metadata"]["uid"]
    )
    return PlainTextResponse(
        read_log(
            container_log_path(log_dir, container, restarts), request.query_params.get("tailLines")
        )
    )


def read_log(path: Path, tail_lines: str | None) -> str:
    """A container's log as kubelet serves it; ``tailLines`` keeps the last N lines."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    if tail_lines is not None:
        try:
            n = int(tail_lines)
        except ValueError:
            raise bad_request(f"invalid tailLines {tail_lines!r}") from None
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-n:]) if n > 0 else ""
    return text
