"""Pods as the API server and scheduler fill them in: defaults, node choice, the initial status.

Until the data plane runs containers, a scheduled pod stays ``Pending`` with its containers
``ContainerCreating`` and a message saying why, so ``kubectl describe`` tells users the truth.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from intranode.domain.timefmt import k8s_time

DATA_PLANE_WAITING = "the intranode data plane is not running; pods start once it is (see docs)"
OS_LABEL = "kubernetes.io/os"

Obj = dict[str, Any]


def default_pod(pod: Obj) -> Obj:
    """The defaults kube-apiserver writes into a new pod's spec (a copy; ``pod`` is unchanged)."""
    out = copy.deepcopy(pod)
    spec: Obj = out.setdefault("spec", {})
    for key, value in (
        ("restartPolicy", "Always"),
        ("dnsPolicy", "ClusterFirst"),
        ("terminationGracePeriodSeconds", 30),
        ("schedulerName", "default-scheduler"),
        ("securityContext", {}),
        ("enableServiceLinks", True),
        ("preemptionPolicy", "PreemptLowerPriority"),
        ("priority", 0),
    ):
        spec.setdefault(key, value)
    if "serviceAccountName" not in spec:
        spec["serviceAccountName"] = spec.get("serviceAccount", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault(
        "tolerations",
        [
            {
                "key": f"node.kubernetes.io/{taint}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for taint in ("not-ready", "unreachable")
        ],
    )
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            if isinstance(container, dict):
                _default_container(container)
    return out


def _default_container(c: Obj) -> None:
    image = str(c.get("image") or "")
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def qos_class(spec: Mapping[str, Any]) -> str:
    """BestEffort, Burstable or Guaranteed, from the containers' requests and limits."""
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


@dataclass(frozen=True)
class NodeView:
    """What scheduling needs of a node."""

    name: str
    labels: Mapping[str, str]
    unschedulable: bool
    internal_ip: str
    pod_cidr: str


def node_view(node: Mapping[str, Any]) -> NodeView:
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    addresses = (node.get("status") or {}).get("addresses") or []
    internal = next((a.get("address", "") for a in addresses if a.get("type") == "InternalIP"), "")
    return NodeView(
        name=str(meta.get("name", "")),
        labels=dict(meta.get("labels") or {}),
        unschedulable=bool(spec.get("unschedulable")),
        internal_ip=str(internal),
        pod_cidr=str(spec.get("podCIDR") or next(iter(spec.get("podCIDRs") or []), "")),
    )


@dataclass(frozen=True)
class Placement:
    """The scheduler's answer: a node, or why none fits (kube-scheduler's message)."""

    node: NodeView | None
    reason: str = ""


def choose_node(
    pod: Mapping[str, Any], nodes: Iterable[NodeView], pods_per_node: Mapping[str, int]
) -> Placement:
    """The Linux node with the fewest pods among those matching the pod's nodeSelector."""
    candidates = list(nodes)
    if not candidates:
        return Placement(None, "no nodes available to schedule pods")
    selector = dict((pod.get("spec") or {}).get("nodeSelector") or {})
    fits: list[NodeView] = []
    unschedulable = mismatch = 0
    for node in candidates:
        if node.unschedulable:
            unschedulable += 1
        elif node.labels.get(OS_LABEL, "linux") != "linux" or any(
            node.labels.get(k) != v for k, v in selector.items()
        ):
            mismatch += 1
        else:
            fits.append(node)
    if fits:
        return Placement(min(fits, key=lambda n: (pods_per_node.get(n.name, 0), n.name)))
    total = len(candidates)
    parts = []
    if mismatch:
        parts.append(f"{mismatch} node(s) didn't match Pod's node affinity/selector")
    if unschedulable:
        parts.append(f"{unschedulable} node(s) were unschedulable")
    return Placement(
        None,
        f"0/{total} nodes are available: {', '.join(parts)}. preemption: 0/{total} nodes are "
        f"available: {total} Preemption is not helpful for scheduling.",
    )


def _condition(kind: str, status: bool, now: float, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": k8s_time(now),
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def unschedulable_status(pod: Mapping[str, Any], reason: str, now: float) -> Obj:
    return {
        "phase": "Pending",
        "conditions": [_condition("PodScheduled", False, now, "Unschedulable", reason)],
        "qosClass": qos_class(pod.get("spec") or {}),
    }


def pending_status(
    pod: Mapping[str, Any],
    host_ip: str,
    pod_ip: str | None,
    now: float,
    waiting_message: str = DATA_PLANE_WAITING,
) -> Obj:
    """A scheduled pod whose containers are being created; ``waiting_message`` says why they
    wait (by default: no data plane runs them; empty while the node agent starts them)."""
    spec = pod.get("spec") or {}
    names = [str(c.get("name", "")) for c in spec.get("containers") or []]
    unready = f"containers with unready status: [{' '.join(names)}]"
    status: Obj = {
        "phase": "Pending",
        "conditions": [
            _condition("Initialized", True, now),
            _condition("Ready", False, now, "ContainersNotReady", unready),
            _condition("ContainersReady", False, now, "ContainersNotReady", unready),
            _condition("PodScheduled", True, now),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}] if host_ip else [],
        "startTime": k8s_time(now),
        "containerStatuses": [
            {
                "name": str(c.get("name", "")),
                "image": str(c.get("image", "")),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "lastState": {},
                "state": {
                    "waiting": {"reason": "ContainerCreating"}
                    | ({"message": waiting_message} if waiting_message else {})
                },
            }
            for c in spec.get("containers") or []
        ],
        "qosClass": qos_class(spec),
    }
    if not host_ip:
        del status["hostIPs"]
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status


def pod_ip_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("podIP") or "")


def is_terminated(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _event(
    pod: Mapping[str, Any], kind: str, reason: str, message: str, component: str, now: float
) -> Obj:
    meta = pod.get("metadata") or {}
    ts = k8s_time(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"namespace": meta.get("namespace", "default")},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": meta.get("namespace", "default"),
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
        },
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": ts,
        "lastTimestamp": ts,
        "count": 1,
        "type": kind,
        "reportingComponent": component,
        "reportingInstance": "",
    }


def placement_events(pod: Mapping[str, Any], now: float, *, waiting: bool = True) -> list[Obj]:
    """What ``kubectl describe pod`` lists after placement: where the pod went (or why it could
    not go anywhere) and, while containers wait for the data plane, that they do."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    where = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
    scheduled = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None
    )
    if scheduled is not None and scheduled.get("status") == "False":
        return [
            _event(
                pod,
                "Warning",
                "FailedScheduling",
                str(scheduled.get("message", "")),
                "default-scheduler",
                now,
            )
        ]
    events = [
        _event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {where} to {spec.get('nodeName', '')}",
            "default-scheduler",
            now,
        )
    ]
    held = [
        c
        for c in status.get("containerStatuses") or []
        if ((c.get("state") or {}).get("waiting") or {}).get("message") == DATA_PLANE_WAITING
    ]
    if waiting and held:
        events.append(
            _event(pod, "Warning", "DataPlaneNotRunning", DATA_PLANE_WAITING, "intranode", now)
        )
    return events
