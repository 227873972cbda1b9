"""Deleting a cluster removes everything it owns, and nothing of its neighbours."""

from __future__ import annotations

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.controllers.pods import create_pod
from intranode.domain import resources as R
from tests.unit.conftest import PROJECT
from tests.unit.container.conftest import (
    ZONE,
    RecordingEndpoints,
    cluster_url,
    create,
    gke_firewalls,
    instances,
    k8s,
    standard,
    subnet,
    wait_done,
)

KEY = R.cluster_key(PROJECT, ZONE, "flow-log-test")


def test_delete_removes_everything_the_cluster_owns(
    client: TestClient, ctx: Context, endpoints: RecordingEndpoints
) -> None:
    # A neighbour whose key starts with this cluster's key must be left alone.
    _, other = create(client, standard(name="flow-log-test-2"))
    other_pods = k8s(ctx, "flow-log-test-2", "pods")
    _, c = create(client, standard(nodes=2))
    create_pod(
        ctx,
        KEY,
        {"metadata": {"name": "pod-1"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
    )

    endpoints.hold.set()
    r = client.delete(cluster_url("flow-log-test"))
    assert r.status_code == 200
    op = r.json()
    assert op["operationType"] == "DELETE_CLUSTER"
    assert op["status"] == "RUNNING"
    assert endpoints.waiting.wait(5)
    assert client.get(cluster_url("flow-log-test")).json()["status"] == "STOPPING"
    endpoints.hold.clear()
    done = wait_done(client, op)
    assert "error" not in done

    r = client.get(cluster_url("flow-log-test"))
    assert r.status_code == 404
    assert ("stop", KEY) in endpoints.calls
    assert instances(ctx, "flow-log-test") == []
    for plural in ("pods", "nodes", "namespaces", "daemonsets", "services"):
        assert k8s(ctx, "flow-log-test", plural) == [], plural
    chash, other_hash = c["id"][:8], other["id"][:8]
    rules = gke_firewalls(ctx)
    assert not [n for n in rules if chash in n]
    assert len([n for n in rules if other_hash in n]) == 5
    ranges = [r["rangeName"] for r in subnet(ctx).get("secondaryIpRanges", [])]
    assert ranges == [
        f"gke-flow-log-test-2-pods-{other_hash}",
        f"gke-flow-log-test-2-services-{other_hash}",
    ]
    assert k8s(ctx, "flow-log-test-2", "pods") == other_pods
    assert len(instances(ctx, "flow-log-test-2")) == 1
    names = [
        c["name"]
        for c in client.get(f"/v1/projects/{PROJECT}/locations/-/clusters").json()["clusters"]
    ]
    assert names == ["flow-log-test-2"]


def test_the_operation_of_a_deleted_cluster_stays_readable(client: TestClient) -> None:
    create(client, standard())
    op = client.delete(cluster_url("flow-log-test")).json()
    wait_done(client, op)
    r = client.get(f"/v1/projects/{PROJECT}/locations/{ZONE}/operations/{op['name']}")
    assert r.status_code == 200
    assert r.json()["status"] == "DONE"


def test_deleting_a_missing_cluster_is_not_found(client: TestClient) -> None:
    r = client.delete(cluster_url("nope"))
    assert r.status_code == 404
    assert r.json()["error"]["message"] == (
        f"Not found: projects/{PROJECT}/locations/{ZONE}/clusters/nope."
    )


def test_a_deleted_name_can_be_used_again(client: TestClient, ctx: Context) -> None:
    create(client, standard())
    wait_done(client, client.delete(cluster_url("flow-log-test")).json())
    _, c = create(client, standard())
    assert c["status"] == "RUNNING"
    assert len(instances(ctx, "flow-log-test")) == 1
