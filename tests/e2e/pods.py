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
