"""Discovery: ``/version``, ``/api``, ``/apis`` and each group-version's resource list.

Built once per cluster app (they never change while it runs), so a request only copies bytes.
"""

from __future__ import annotations

import re
from typing import Any

from intranode.domain.kube.types import (
    GROUP_VERSIONS,
    ResourceType,
    Subresource,
    subresources_of,
    types_of,
)

DEFAULT_VERSION = "1.32.4-gke.1106006"
# kubectl's dispatcher picks kubectl.1.<minor>; below 30 exec would need SPDY, which is not served.
_MIN_MINOR = 30


def version_info(cluster_version: str | None) -> dict[str, str]:
    version = DEFAULT_VERSION
    m = re.match(r"^v?(\d+)\.(\d+)\.(\d+)(-gke\.\d+)?$", cluster_version or "")
    if m and int(m.group(1)) == 1 and int(m.group(2)) >= _MIN_MINOR:
        version = (cluster_version or "").lstrip("v")
    major, minor = version.split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(int(minor) - 1),
        "gitVersion": f"v{version}",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T00:00:00Z",
        "goVersion": "go1.23.8 X:boringcrypto",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{g}/{v}", "version": v} for g, v in GROUP_VERSIONS if g == name]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def group_names() -> list[str]:
    return sorted({g for g, _ in GROUP_VERSIONS if g})


def api_group_list() -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(g) for g in group_names()],
    }


def api_group(name: str) -> dict[str, Any]:
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def _resource(t: ResourceType) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": t.plural,
        "singularName": t.singular,
        "namespaced": t.namespaced,
        "kind": t.kind,
        "verbs": list(t.verbs),
    }
    if t.short_names:
        out["shortNames"] = list(t.short_names)
    if t.categories:
        out["categories"] = list(t.categories)
    return out


def _subresource(s: Subresource, namespaced: bool) -> dict[str, Any]:
    return {
        "name": s.name,
        "singularName": "",
        "namespaced": namespaced,
        "kind": s.kind,
        "verbs": list(s.verbs),
    }


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    types = types_of(group, version)
    if not types:
        return None
    namespaced = {t.plural: t.namespaced for t in types}
    resources = [_resource(t) for t in types]
    resources += [
        _subresource(s, namespaced.get(s.name.split("/")[0], True))
        for s in subresources_of(group, version)
    ]
    resources.sort(key=lambda r: r["name"])
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
