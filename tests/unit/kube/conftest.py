"""A seeded cluster (one Linux node with a /24 pod range) and its Kubernetes API in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.api.kube.app import create_kube_app
from intranode.api.kube.exec import PodExecutor
from intranode.api.kube.watch import ChangeFeed
from intranode.controllers.context import Context
from intranode.controllers.pods import ensure_system_namespaces
from intranode.domain.kube_objects import object_meta
from intranode.domain.resources import CLUSTER, k8s_key, k8s_kind
from tests.unit.conftest import PROJECT, TOKEN

CLUSTER_KEY = f"projects/{PROJECT}/locations/us-central1-a/clusters/flow-log-test"
NODE = "gke-flow-log-test-default-pool-1a2b3c4d-xyz1"
POD_CIDR = "10.52.0.0/24"
NODE_IP = "10.128.0.2"
POD_1 = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "pod-1"},
    "spec": {
        "containers": [
            {
                "name": "container-1",
                "image": "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0",
            }
        ]
    },
}
PODS_URL = "/api/v1/namespaces/default/pods"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def node_doc(name: str, pod_cidr: str, ip: str, now: float, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": object_meta(name, now=now, labels={"kubernetes.io/os": "linux", **labels}),
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {
                "kubeletVersion": "v1.32.4-gke.1106006",
                "osImage": "Container-Optimized OS from Google",
                "kernelVersion": "6.6.72+",
                "containerRuntimeVersion": "containerd://1.7.24",
            },
        },
    }


def add_node(ctx: Context, name: str, pod_cidr: str, ip: str, **labels: str) -> None:
    doc = node_doc(name, pod_cidr, ip, ctx.clock(), **labels)
    ctx.resources.put(k8s_kind("nodes"), k8s_key(CLUSTER_KEY, "nodes", name), CLUSTER_KEY, doc)


@pytest.fixture
def cluster(ctx: Context) -> str:
    ctx.resources.put(
        CLUSTER,
        CLUSTER_KEY,
        f"projects/{PROJECT}/locations/us-central1-a",
        {"name": "flow-log-test", "status": "RUNNING", "servicesIpv4Cidr": "10.56.0.0/20"},
    )
    ensure_system_namespaces(ctx, CLUSTER_KEY)
    add_node(ctx, NODE, POD_CIDR, NODE_IP)
    return CLUSTER_KEY


class Executors:
    """What the app asks for its executor; tests swap one in."""

    def __init__(self) -> None:
        self.current: PodExecutor | None = None

    def __call__(self) -> PodExecutor | None:
        return self.current


@pytest.fixture
def executors() -> Executors:
    return Executors()


@pytest.fixture
def feed(ctx: Context) -> Iterator[ChangeFeed]:
    f = ChangeFeed(ctx.resources)
    yield f
    f.close()


@pytest.fixture
def kube(
    ctx: Context, cluster: str, feed: ChangeFeed, executors: Executors
) -> Iterator[TestClient]:
    app = create_kube_app(ctx, cluster, feed, executors)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


@pytest.fixture
def kube_anon(ctx: Context, cluster: str, feed: ChangeFeed) -> Iterator[TestClient]:
    with TestClient(create_kube_app(ctx, cluster, feed, lambda: None)) as c:
        yield c
