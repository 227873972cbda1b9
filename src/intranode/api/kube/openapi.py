"""The smallest OpenAPI v3 that lets ``kubectl apply`` validate on the server.

kubectl (``--validate=strict``, its default) looks for a PATCH operation tagged with the
object's group-version-kind and a ``fieldValidation`` parameter; finding it, it sends
``fieldValidation=Strict`` and leaves validation to the server. Schemas are not needed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from intranode.domain.kube.types import ResourceType, types_of

_WRITABLE_KINDS = ("Pod", "ConfigMap", "Namespace")


def _item_path(t: ResourceType) -> str:
    base = f"/api/{t.version}" if not t.group else f"/apis/{t.group}/{t.version}"
    if t.namespaced:
        return f"{base}/namespaces/{{namespace}}/{t.plural}/{{name}}"
    return f"{base}/{t.plural}/{{name}}"


def group_version_doc(group: str, version: str, k8s_version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for t in types_of(group, version):
        if t.kind not in _WRITABLE_KINDS:
            continue
        gvk = {"group": t.group, "version": t.version, "kind": t.kind}
        params = [
            {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for n in ("dryRun", "fieldManager", "fieldValidation", "force")
        ]
        op = {
            "operationId": f"patch{t.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": params,
            "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}},
        }
        paths[_item_path(t)] = {"patch": op}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": f"v{k8s_version}"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


class OpenApi:
    """The docs of one cluster, serialised once."""

    def __init__(self, group_versions: tuple[tuple[str, str], ...], k8s_version: str) -> None:
        self.docs: dict[str, bytes] = {}
        index: dict[str, Any] = {}
        for group, version in group_versions:
            body = json.dumps(group_version_doc(group, version, k8s_version)).encode()
            key = _key(group, version)
            self.docs[key] = body
            digest = hashlib.sha512(body).hexdigest()[:32].upper()
            index[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
        self.index = json.dumps({"paths": index}).encode()
