"""What every request handler of a cluster's API shares: the API's parts, the parsed path,
flags and selectors from the query string."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from intranode.api.kube.objects import ClusterObjects
from intranode.api.kube.status import unknown_path
from intranode.api.kube.watch import ChangeFeed
from intranode.controllers.context import Context
from intranode.domain.kube.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from intranode.domain.kube.types import ResourceType, find_type

Obj = dict[str, Any]
_SUBRESOURCES = {"pods": ("status", "exec", "log"), "namespaces": ("status",)}


@dataclass
class KubeApi:
    """What every handler of one cluster's API needs."""

    ctx: Context
    cluster: str
    objects: ClusterObjects
    feed: ChangeFeed
    version: dict[str, str]


def kube_of(request: Request) -> KubeApi:
    api: KubeApi = request.app.state.kube
    return api


@dataclass(frozen=True)
class Target:
    rt: ResourceType
    namespace: str | None
    name: str | None
    sub: str | None
    watch: bool


def parse_target(group: str, version: str, segs: list[str]) -> Target:
    watch = bool(segs) and segs[0] == "watch"
    if watch:
        segs = segs[1:]
    namespace = None
    if len(segs) >= 3 and segs[0] == "namespaces" and segs[2] not in _SUBRESOURCES["namespaces"]:
        namespace, segs = segs[1], segs[2:]
    if not segs or len(segs) > 3:
        raise unknown_path()
    rt = find_type(group, version, segs[0])
    if rt is None or (namespace is not None and not rt.namespaced):
        raise unknown_path()
    name = segs[1] if len(segs) > 1 else None
    sub = segs[2] if len(segs) > 2 else None
    if name is not None and rt.namespaced and namespace is None:
        raise unknown_path()
    if sub is not None and sub not in _SUBRESOURCES.get(rt.plural, ()):
        raise unknown_path()
    return Target(rt, namespace, name, sub, watch)


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("true", "1")


def selectors(request: Request, rt: ResourceType) -> tuple[LabelSelector, FieldSelector]:
    q = request.query_params
    return (
        parse_label_selector(q.get("labelSelector")),
        parse_field_selector(q.get("fieldSelector"), rt.plural),
    )


def matches(obj: Obj, labels: LabelSelector, fields: FieldSelector) -> bool:
    return labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)
