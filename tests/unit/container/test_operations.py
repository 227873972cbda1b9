"""Operations: listing, cancelling, and failures that end DONE with an error."""

from __future__ import annotations

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.errors import Unavailable
from tests.unit.conftest import PROJECT
from tests.unit.container.conftest import (
    BASE,
    ZONE,
    RecordingEndpoints,
    cluster_url,
    create,
    gke_firewalls,
    instances,
    standard,
    subnet,
    wait_done,
)


def test_operations_are_listed_per_location_and_everywhere(client: TestClient) -> None:
    created, _ = create(client, standard())
    r = client.put(
        cluster_url("flow-log-test"),
        json={"update": {"desiredIntraNodeVisibilityConfig": {"enabled": False}}},
    )
    updated = wait_done(client, r.json())
    here = client.get(f"{BASE}/{ZONE}/operations").json()["operations"]
    assert [(o["name"], o["operationType"], o["status"]) for o in here] == [
        (created["name"], "CREATE_CLUSTER", "DONE"),
        (updated["name"], "UPDATE_CLUSTER", "DONE"),
    ]
    assert client.get(f"{BASE}/-/operations").json()["operations"] == here
    zonal = client.get(f"/v1/projects/{PROJECT}/zones/{ZONE}/operations").json()["operations"]
    assert zonal == here
    assert client.get(f"{BASE}/us-east1-b/operations").json() == {}


def test_a_finished_operation_cannot_be_cancelled(client: TestClient) -> None:
    done, _ = create(client, standard())
    r = client.post(f"{BASE}/{ZONE}/operations/{done['name']}:cancel", json={})
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert r.json()["error"]["message"] == (
        f"Operation {done['name']} is already done and cannot be cancelled."
    )
    again = client.get(f"{BASE}/{ZONE}/operations/{done['name']}").json()
    assert again == done


def test_cancelling_a_create_stops_it_and_delete_cleans_up(
    client: TestClient, ctx: Context, endpoints: RecordingEndpoints
) -> None:
    endpoints.hold.set()
    op = client.post(cluster_url(), json={"cluster": standard()}).json()
    assert endpoints.waiting.wait(5)
    r = client.post(
        f"/v1/projects/{PROJECT}/zones/{ZONE}/operations/{op['name']}:cancel",
        json={"projectId": PROJECT, "zone": ZONE, "operationId": op["name"]},
    )
    assert r.status_code == 200 and r.json() == {}
    assert client.get(f"{BASE}/{ZONE}/operations/{op['name']}").json()["status"] == "ABORTING"
    endpoints.hold.clear()
    done = wait_done(client, op)
    assert done["error"]["code"] == 1  # google.rpc.Code.CANCELLED
    assert done["error"]["message"] == "The operation was cancelled."
    c = client.get(cluster_url("flow-log-test")).json()
    assert c["status"] == "ERROR"
    assert c["statusMessage"] == "Cluster creation was cancelled; delete the cluster to clean up."
    # It stopped before making nodes or firewall rules.
    assert instances(ctx, "flow-log-test") == []
    assert gke_firewalls(ctx) == {}

    wait_done(client, client.delete(cluster_url("flow-log-test")).json())
    assert client.get(cluster_url("flow-log-test")).status_code == 404
    assert not subnet(ctx).get("secondaryIpRanges")


def test_cancelling_a_missing_operation_is_not_found(client: TestClient) -> None:
    r = client.post(f"{BASE}/{ZONE}/operations/operation-1-00000000:cancel")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == (
        f"Not found: projects/{PROJECT}/locations/{ZONE}/operations/operation-1-00000000."
    )


def test_a_failing_create_ends_done_with_the_error_and_the_cluster_in_error(
    client: TestClient, endpoints: RecordingEndpoints
) -> None:
    endpoints.error = Unavailable("the Kubernetes endpoint cannot listen")
    op = client.post(cluster_url(), json={"cluster": standard()}).json()
    done = wait_done(client, op)
    assert done["error"] == {
        "code": 14,
        "message": "the Kubernetes endpoint cannot listen",
        "details": [],
    }
    assert done["statusMessage"] == "the Kubernetes endpoint cannot listen"
    c = client.get(cluster_url("flow-log-test")).json()
    assert c["status"] == "ERROR"
    assert c["statusMessage"] == "the Kubernetes endpoint cannot listen"
    # An ERROR cluster can still be deleted.
    endpoints.error = None
    assert "error" not in wait_done(client, client.delete(cluster_url("flow-log-test")).json())
