"""Driving the console in-process: its forms (with the CSRF value a page carries), the
Container API to check results, and pods written to the store as the node agent leaves them."""

from __future__ import annotations

import re
import time
from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from intranode.api.console.session import csrf_value
from intranode.controllers.context import Context
from intranode.domain import resources as R
from intranode.domain.kube_objects import object_meta
from tests.unit.conftest import PROJECT, TOKEN

ZONE = "us-central1-a"
CLUSTERS = f"/v1/projects/{PROJECT}/locations/-/clusters"
CSRF = csrf_value(TOKEN)


def form(client: TestClient, path: str, data: dict[str, str]) -> Response:
    """Submit a console form as a browser with a session would (CSRF value included)."""
    return client.post(path, data={"csrf": CSRF, **data}, follow_redirects=False)


def field_error(html: str, field: str) -> str | None:
    """The message shown next to ``field`` (unescaped), or None."""
    m = re.search(rf'id="{field}-error" role=alert>([^<]*)<', html)
    return unescape(m.group(1)) if m else None


def api_message(client: TestClient, method: str, path: str, body: Any) -> str:
    r = client.request(method, path, json=body)
    assert r.status_code >= 400, r.text
    return str(r.json()["error"]["message"])


def cluster_names(client: TestClient) -> list[str]:
    return sorted(c["name"] for c in client.get(CLUSTERS).json().get("clusters", []))


def operations(client: TestClient) -> list[dict[str, Any]]:
    ops = client.get(f"/v1/projects/{PROJECT}/locations/-/operations").json()
    return list(ops.get("operations", []))


def wait_cluster(
    client: TestClient, name: str, status: str = "RUNNING", location: str = ZONE
) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/projects/{PROJECT}/locations/{location}/clusters/{name}").json()
        if doc.get("status") == status and not [
            o for o in operations(client) if o["status"] != "DONE"
        ]:
            return doc
        time.sleep(0.01)
    raise AssertionError(f"cluster {name} is not {status}: {doc.get('status')}")


def create_cluster(client: TestClient, name: str, *, inv: bool = False, nodes: str = "1") -> None:
    data = {"name": name, "mode": "standard", "location_type": "zonal", "zone": ZONE}
    data |= {"nodes": nodes, "image": "COS_CONTAINERD", "network": "default"}
    if inv:
        data["inv"] = "on"
    r = form(client, "/console/kubernetes/clusters/create/configure", data)
    assert r.status_code == 303, r.text
    wait_cluster(client, name)


def cluster_key(name: str) -> str:
    return R.cluster_key(PROJECT, ZONE, name)


def node_names(ctx: Context, name: str) -> list[str]:
    return [
        n.data["metadata"]["name"]
        for n in ctx.resources.find(R.k8s_kind("nodes"), cluster_key(name))
    ]


def add_pod(
    ctx: Context,
    cluster: str,
    name: str,
    node: str,
    ip: str,
    *,
    namespace: str = "default",
    phase: str = "Running",
) -> None:
    """A pod as the store holds it once scheduled and started."""
    key = cluster_key(cluster)
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": object_meta(name, now=ctx.clock(), namespace=namespace),
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "hello-app:1.0"}]},
        "status": {
            "phase": phase,
            "podIP": ip,
            "startTime": "2026-06-12T03:00:00Z",
            "containerStatuses": [{"name": "c", "ready": phase == "Running", "restartCount": 0}],
        },
    }
    ctx.resources.put(
        R.k8s_kind("pods"),
        R.k8s_key(key, "pods", name, namespace),
        R.k8s_parent(key, namespace),
        doc,
    )
