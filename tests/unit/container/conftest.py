"""Helpers for driving the Container API in-process: a recording stand-in for the clusters'
Kubernetes endpoints, and polling an operation until it is DONE."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context, EndpointInfo
from intranode.domain import resources as R
from tests.unit.conftest import PROJECT

ZONE = "us-central1-a"
BASE = f"/v1/projects/{PROJECT}/locations"
ENDPOINT = "127.0.0.1:16443"
CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="


class RecordingEndpoints:
    """Answers like the real endpoint manager and remembers every start and stop. While
    ``hold`` is set, both wait for the test to clear it (``waiting`` tells it they do);
    ``error``, when set, is what ``start`` raises."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.hold = threading.Event()
        self.waiting = threading.Event()
        self.error: Exception | None = None

    async def _held(self) -> None:
        while self.hold.is_set():
            self.waiting.set()
            await asyncio.sleep(0.002)

    async def start(self, cluster_key: str) -> EndpointInfo:
        self.calls.append(("start", cluster_key))
        await self._held()
        if self.error is not None:
            raise self.error
        return EndpointInfo(ENDPOINT, CA)

    async def stop(self, cluster_key: str) -> None:
        self.calls.append(("stop", cluster_key))
        await self._held()


@pytest.fixture(autouse=True)
def endpoints(ctx: Context) -> RecordingEndpoints:
    rec = RecordingEndpoints()
    ctx.endpoints = rec
    return rec


def cluster_url(name: str = "", location: str = ZONE) -> str:
    return f"{BASE}/{location}/clusters" + (f"/{name}" if name else "")


def wait_done(client: TestClient, op: dict[str, Any], location: str = ZONE) -> dict[str, Any]:
    """Poll the operation through the API, as clients do, until it is DONE."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = client.get(f"{BASE}/{location}/operations/{op['name']}")
        assert r.status_code == 200, r.text
        if r.json()["status"] == "DONE":
            return dict(r.json())
        time.sleep(0.005)
    raise AssertionError(f"operation {op['name']} is not DONE after 10 s")


def create(
    client: TestClient, cluster: dict[str, Any], location: str = ZONE
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a cluster and wait: (the finished operation, the cluster)."""
    r = client.post(cluster_url(location=location), json={"cluster": cluster})
    assert r.status_code == 200, r.text
    done = wait_done(client, r.json(), location)
    assert "error" not in done, done
    got = client.get(cluster_url(cluster["name"], location))
    assert got.status_code == 200, got.text
    return done, got.json()


def standard(name: str = "flow-log-test", nodes: int = 1, inv: bool = True) -> dict[str, Any]:
    """What gcloud sends for ``clusters create NAME --num-nodes=N [--enable-intra-node-...]``."""
    body: dict[str, Any] = {
        "name": name,
        "nodePools": [
            {
                "config": {"oauthScopes": ["https://www.googleapis.com/auth/logging.write"]},
                "initialNodeCount": nodes,
                "management": {"autoRepair": True, "autoUpgrade": True},
                "name": "default-pool",
                "upgradeSettings": {"maxSurge": 1},
            }
        ],
    }
    if inv:
        body["networkConfig"] = {"enableIntraNodeVisibility": True}
    return body


def k8s(ctx: Context, cluster: str, plural: str, location: str = ZONE) -> list[dict[str, Any]]:
    """Every Kubernetes object of a kind in a cluster (all namespaces)."""
    key = R.cluster_key(PROJECT, location, cluster)
    return [
        r.data
        for r in ctx.resources.list_prefix(R.k8s_kind(plural), key)
        if r.parent == key or r.parent.startswith(key + "/")
    ]


def names(objs: list[dict[str, Any]]) -> set[str]:
    return {o["metadata"]["name"] for o in objs}


def instances(ctx: Context, cluster: str) -> list[dict[str, Any]]:
    return [
        r.data
        for r in ctx.resources.list_prefix(R.INSTANCE, f"projects/{PROJECT}/zones/")
        if r.data["labels"].get("goog-k8s-cluster-name") == cluster
    ]


def gke_firewalls(ctx: Context) -> dict[str, dict[str, Any]]:
    return {
        r.data["name"]: r.data
        for r in ctx.resources.find(R.FIREWALL)
        if r.data["name"].startswith("gke-")
    }


def subnet(ctx: Context, region: str = "us-central1") -> dict[str, Any]:
    res = ctx.resources.get(R.SUBNETWORK, R.subnetwork_key(PROJECT, region, "default"))
    assert res is not None
    return res.data


def snapshot(ctx: Context) -> dict[str, list[str]]:
    """What a refused request must leave as it was."""
    kinds = [R.CLUSTER, R.CONTAINER_OPERATION, R.INSTANCE, R.FIREWALL, R.SUBNETWORK]
    kinds += [R.k8s_kind(p) for p in ("pods", "nodes", "daemonsets", "namespaces", "services")]
    return {k: [f"{r.key}@{r.revision}" for r in ctx.resources.find(k)] for k in kinds}
