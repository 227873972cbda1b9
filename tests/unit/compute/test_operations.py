"""Operations: stored DONE, found by get and wait in their scope, listed, deleted."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.unit.compute.helpers import BASE, FIREWALLS, LINK, SUBNET, error_of, get, items
from tests.unit.conftest import PROJECT


def flow_logs_on(client: TestClient) -> dict[str, Any]:
    fingerprint = get(client, SUBNET)["fingerprint"]
    r = client.patch(SUBNET, json={"fingerprint": fingerprint, "logConfig": {"enable": True}})
    return r.json()  # type: ignore[no-any-return]


def test_regional_operation_get_and_wait(client: TestClient) -> None:
    op = flow_logs_on(client)
    path = f"{BASE}/regions/us-central1/operations/{op['name']}"
    assert op["selfLink"] == f"{LINK}/regions/us-central1/operations/{op['name']}"
    assert get(client, path) == op
    r = client.post(path + "/wait")
    assert r.status_code == 200 and r.json() == op
    assert op["name"].startswith("operation-")
    for stamp in ("insertTime", "startTime", "endTime"):
        assert op[stamp].endswith("-08:00")


def test_global_operation_get_and_wait(client: TestClient) -> None:
    op = client.post(FIREWALLS, json={"name": "fw1", "allowed": [{"IPProtocol": "icmp"}]}).json()
    path = f"{BASE}/global/operations/{op['name']}"
    assert get(client, path)["targetLink"] == f"{LINK}/global/firewalls/fw1"
    assert client.post(path + "/wait").json()["status"] == "DONE"


def test_operations_live_in_their_own_scope(client: TestClient) -> None:
    op = flow_logs_on(client)
    r = client.get(f"{BASE}/global/operations/{op['name']}")
    assert r.status_code == 404
    assert error_of(r)["message"] == (
        f"The resource 'projects/{PROJECT}/global/operations/{op['name']}' was not found"
    )
    assert client.post(f"{BASE}/regions/us-east1/operations/{op['name']}/wait").status_code == 404


def test_list_and_delete(client: TestClient) -> None:
    op = flow_logs_on(client)
    scope = f"{BASE}/regions/us-central1/operations"
    assert [o["name"] for o in items(client, scope)] == [op["name"]]
    assert client.delete(f"{scope}/{op['name']}").status_code == 200
    assert client.get(f"{scope}/{op['name']}").status_code == 404
    assert client.delete(f"{scope}/{op['name']}").status_code == 404
    assert get(client, scope) == {
        "kind": "compute#operationList",
        "id": f"projects/{PROJECT}/regions/us-central1/operations",
        "selfLink": f"{LINK}/regions/us-central1/operations",
    }


def test_aggregated_operations(client: TestClient) -> None:
    regional = flow_logs_on(client)
    global_op = client.delete(f"{FIREWALLS}/default-allow-rdp").json()
    body = get(client, f"{BASE}/aggregated/operations")
    assert body["items"]["regions/us-central1"]["operations"] == [regional]
    assert body["items"]["global"]["operations"] == [global_op]


def test_unknown_zone_operations_are_404(client: TestClient) -> None:
    assert client.get(f"{BASE}/zones/us-central1-a/operations/operation-1").status_code == 404
    assert client.get(f"{BASE}/zones/mars-1a/operations").status_code == 404
