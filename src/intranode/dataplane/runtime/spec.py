"""What the runtime is asked to run: a pod's sandbox and containers, read from the Pod object.

Pure: ``pod_run`` turns a Kubernetes Pod (a dict, as stored) plus the pod's sandbox into a
``PodRun``. Environment variables follow kubelet: ``value`` with ``$(VAR)`` references to
earlier variables expanded (``$$`` escapes, unknown references stay as written),
``valueFrom.fieldRef`` for the pod's name, namespace, uid, node name, service account, IPs,
labels and annotations; other ``valueFrom`` sources (ConfigMaps, Secrets, resources) are not
modelled and give an empty value. ``command`` and ``args`` are expanded with the container's
environment. A container's environment starts from an image-like base: ``PATH`` (the host's
standard one), ``HOSTNAME`` (the pod's hostname) and ``HOME=/root``.

Public API::

    ContainerRun, PodRun                          frozen
    pod_run(pod, sandbox, log_dir, restart_counts={}) -> PodRun
    expand(text, env) -> str                      kubelet's $(VAR) expansion
    container_log_path(log_dir, container, restart_count) -> Path
    DEFAULT_PATH
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intranode.dataplane.runtime.restart import ALWAYS
from intranode.dataplane.runtime.sandbox import Sandbox

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_GRACE = 30.0


@dataclass(frozen=True)
class ContainerRun:
    """One container: image, the k8s command/args (expanded), env, ports, restarts so far."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    ports: tuple[int, ...] = ()
    working_dir: str = ""
    restart_count: int = 0

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


@dataclass(frozen=True)
class PodRun:
    """A pod as the runtime runs it. ``uid`` is the pod's metadata.uid (stable identity)."""

    uid: str
    name: str
    namespace: str
    sandbox: Sandbox
    log_dir: Path
    restart_policy: str = ALWAYS
    grace_period: float = DEFAULT_GRACE
    containers: tuple[ContainerRun, ...] = field(default=())


def container_log_path(log_dir: Path, container: str, restart_count: int) -> Path:
    """``<log_dir>/<container>/<restartCount>.log``, kubelet's layout under /var/log/pods."""
    return log_dir / container / f"{restart_count}.log"


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion (k8s.io/kubernetes/third_party/forked/golang/expansion)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                close = text.find(")", i + 2)
                if close >= 0:
                    name = text[i + 2 : close]
                    out.append(env[name] if name in env else text[i : close + 1])
                    i = close + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


def _field_ref(pod: Mapping[str, Any], path: str) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
    }
    if path in simple:
        return str(simple[path] or "")
    if path == "status.podIPs":
        return ",".join(str(p.get("ip", "")) for p in status.get("podIPs") or [])
    for prefix, source in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str((meta.get(source) or {}).get(path[len(prefix) + 2 : -2], ""))
    return ""


def _env(pod: Mapping[str, Any], c: Mapping[str, Any], hostname: str) -> dict[str, str]:
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/root"}
    for item in c.get("env") or []:
        if not isinstance(item, Mapping) or not item.get("name"):
            continue
        name = str(item["name"])
        if "value" in item:
            env[name] = expand(str(item.get("value") or ""), env)
        else:
            ref = (item.get("valueFrom") or {}).get("fieldRef") or {}
            env[name] = _field_ref(pod, str(ref.get("fieldPath", ""))) if ref else ""
    return env


def _strings(value: Any) -> Sequence[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def pod_run(
    pod: Mapping[str, Any],
    sandbox: Sandbox,
    log_dir: Path,
    restart_counts: Mapping[str, int] | None = None,
) -> PodRun:
    """The runtime's view of ``pod`` (a stored Pod object) running in ``sandbox``.

    ``restart_counts`` carries each container's restartCount from the stored status, so a
    daemon restart continues counting where it stopped.
    """
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    counts = restart_counts or {}
    containers = []
    for c in spec.get("containers") or []:
        if not isinstance(c, Mapping):
            continue
        env = _env(pod, c, sandbox.hostname)
        ports = tuple(
            int(p["containerPort"])
            for p in c.get("ports") or []
            if isinstance(p, Mapping)
            and isinstance(p.get("containerPort"), int)
            and str(p.get("protocol") or "TCP") == "TCP"
        )
        name = str(c.get("name", ""))
        containers.append(
            ContainerRun(
                name=name,
                image=str(c.get("image", "")),
                command=tuple(expand(s, env) for s in _strings(c.get("command"))),
                args=tuple(expand(s, env) for s in _strings(c.get("args"))),
                env=tuple(env.items()),
                ports=ports,
                working_dir=str(c.get("workingDir") or ""),
                restart_count=int(counts.get(name, 0)),
            )
        )
    grace = spec.get("terminationGracePeriodSeconds")
    return PodRun(
        uid=str(meta.get("uid", "")),
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace") or "default"),
        sandbox=sandbox,
        log_dir=log_dir,
        restart_policy=str(spec.get("restartPolicy") or ALWAYS),
        grace_period=float(grace) if isinstance(grace, int | float) else DEFAULT_GRACE,
        containers=tuple(containers),
    )
