"""A daemon killed with SIGKILL at any moment restarts with every accepted change present and
every unfinished operation finished or failed with a reason, never stuck RUNNING."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from intranode.testing import Daemon

pytestmark = pytest.mark.e2e

PROJECT = "crash-proj"
ZONE_PATH = f"/v1/projects/{PROJECT}/locations/us-central1-a"
SUBNET = f"/compute/v1/projects/{PROJECT}/regions/us-central1/subnetworks/default"


def _wait_done(api: httpx.Client, op: str, timeout: float = 15) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        o = api.get(f"{ZONE_PATH}/operations/{op}").json()
        if o["status"] == "DONE":
            return dict(o)
        time.sleep(0.05)
    raise AssertionError(f"operation {op} still {o['status']} {timeout}s after the restart")


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.015, 0.03, 0.06])
def test_sigkill_during_cluster_create(tmp_path: Path, delay: float) -> None:
    d = Daemon(tmp_path / "state", PROJECT)
    d.up()
    try:
        with d.google() as api:
            fp = api.get(SUBNET).json()["fingerprint"]
            patched = api.patch(SUBNET, json={"fingerprint": fp, "logConfig": {"enable": True}})
            assert patched.status_code == 200
            r = api.post(
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
            d.kill()
        d.up()
        with d.google() as api:
            # Accepted before the kill, so present after it.
            assert api.get(SUBNET).json()["logConfig"]["enable"] is True
            done = _wait_done(api, op)
            cluster = api.get(f"{ZONE_PATH}/clusters/crashy").json()
            if done.get("error"):
                assert done["error"].get("message"), done  # type: ignore[union-attr]
                assert cluster["status"] == "ERROR"
            else:
                assert cluster["status"] == "RUNNING"
                assert cluster["currentNodeCount"] == 2
                assert cluster["endpoint"].startswith("127.0.0.1:")
    finally:
        d.down(purge=True)
