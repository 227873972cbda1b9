"""A GKE cluster of two nodes made through the Container API, Pods placed on chosen nodes and
marked Running (no kernel here: the node agent would do that), and Connectivity Tests driven
through the Network Management API as gcloud drives it: create, then poll the operation."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers import connectivity
from intranode.controllers.context import Context
from intranode.controllers.pods import create_pod
from intranode.dataplane.prober import FakeProber
from intranode.domain import resources as R
from tests.unit.compute.helpers import FIREWALLS
from tests.unit.conftest import PROJECT
from tests.unit.container.conftest import RecordingEndpoints, create, standard

NM = f"/v1/projects/{PROJECT}/locations/global"
TESTS = f"{NM}/connectivityTests"
ZONE = "us-central1-a"
PODS = R.k8s_kind("pods")


@dataclass
class Cluster:
    """A cluster of two nodes and helpers to put Pods on them."""

    ctx: Context
    client: TestClient
    name: str
    key: str
    nodes: list[str]  # node names, sorted

    def pod(
        self,
        name: str,
        node: int,
        *,
        ports: list[dict[str, Any]] | None = None,
        running: bool = True,
        labels: dict[str, str] | None = None,
        namespace: str = "default",
        host_network: bool = False,
    ) -> dict[str, Any]:
        """Create a Pod on node ``node`` (its index) and return its stored document."""
        container: dict[str, Any] = {"name": "c", "image": "hello-app:1.0"}
        if ports:
            container["ports"] = ports
        spec: dict[str, Any] = {"nodeName": self.nodes[node], "containers": [container]}
        if host_network:
            spec["hostNetwork"] = True
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if labels:
            meta["labels"] = labels
        res = create_pod(
            self.ctx, self.key, {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
        )
        if not running:
            return res.data
        doc = copy.deepcopy(res.data)
        doc["status"]["phase"] = "Running"
        return self.ctx.resources.update(PODS, res.key, doc).data

    def ip(self, pod: dict[str, Any]) -> str:
        return str(pod["status"]["podIP"])

    def node_ip(self, node: int) -> str:
        res = self.ctx.resources.get(R.INSTANCE, R.instance_key(PROJECT, ZONE, self.nodes[node]))
        assert res is not None
        return str(res.data["networkInterfaces"][0]["networkIP"])

    def set_visibility(self, on: bool) -> None:
        r = self.client.put(
            f"/v1/projects/{PROJECT}/locations/{ZONE}/clusters/{self.name}",
            json={"update": {"desiredIntraNodeVisibilityConfig": {"enabled": on}}},
        )
        assert r.status_code == 200, r.text
        wait_gke(self.client, r.json())


def wait_gke(client: TestClient, op: dict[str, Any]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = client.get(f"/v1/projects/{PROJECT}/locations/{ZONE}/operations/{op['name']}")
        assert r.status_code == 200, r.text
        if r.json()["status"] == "DONE":
            return
        time.sleep(0.005)
    raise AssertionError("GKE operation not DONE")


def make_cluster(ctx: Context, client: TestClient, name: str, *, inv: bool) -> Cluster:
    ctx.endpoints = RecordingEndpoints()
    create(client, standard(name=name, nodes=2, inv=inv))
    key = R.cluster_key(PROJECT, ZONE, name)
    nodes = sorted(
        r.data["metadata"]["name"] for r in ctx.resources.find(R.k8s_kind("nodes"), parent=key)
    )
    return Cluster(ctx, client, name, key, nodes)


@pytest.fixture
def inv_on(ctx: Context, client: TestClient) -> Cluster:
    return make_cluster(ctx, client, "inv-on", inv=True)


@pytest.fixture
def inv_off(ctx: Context, client: TestClient) -> Cluster:
    return make_cluster(ctx, client, "inv-off", inv=False)


@pytest.fixture
def prober(ctx: Context) -> Iterator[FakeProber]:
    """A fake prober installed as the daemon installs its own, with the data plane on."""
    fake = FakeProber()
    connectivity.use_prober(ctx, fake)
    ctx.data_plane = True
    yield fake
    connectivity.use_prober(ctx, None)


def add_firewall(client: TestClient, body: dict[str, Any]) -> None:
    r = client.post(FIREWALLS, json=body)
    assert r.status_code == 200, r.text


def wait_operation(client: TestClient, op: dict[str, Any]) -> dict[str, Any]:
    """Poll ``GET /v1/{name}`` until ``done``, as gcloud does."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = client.get(f"/v1/{op['name']}")
        assert r.status_code == 200, r.text
        if r.json().get("done"):
            return dict(r.json())
        time.sleep(0.005)
    raise AssertionError(f"operation {op['name']} not done after 10 s")


def run_test(client: TestClient, test_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a test, wait for its operation and return the test as GET shows it."""
    r = client.post(TESTS, params={"testId": test_id}, json=body)
    assert r.status_code == 200, r.text
    done = wait_operation(client, r.json())
    assert "error" not in done, done
    got = client.get(f"{TESTS}/{test_id}")
    assert got.status_code == 200, got.text
    return dict(got.json())


def states(test: dict[str, Any], details: str = "reachabilityDetails", trace: int = 0) -> list[str]:
    return [s["state"] for s in test[details]["traces"][trace]["steps"]]


def step(test: dict[str, Any], state: str, details: str = "reachabilityDetails") -> dict[str, Any]:
    """The first step in ``state`` of the first trace."""
    found = [s for s in test[details]["traces"][0]["steps"] if s["state"] == state]
    assert found, f"no {state} step in {states(test, details)}"
    return found[0]


def pod_uri(cluster: Cluster, name: str, namespace: str = "default") -> str:
    cluster_uri = f"projects/{PROJECT}/zones/{ZONE}/clusters/{cluster.name}"
    return f"{cluster_uri}/k8s/namespaces/{namespace}/pods/{name}"
