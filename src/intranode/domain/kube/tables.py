"""Table columns and row cells as kube-apiserver's printers make them for ``kubectl get``.

Priority-1 columns are the ones ``-o wide`` adds. Cells follow kubectl's printers (pod STATUS
from container states, node ROLES from labels, ``<none>`` for empty values ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intranode.domain.kube.duration import age, human_duration, parse_k8s_time

Obj = Mapping[str, Any]
Cells = list[Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    format: str = ""
    priority: int = 0
    description: str = ""

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


NAME = Column(
    "Name",
    format="name",
    description="Name must be unique within a namespace. Is required when creating resources, "
    "although some resources may allow a client to request the generation of an appropriate "
    "name automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated.",
)
AGE = Column(
    "Age",
    description="CreationTimestamp is a timestamp representing the server time when this "
    "object was created. It is not guaranteed to be set in happens-before order across "
    "separate operations. Clients may not set this value. It is represented in RFC3339 form "
    "and is in UTC.",
)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _age(obj: Obj, now: float) -> str:
    return age(str(_meta(obj).get("creationTimestamp") or ""), now)


def _or_none(value: Any) -> str:
    return str(value) if value else "<none>"


def format_labels(labels: Mapping[str, Any] | None) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = str(expr.get("operator", ""))
        key = expr.get("key", "")
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or "<none>"


# -- pods -------------------------------------------------------------------------------------
POD_COLUMNS = (
    NAME,
    Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column(
        "Restarts",
        description="The number of times the containers in this pod have been restarted and "
        "when the last container in this pod has restarted.",
    ),
    AGE,
    Column("IP", priority=1, description="podIP address allocated to the pod."),
    Column(
        "Node", priority=1, description="NodeName indicates in which node this pod is scheduled."
    ),
    Column(
        "Nominated Node",
        priority=1,
        description="nominatedNodeName is set only when this pod preempts other pods on the node.",
    ),
    Column(
        "Readiness Gates",
        priority=1,
        description="If specified, all readiness gates will be evaluated for pod readiness.",
    ),
)


def pod_status_reason(pod: Obj) -> tuple[str, int, int, float | None]:
    """(STATUS, ready containers, restarts, time of the last restart) as kubectl computes them."""
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    reason = str(status.get("reason") or status.get("phase") or "")
    conditions = status.get("conditions") or []
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions
    ):
        reason = "SchedulingGated"
    restarts = 0
    ready = 0
    last_restart: float | None = None
    initializing = False
    init_specs = spec.get("initContainers") or []
    for i, c in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(c.get("restartCount") or 0)
        state = c.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode", 0) == 0:
            continue
        if term:
            if term.get("reason"):
                reason = "Init:" + str(term["reason"])
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode', 0)}"
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in conditions
    )
    if not initializing or initialized:
        restarts = 0
        has_running = False
        for c in reversed(status.get("containerStatuses") or []):
            restarts += int(c.get("restartCount") or 0)
            last_term = (c.get("lastState") or {}).get("terminated") or {}
            finished = parse_k8s_time(str(last_term.get("finishedAt") or ""))
            if finished is not None and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = c.get("state") or {}
            waiting, term = state.get("waiting") or {}, state.get("terminated")
            if waiting.get("reason"):
                reason = str(waiting["reason"])
            elif term and term.get("reason"):
                reason = str(term["reason"])
            elif term:
                reason = (
                    f"Signal:{term['signal']}"
                    if term.get("signal")
                    else f"ExitCode:{term.get('exitCode', 0)}"
                )
            elif c.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_cond = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
            )
            reason = "Running" if ready_cond else "NotReady"
    meta = _meta(pod)
    if meta.get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason, ready, restarts, last_restart


def pod_cells(pod: Obj, now: float) -> Cells:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    reason, ready, restarts, last_restart = pod_status_reason(pod)
    total = len(spec.get("containers") or [])
    restarts_text = str(restarts)
    if last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    gates = spec.get("readinessGates") or []
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        true_gates = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gates_text = f"{true_gates}/{len(gates)}"
    else:
        gates_text = "<none>"
    ips = status.get("podIPs") or []
    pod_ip = ips[0].get("ip") if ips else status.get("podIP")
    return [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restarts_text,
        _age(pod, now),
        _or_none(pod_ip),
        _or_none(spec.get("nodeName")),
        _or_none(status.get("nominatedNodeName")),
        gates_text,
    ]


def pod_conditions(pod: Obj) -> list[dict[str, Any]] | None:
    """Row conditions: finished pods are marked Completed (kubectl hides them on request)."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return [{"type": "Completed", "status": "True", "reason": "", "message": ""}]
    return None


# -- nodes --------------------------------------------------------------------------------------
NODE_COLUMNS = (
    NAME,
    Column("Status", description="The status of the node"),
    Column("Roles", description="The roles of the node"),
    AGE,
    Column("Version", description="Kubelet Version reported by the node."),
    Column("Internal-IP", priority=1, description="List of addresses reachable to the node."),
    Column("External-IP", priority=1, description="List of addresses reachable to the node."),
    Column("OS-Image", priority=1, description="OS Image reported by the node."),
    Column("Kernel-Version", priority=1, description="Kernel Version reported by the node."),
    Column("Container-Runtime", priority=1, description="Container runtime version."),
)


def node_cells(node: Obj, now: float) -> Cells:
    status = node.get("status") or {}
    spec = node.get("spec") or {}
    states = []
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        states.append("Unknown")
    else:
        states.append("Ready" if ready.get("status") == "True" else "NotReady")
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    labels = _meta(node).get("labels") or {}
    roles = sorted(
        {k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")}
        | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set())
    )
    addresses = status.get("addresses") or []

    def address(kind: str) -> str:
        return next((str(a["address"]) for a in addresses if a.get("type") == kind), "<none>")

    info = status.get("nodeInfo") or {}
    return [
        _name(node),
        ",".join(states),
        ",".join(r for r in roles if r) or "<none>",
        _age(node, now),
        str(info.get("kubeletVersion", "")),
        address("InternalIP"),
        address("ExternalIP"),
        str(info.get("osImage") or "<unknown>"),
        str(info.get("kernelVersion") or "<unknown>"),
        str(info.get("containerRuntimeVersion") or "<unknown>"),
    ]


# -- the rest -------------------------------------------------------------------------------------
NAMESPACE_COLUMNS = (NAME, Column("Status", description="The status of the namespace"), AGE)


def namespace_cells(ns: Obj, now: float) -> Cells:
    return [_name(ns), str((ns.get("status") or {}).get("phase", "")), _age(ns, now)]


CONFIGMAP_COLUMNS = (NAME, Column("Data", type="integer", description="Number of keys."), AGE)


def configmap_cells(cm: Obj, now: float) -> Cells:
    return [_name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age(cm, now)]


DAEMONSET_COLUMNS = (
    NAME,
    Column(
        "Desired",
        type="integer",
        description="The total number of nodes that should be running the daemon pod.",
    ),
    Column("Current", type="integer", description="The number of nodes running the daemon pod."),
    Column("Ready", type="integer", description="The number of nodes with a ready daemon pod."),
    Column(
        "Up-to-date",
        type="integer",
        description="The number of nodes running the updated daemon pod.",
    ),
    Column(
        "Available", type="integer", description="The number of nodes with an available daemon pod."
    ),
    Column(
        "Node Selector",
        description="NodeSelector is a selector which must be true for the pod to fit on a node.",
    ),
    AGE,
    Column("Containers", priority=1, description="Names of each container in the template."),
    Column(
        "Images", priority=1, description="Images referenced by each container in the template."
    ),
    Column(
        "Selector",
        priority=1,
        description="A label query over pods that are managed by the daemon set.",
    ),
)


def daemonset_cells(ds: Obj, now: float) -> Cells:
    status = ds.get("status") or {}
    spec = ds.get("spec") or {}
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    containers = pod_spec.get("containers") or []
    return [
        _name(ds),
        int(status.get("desiredNumberScheduled") or 0),
        int(status.get("currentNumberScheduled") or 0),
        int(status.get("numberReady") or 0),
        int(status.get("updatedNumberScheduled") or 0),
        int(status.get("numberAvailable") or 0),
        format_labels(pod_spec.get("nodeSelector")),
        _age(ds, now),
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
        format_label_selector(spec.get("selector")),
    ]


_WORKLOAD_WIDE = (
    Column("Containers", priority=1, description="Names of each container in the template."),
    Column(
        "Images", priority=1, description="Images referenced by each container in the template."
    ),
    Column("Selector", priority=1, description="Label selector for pods."),
)
DEPLOYMENT_COLUMNS = (
    NAME,
    Column("Ready", description="Number of the pod with ready state"),
    Column(
        "Up-to-date",
        type="integer",
        description="Pods that have the desired template spec.",
    ),
    Column(
        "Available",
        type="integer",
        description="Pods ready for at least minReadySeconds.",
    ),
    AGE,
    *_WORKLOAD_WIDE,
)


def _template_wide(obj: Obj) -> Cells:
    spec = obj.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
        format_label_selector(spec.get("selector")),
    ]


def deployment_cells(dep: Obj, now: float) -> Cells:
    status = dep.get("status") or {}
    desired = int((dep.get("spec") or {}).get("replicas", 1) or 0)
    return [
        _name(dep),
        f"{int(status.get('readyReplicas') or 0)}/{desired}",
        int(status.get("updatedReplicas") or 0),
        int(status.get("availableReplicas") or 0),
        _age(dep, now),
        *_template_wide(dep),
    ]


REPLICASET_COLUMNS = (
    NAME,
    Column("Desired", type="integer", description="Number of desired pods."),
    Column("Current", type="integer", description="Number of actual pods."),
    Column("Ready", type="integer", description="Number of ready pods."),
    AGE,
    *_WORKLOAD_WIDE,
)


def replicaset_cells(rs: Obj, now: float) -> Cells:
    status = rs.get("status") or {}
    return [
        _name(rs),
        int((rs.get("spec") or {}).get("replicas", 1) or 0),
        int(status.get("replicas") or 0),
        int(status.get("readyReplicas") or 0),
        _age(rs, now),
        *_template_wide(rs),
    ]


EVENT_COLUMNS = (
    Column(
        "Last Seen",
        description="The time at which the most recent occurrence of this event was recorded.",
    ),
    Column(
        "Type",
        description="Type of this event (Normal, Warning), new types could be added in the future",
    ),
    Column(
        "Reason",
        description="A short, machine understandable reason for the transition.",
    ),
    Column("Object", description="The object that this event is about."),
    Column("Subobject", priority=1, description="The field of the object this event is about."),
    Column("Source", priority=1, description="The component reporting this event."),
    Column("Message", description="A human-readable description of the status of this operation."),
    Column("First Seen", priority=1, description="The time at which the event was first recorded."),
    Column("Count", priority=1, description="The number of times this event has occurred."),
    Column("Name", priority=1, format="name", description=NAME.description),
)


def event_cells(ev: Obj, now: float) -> Cells:
    first = str(ev.get("firstTimestamp") or ev.get("eventTime") or "")
    last = str(ev.get("lastTimestamp") or ev.get("eventTime") or first)
    count = int(ev.get("count") or 1)
    last_seen = age(last, now)
    if count > 1:
        last_seen = f"{last_seen} (x{count} over {age(first, now)})"
    involved = ev.get("involvedObject") or {}
    source = ev.get("source") or {}
    component = str(source.get("component") or ev.get("reportingComponent") or "")
    host = str(source.get("host") or ev.get("reportingInstance") or "")
    return [
        last_seen,
        str(ev.get("type", "")),
        str(ev.get("reason", "")),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        str(involved.get("fieldPath", "")),
        f"{component}, {host}" if host else component,
        str(ev.get("message", "")).strip(),
        age(first, now),
        str(count),
        _name(ev),
    ]


SERVICE_COLUMNS = (
    NAME,
    Column("Type", description="type determines how the Service is exposed."),
    Column("Cluster-IP", description="clusterIP is the IP address of the service."),
    Column("External-IP", description="externalIPs is a list of IP addresses."),
    Column("Port(s)", description="The list of ports that are exposed by this service."),
    AGE,
    Column(
        "Selector",
        priority=1,
        description="Route service traffic to pods with labels matching this selector.",
    ),
)


def service_cells(svc: Obj, now: float) -> Cells:
    spec = svc.get("spec") or {}
    ports = ",".join(
        f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        if not p.get("nodePort")
        else f"{p.get('port')}:{p.get('nodePort')}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    )
    return [
        _name(svc),
        str(spec.get("type", "ClusterIP")),
        _or_none(spec.get("clusterIP")),
        ",".join(spec.get("externalIPs") or []) or "<none>",
        ports or "<none>",
        _age(svc, now),
        format_labels(spec.get("selector")),
    ]


GENERIC_COLUMNS = (NAME, AGE)


def generic_cells(obj: Obj, now: float) -> Cells:
    return [_name(obj), _age(obj, now)]


@dataclass(frozen=True)
class TableSpec:
    columns: Sequence[Column]
    cells: Callable[[Obj, float], Cells]


TABLES: dict[str, TableSpec] = {
    "pods": TableSpec(POD_COLUMNS, pod_cells),
    "nodes": TableSpec(NODE_COLUMNS, node_cells),
    "namespaces": TableSpec(NAMESPACE_COLUMNS, namespace_cells),
    "configmaps": TableSpec(CONFIGMAP_COLUMNS, configmap_cells),
    "daemonsets": TableSpec(DAEMONSET_COLUMNS, daemonset_cells),
    "events": TableSpec(EVENT_COLUMNS, event_cells),
    "services": TableSpec(SERVICE_COLUMNS, service_cells),
    "deployments": TableSpec(DEPLOYMENT_COLUMNS, deployment_cells),
    "replicasets": TableSpec(REPLICASET_COLUMNS, replicaset_cells),
}


def table_spec(plural: str) -> TableSpec:
    return TABLES.get(plural, TableSpec(GENERIC_COLUMNS, generic_cells))
