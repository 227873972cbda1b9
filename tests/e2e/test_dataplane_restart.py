"""SIGKILL the daemon while pods run, restart it: every namespace, link, process and mount is
re-adopted (nothing doubled, nothing leaked), traffic flows again, and ``intranode down``
then leaves the machine as it was before ``up``."""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from intranode.testing import Daemon

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true", reason="the data plane needs root"
    ),
]

PROJECT = "restart-proj"
HELLO_2 = "us-docker.pkg.dev/google-samples/containers/gke/hello-app:2.0"


def _netns(prefix: str) -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith(prefix)}


def _host_links() -> set[str]:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout
    return {link["ifname"] for link in json.loads(out)}


def _processes_under(state: Path) -> set[int]:
    """PIDs whose command line names the state dir (the pod server, container processes)."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(state) in cmdline and "intranode.daemon" not in cmdline:
                pids.add(int(proc.name))
    return pids


def _mounts_under(state: Path) -> set[str]:
    return {
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(str(state))
    }


def _wait(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _hello_from_router(prefix: str, ip: str) -> str:
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            f"{prefix}v-default",
            "wget",
            "-qO-",
            "-T",
            "2",
            "-t",
            "1",
            f"{ip}:8080",
        ],
        capture_output=True,
        text=True,
    ).stdout


def test_sigkill_restart_readopts_and_down_leaves_nothing(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "state", PROJECT, prefix=f"r{secrets.token_hex(2)}-")
    state, prefix = d.state_dir, d.prefix
    links_before = _host_links()
    d.up()
    try:
        auth = {"Authorization": f"Bearer {d.token}"}
        with d.google() as api:
            cluster = d.create_cluster(api, "restart", nodes=1, intra_node_visibility=True)
        ca = tmp_path / "ca.pem"
        ca.write_bytes(base64.b64decode(cluster["masterAuth"]["clusterCaCertificate"]))
        kube = httpx.Client(
            base_url=f"https://{cluster['endpoint']}",
            headers=auth,
            verify=ssl.create_default_context(cafile=str(ca)),
            timeout=10,
        )
        for name in ("pod-a", "pod-b"):
            r = kube.post(
                "/api/v1/namespaces/default/pods",
                json={
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name},
                    "spec": {"containers": [{"name": "c", "image": HELLO_2}]},
                },
            )
            assert r.status_code == 201, r.text

        def running() -> list[str] | None:
            pods = kube.get("/api/v1/namespaces/default/pods").json()["items"]
            ok = [p for p in pods if p["status"].get("phase") == "Running"]
            return [p["status"]["podIP"] for p in pods] if len(ok) == 2 else None

        ips = _wait(running, "pods Running")
        assert "Hostname: pod-b" in _wait(lambda: _hello_from_router(prefix, ips[1]), "hello")
        namespaces, processes = _netns(prefix), _processes_under(state)
        mounts = _mounts_under(state)
        assert len(namespaces) == 4 and processes and len(mounts) == 2  # 2 pods' UTS

        d.kill()
        d.up()
        kube.close()
        kube = httpx.Client(
            base_url=f"https://{cluster['endpoint']}",
            headers=auth,
            verify=ssl.create_default_context(cafile=str(ca)),
            timeout=10,
        )
        assert _wait(running, "pods Running again") == ips
        assert "Hostname: pod-b" in _wait(lambda: _hello_from_router(prefix, ips[1]), "hello")
        assert _netns(prefix) == namespaces
        assert _processes_under(state) == processes  # adopted, not started twice
        assert _mounts_under(state) == mounts
        assert _host_links() == links_before
        kube.close()
    finally:
        d.down()
    assert _netns(prefix) == set()
    assert _processes_under(state) == set()
    assert _mounts_under(state) == set()
    assert _host_links() == links_before
    d.down(purge=True)
