"""What the data-plane e2e modules share: pods' state through kubectl, and flow-log entries
through ``gcloud logging read``."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.conftest import Daemon


def pod_ip(daemon: Daemon, pod: str) -> str:
    return daemon.kubectl("get", "pod", pod, "-o", "jsonpath={.status.podIP}").stdout


def wait_running(daemon: Daemon, *pods: str) -> None:
    deadline = time.monotonic() + 30
    phases: list[str] = []
    while time.monotonic() < deadline:
        phases = [
            daemon.kubectl("get", "pod", p, "-o", "jsonpath={.status.phase}").stdout for p in pods
        ]
        if all(ph == "Running" for ph in phases):
            return
        time.sleep(0.2)
    raise AssertionError(f"pods {pods} not Running: {phases}")


def now_text() -> str:
    """A ``timestamp>=`` bound for entries of what happens from now on."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time()))


def flow_entries(
    daemon: Daemon, src: str, dest: str, since: str = "", extra: str = ""
) -> list[dict[str, Any]]:
    """The vpc_flows entries from ``src`` to ``dest``, read with the guide's filter."""
    flt = (
        f'logName="projects/{daemon.project}/logs/compute.googleapis.com%2Fvpc_flows" '
        f'AND jsonPayload.connection.src_ip="{src}" AND jsonPayload.connection.dest_ip="{dest}"'
    )
    if since:
        flt += f' AND timestamp>="{since}"'
    if extra:
        flt += f" AND {extra}"
    out = daemon.gcloud("logging", "read", flt, "--format=json").stdout
    return list(json.loads(out))


def wait_flow_entries(
    daemon: Daemon, src: str, dest: str, since: str = "", timeout: float = 20, extra: str = ""
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = flow_entries(daemon, src, dest, since, extra)
        if entries:
            return entries
        time.sleep(1)
    return []


def pinned(manifest: str, node: str, name: str | None = None) -> str:
    """A pod manifest of the guide's, placed on ``node`` (and renamed to ``name``)."""
    text = manifest.replace("spec:\n", f"spec:\n  nodeName: {node}\n", 1)
    if name is not None:
        old = next(line for line in text.splitlines() if line.strip().startswith("name: pod-"))
        text = text.replace(old, old.split("name:")[0] + f"name: {name}", 1)
    return text


def node_names(daemon: Daemon) -> list[str]:
    out = daemon.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").stdout
    return out.split()


def reaches(daemon: Daemon, src: str, ip: str, port: int = 8080) -> bool:
    """Whether pod ``src`` gets an answer from ``ip:port`` within two seconds (one try)."""
    r = daemon.kubectl(
        "exec", src, "--", "wget", "-qO-", "-t", "1", "-T", "2", f"{ip}:{port}", check=False
    )
    return r.returncode == 0 and "Hello" in r.stdout
