"""The Kubernetes resources each cluster's API serves, as discovery describes them."""

from __future__ import annotations

from dataclasses import dataclass

_RW = ("create", "delete", "get", "list", "patch", "update", "watch")
_RO = ("get", "list", "watch")


@dataclass(frozen=True)
class ResourceType:
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = _RW
    group: str = ""
    version: str = "v1"
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Written only by intranode's controllers; the API reads them.
    read_only: bool = False

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class Subresource:
    name: str  # "pods/exec"
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = "v1"


PODS = ResourceType(
    "pods",
    "pod",
    "Pod",
    True,
    (*_RW[:2], "deletecollection", *_RW[2:]),
    short_names=("po",),
    categories=("all",),
)
NAMESPACES = ResourceType("namespaces", "namespace", "Namespace", False, short_names=("ns",))
NODES = ResourceType("nodes", "node", "Node", False, _RO, short_names=("no",), read_only=True)
CONFIGMAPS = ResourceType("configmaps", "configmap", "ConfigMap", True, short_names=("cm",))
EVENTS = ResourceType("events", "event", "Event", True, short_names=("ev",))
SERVICES = ResourceType(
    "services",
    "service",
    "Service",
    True,
    ("get", "list"),
    short_names=("svc",),
    categories=("all",),
    read_only=True,
)
DAEMONSETS = ResourceType(
    "daemonsets",
    "daemonset",
    "DaemonSet",
    True,
    _RO,
    group="apps",
    short_names=("ds",),
    categories=("all",),
    read_only=True,
)
DEPLOYMENTS = ResourceType(
    "deployments",
    "deployment",
    "Deployment",
    True,
    _RO,
    group="apps",
    short_names=("deploy",),
    categories=("all",),
    read_only=True,
)
REPLICASETS = ResourceType(
    "replicasets",
    "replicaset",
    "ReplicaSet",
    True,
    _RO,
    group="apps",
    short_names=("rs",),
    categories=("all",),
    read_only=True,
)

TYPES: tuple[ResourceType, ...] = (
    PODS,
    NAMESPACES,
    NODES,
    CONFIGMAPS,
    EVENTS,
    SERVICES,
    DAEMONSETS,
    DEPLOYMENTS,
    REPLICASETS,
)
SUBRESOURCES: tuple[Subresource, ...] = (
    Subresource("pods/exec", "PodExecOptions", ("create", "get")),
    Subresource("pods/log", "Pod", ("get",)),
    Subresource("pods/status", "Pod", ("get", "patch", "update")),
    Subresource("namespaces/status", "Namespace", ("get",)),
    Subresource("nodes/status", "Node", ("get",)),
    Subresource("daemonsets/status", "DaemonSet", ("get",), group="apps"),
    Subresource("deployments/status", "Deployment", ("get",), group="apps"),
    Subresource("replicasets/status", "ReplicaSet", ("get",), group="apps"),
)
GROUP_VERSIONS: tuple[tuple[str, str], ...] = (("", "v1"), ("apps", "v1"))


def find_type(group: str, version: str, plural: str) -> ResourceType | None:
    for t in TYPES:
        if (t.group, t.version, t.plural) == (group, version, plural):
            return t
    return None


def types_of(group: str, version: str) -> list[ResourceType]:
    return [t for t in TYPES if (t.group, t.version) == (group, version)]


def subresources_of(group: str, version: str) -> list[Subresource]:
    return [s for s in SUBRESOURCES if (s.group, s.version) == (group, version)]
