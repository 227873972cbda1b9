"""Container states as the runtime reports them, and their Kubernetes JSON.

The supervisor calls its status callback with a ``ContainerStatus`` whenever a container's
state, readiness or restart count changes; ``to_k8s()`` is the ``status.containerStatuses[]``
item kubelet would write, and ``pod_phase`` is kubelet's rule for ``status.phase``.

Public API::

    Running(started_at), Waiting(reason, message), Terminated(exit_code, reason, ...)
    ContainerStatus(...).to_k8s() -> dict
    exit_reason(exit_code) -> "Completed" | "Error"
    pod_phase(restart_policy, statuses) -> "Pending" | "Running" | "Succeeded" | "Failed"
    CONTAINER_CREATING, COMPLETED, ERROR, START_ERROR, STATUS_UNKNOWN
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from intranode.dataplane.runtime.restart import ALWAYS, NEVER
from intranode.domain.timefmt import k8s_time

CONTAINER_CREATING = "ContainerCreating"
COMPLETED = "Completed"
ERROR = "Error"
START_ERROR = "StartError"
# Kubelet's reason when a container's end was not observed (here: across a daemon restart).
STATUS_UNKNOWN = "ContainerStatusUnknown"


def exit_reason(exit_code: int) -> str:
    return COMPLETED if exit_code == 0 else ERROR


@dataclass(frozen=True)
class Running:
    started_at: float


@dataclass(frozen=True)
class Waiting:
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str
    started_at: float
    finished_at: float
    message: str = ""
    container_id: str = ""
    signal: int = 0


State = Running | Waiting | Terminated


def _state_doc(state: State | None) -> dict[str, Any]:
    if state is None:
        return {}
    if isinstance(state, Running):
        return {"running": {"startedAt": k8s_time(state.started_at)}}
    if isinstance(state, Waiting):
        waiting = {"reason": state.reason}
        if state.message:
            waiting["message"] = state.message
        return {"waiting": waiting}
    term: dict[str, Any] = {
        "exitCode": state.exit_code,
        "reason": state.reason,
        "startedAt": k8s_time(state.started_at),
        "finishedAt": k8s_time(state.finished_at),
    }
    if state.signal:
        term["signal"] = state.signal
    if state.message:
        term["message"] = state.message
    if state.container_id:
        term["containerID"] = state.container_id
    return {"terminated": term}


@dataclass(frozen=True)
class ContainerStatus:
    """One container's status; ``pod_uid`` and ``name`` say whose."""

    pod_uid: str
    name: str
    image: str
    image_id: str
    state: State
    last_state: Terminated | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    container_id: str = ""

    def to_k8s(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": _state_doc(self.state),
            "lastState": _state_doc(self.last_state),
        }
        if self.container_id:
            doc["containerID"] = self.container_id
        return doc


def pod_phase(restart_policy: str, statuses: Iterable[ContainerStatus]) -> str:
    """kubelet's ``getPhase`` over the containers (init containers aside)."""
    waiting = running = stopped = succeeded = 0
    for s in statuses:
        if isinstance(s.state, Running):
            running += 1
        elif isinstance(s.state, Terminated):
            stopped += 1
            succeeded += s.state.exit_code == 0
        elif s.last_state is not None:
            stopped += 1  # waiting to restart: it ran before
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == ALWAYS:
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == NEVER:
            return "Failed"
        return "Running"
    return "Pending"
