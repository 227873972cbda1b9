"""A daemon killed with SIGKILL at any moment restarts with every accepted change present and
every unfinished operation finished or failed with a reason, never stuck RUNNING."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import INTRANODE, free_port

pytestmark = pytest.mark.e2e

ZONE_PATH = "/v1/projects/crash-proj/locations/us-central1-a"
PREFIX = f"k{secrets.token_hex(2)}-"


def _up(env: dict[str, str], port: int) -> None:
    subprocess.run(
        [INTRANODE, "up", "--detach", "--port", str(port), "--project", "crash-proj"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _wait_done(http: httpx.Client, op: str, timeout: float = 15) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        o = http.get(f"{ZONE_PATH}/operations/{op}").json()
        if o["status"] == "DONE":
            return dict(o)
        time.sleep(0.05)
    raise AssertionError(f"operation {op} still {o['status']} {timeout}s after the restart")


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.015, 0.03, 0.06])
def test_sigkill_during_cluster_create(tmp_path: Path, delay: float) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "INTRANODE_STATE_DIR": str(state)}
    port = free_port()
    _up(env, port)
    try:
        token = (state / "token").read_text().strip()
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            sub = "/compute/v1/projects/crash-proj/regions/us-central1/subnetworks/default"
            fp = http.get(sub).json()["fingerprint"]
            assert (
                http.patch(sub, json={"fingerprint": fp, "logConfig": {"enable": True}}).status_code
                == 200
            )
            r = http.post(
                f"{ZONE_PATH}/clusters",
                json={
                    "cluster": {
                        "name": "crashy",
                        "initialNodeCount": 2,
                        "networkConfig": {"enableIntraNodeVisibility": True},
                    }
                },
            )
            assert r.status_code == 200, r.text
            op = r.json()["name"]
            time.sleep(delay)
            pid = int((state / "daemon.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)

        _up(env, port)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            # Accepted before the kill, so present after it.
            assert http.get(sub).json()["logConfig"]["enable"] is True
            done = _wait_done(http, op)
            cluster = http.get(f"{ZONE_PATH}/clusters/crashy").json()
            if done.get("error"):
                assert done["error"].get("message"), done  # type: ignore[union-attr]
                assert cluster["status"] == "ERROR"
            else:
                assert cluster["status"] == "RUNNING"
                assert cluster["currentNodeCount"] == 2
                assert cluster["endpoint"].startswith("127.0.0.1:")
    finally:
        subprocess.run([INTRANODE, "down", "--purge"], env=env, capture_output=True, timeout=60)
