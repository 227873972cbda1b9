"""A throwaway intranode daemon for tests and benchmarks (intranode's own, and users').

It runs the real ``intranode up --detach`` in a temporary state directory, on a free loopback
port, with a kernel-name prefix of its own, so it never meets another daemon; leaving the
``with`` block runs ``intranode down --purge``::

    from intranode.testing import temporary_daemon

    with temporary_daemon(project="my-test") as d:
        with d.google() as api:
            cluster = d.create_cluster(api, "c1", nodes=1, intra_node_visibility=True)

The data plane needs root; pass ``dataplane=False`` to serve the APIs alone.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

INTRANODE = str(Path(sys.executable).parent / "intranode")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    state_dir: Path
    project: str
    port: int = field(default_factory=free_port)
    prefix: str = field(default_factory=lambda: f"t{secrets.token_hex(2)}-")
    dataplane: bool = True

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "INTRANODE_STATE_DIR": str(self.state_dir)}

    @property
    def token(self) -> str:
        return (self.state_dir / "token").read_text().strip()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return int((self.state_dir / "daemon.pid").read_text())

    def up(self) -> None:
        argv = [
            INTRANODE,
            "up",
            "--detach",
            "--port",
            str(self.port),
            "--project",
            self.project,
            "--prefix",
            self.prefix,
        ]
        if not self.dataplane:
            argv.append("--no-dataplane")
        proc = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"intranode up failed: {proc.stderr.strip()}")

    def down(self, *, purge: bool = False) -> None:
        argv = [INTRANODE, "down", *(["--purge"] if purge else [])]
        subprocess.run(argv, env=self.env, capture_output=True, timeout=120)

    def kill(self) -> None:
        """SIGKILL the daemon (a crash) and wait until its process is gone."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                return
            if "\nState:\tZ" in status:
                return
            time.sleep(0.01)

    def google(self, timeout: float = 30) -> httpx.Client:
        """An authorized client for the daemon's Google APIs."""
        return httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.token}"},
        )

    def create_cluster(
        self,
        api: httpx.Client,
        name: str,
        *,
        nodes: int = 1,
        intra_node_visibility: bool = False,
        location: str = "us-central1-a",
        timeout: float = 30,
    ) -> dict[str, Any]:
        """Create a cluster through the Container API and return it once RUNNING."""
        parent = f"/v1/projects/{self.project}/locations/{location}"
        r = api.post(
            f"{parent}/clusters",
            json={
                "cluster": {
                    "name": name,
                    "initialNodeCount": nodes,
                    "networkConfig": {"enableIntraNodeVisibility": intra_node_visibility},
                }
            },
        )
        r.raise_for_status()
        self.wait_operation(api, location, r.json()["name"], timeout)
        cluster: dict[str, Any] = api.get(f"{parent}/clusters/{name}").json()
        if cluster.get("status") != "RUNNING":
            raise RuntimeError(f"cluster {name} is {cluster.get('status')}")
        return cluster

    def wait_operation(
        self, api: httpx.Client, location: str, op: str, timeout: float = 30
    ) -> dict[str, Any]:
        """Poll a Container operation until DONE; raise if it failed."""
        path = f"/v1/projects/{self.project}/locations/{location}/operations/{op}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc: dict[str, Any] = api.get(path).json()
            if doc.get("status") == "DONE":
                if doc.get("error"):
                    raise RuntimeError(f"operation {op} failed: {doc['error']}")
                return doc
            time.sleep(0.01)
        raise TimeoutError(f"operation {op} not DONE after {timeout}s")


@contextmanager
def temporary_daemon(
    project: str = "intranode-test", *, dataplane: bool = True, prefix: str | None = None
) -> Iterator[Daemon]:
    work = Path(tempfile.mkdtemp(prefix="intranode-"))
    daemon = Daemon(work / "state", project, dataplane=dataplane)
    if prefix is not None:
        daemon.prefix = prefix
    try:
        daemon.up()
        yield daemon
    finally:
        daemon.down(purge=True)
        shutil.rmtree(work, ignore_errors=True)
