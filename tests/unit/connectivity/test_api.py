"""Network Management API v1 on the wire: create (an operation, then the test), get, list
(pages, filter, order), patch with updateMask (as gcloud's read-modify-write sends it),
rerun, delete; operations get, list, cancel, delete; Google's error bodies for bad input,
and nothing changed after a refused request."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers import serviceusage
from intranode.controllers.context import Context
from intranode.domain import resources as R
from tests.unit.compute.helpers import error_of
from tests.unit.conftest import PROJECT

from .conftest import NM, TESTS, ZONE, Cluster, run_test, wait_operation

BODY = {"source": {"ipAddress": "10.0.0.5"}, "destination": {"ipAddress": "10.0.1.6", "port": 80}}


def stored(ctx: Context) -> list[str]:
    kinds = (R.CONNECTIVITY_TEST, R.NETWORK_MANAGEMENT_OPERATION)
    return [f"{r.key}@{r.revision}" for k in kinds for r in ctx.resources.find(k)]


def test_create_answers_an_operation_then_the_test_holds_its_results(
    client: TestClient, ctx: Context
) -> None:
    r = client.post(
        TESTS, params={"testId": "t1"}, json={**BODY, "description": "d", "labels": {"team": "net"}}
    )
    assert r.status_code == 200, r.text
    op = r.json()
    assert op["name"].startswith(f"projects/{PROJECT}/locations/global/operations/operation-")
    assert op["done"] is False
    meta = op["metadata"]
    assert (
        meta["@type"] == "type.googleapis.com/google.cloud.networkmanagement.v1.OperationMetadata"
    )
    assert (meta["target"], meta["verb"], meta["apiVersion"]) == (
        f"projects/{PROJECT}/locations/global/connectivityTests/t1",
        "create",
        "v1",
    )
    done = wait_operation(client, op)
    assert done["done"] is True and "endTime" in done["metadata"]
    response = done["response"]
    assert (
        response["@type"]
        == "type.googleapis.com/google.cloud.networkmanagement.v1.ConnectivityTest"
    )
    test = client.get(f"{TESTS}/t1").json()
    assert {k: v for k, v in response.items() if k != "@type"} == test
    assert test["name"] == f"projects/{PROJECT}/locations/global/connectivityTests/t1"
    assert (test["displayName"], test["description"], test["labels"]) == (
        "t1",
        "d",
        {"team": "net"},
    )
    assert test["protocol"] == "TCP"
    assert test["createTime"] == test["updateTime"]
    assert {"reachabilityDetails", "probingDetails"} <= set(test)


def test_list_pages_filters_and_orders(client: TestClient) -> None:
    assert client.get(TESTS).json() == {}
    for name, proto in (("b-test", "UDP"), ("a-test", "TCP"), ("c-test", "icmp")):
        run_test(client, name, {**BODY, "protocol": proto})
    names = [t["displayName"] for t in client.get(TESTS).json()["resources"]]
    assert names == ["a-test", "b-test", "c-test"]
    first = client.get(TESTS, params={"pageSize": 2}).json()
    assert [t["displayName"] for t in first["resources"]] == ["a-test", "b-test"]
    rest = client.get(TESTS, params={"pageSize": 2, "pageToken": first["nextPageToken"]}).json()
    assert [t["displayName"] for t in rest["resources"]] == [
        "c-test"
    ] and "nextPageToken" not in rest
    only = client.get(TESTS, params={"filter": 'protocol = "ICMP"'}).json()["resources"]
    assert [t["displayName"] for t in only] == ["c-test"]
    desc = client.get(TESTS, params={"orderBy": "displayName desc"}).json()["resources"]
    assert [t["displayName"] for t in desc] == ["c-test", "b-test", "a-test"]
    r = client.get(TESTS, params={"filter": "protocol ~ TCP"})
    assert r.status_code == 400 and "Invalid filter" in error_of(r)["message"]


def test_patch_with_an_update_mask_reruns_the_test(client: TestClient) -> None:
    before = run_test(client, "t1", {**BODY, "description": "old"})
    # gcloud's read-modify-write: the whole resource back, output fields included.
    body: dict[str, Any] = {
        **before,
        "description": "new",
        "destination": {"ipAddress": "10.0.1.7", "port": 443},
    }
    r = client.patch(
        f"{TESTS}/t1",
        params={"updateMask": "description,destination.ipAddress,destination.port"},
        json=body,
    )
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["verb"] == "update"
    wait_operation(client, r.json())
    after = client.get(f"{TESTS}/t1").json()
    assert after["description"] == "new"
    assert after["destination"] == {"ipAddress": "10.0.1.7", "port": 443}
    assert after["source"] == before["source"] and after["createTime"] == before["createTime"]
    assert after["updateTime"] > before["updateTime"]
    assert after["reachabilityDetails"]["traces"][0]["endpointInfo"]["destinationIp"] == "10.0.1.7"
    # A field named in the mask and absent from the body is cleared.
    r = client.patch(f"{TESTS}/t1", params={"updateMask": "description"}, json={})
    wait_operation(client, r.json())
    assert "description" not in client.get(f"{TESTS}/t1").json()


@pytest.mark.parametrize(
    ("mask", "body", "message"),
    [
        ("", {"description": "x"}, "Required field 'update_mask' not specified."),
        (
            "createTime",
            {},
            "Invalid value for field 'update_mask': 'createTime'. The field is output only.",
        ),
        (
            "nothing",
            {},
            "Invalid value for field 'update_mask': 'nothing'. Not a field of ConnectivityTest",
        ),
        (
            "source.color",
            {},
            "Invalid value for field 'update_mask': 'source.color'. Not a field of Endpoint.",
        ),
        ("source", {}, "Required field 'source' not specified."),
        ("protocol", {"protocol": "QUIC"}, "Invalid value for field 'protocol': 'QUIC'."),
    ],
)
def test_bad_patches_are_refused_and_change_nothing(
    client: TestClient, ctx: Context, mask: str, body: dict[str, Any], message: str
) -> None:
    run_test(client, "t1", BODY)
    before = stored(ctx)
    r = client.patch(f"{TESTS}/t1", params={"updateMask": mask}, json=body)
    assert r.status_code == 400, r.text
    assert error_of(r)["status"] == "INVALID_ARGUMENT"
    assert error_of(r)["message"].startswith(message)
    assert stored(ctx) == before


@pytest.mark.parametrize(
    ("test_id", "body", "message"),
    [
        ("", BODY, "Required field 'test_id' not specified."),
        ("Bad_Id", BODY, "Invalid value for field 'test_id': 'Bad_Id'. The test ID must be 1-40"),
        ("x" * 41, BODY, "Invalid value for field 'test_id'"),
        ("ends-", BODY, "Invalid value for field 'test_id': 'ends-'."),
        ("t1", {"destination": BODY["destination"]}, "Required field 'source' not specified."),
        ("t1", {"source": {}, "destination": BODY["destination"]}, "The source endpoint must name"),
        (
            "t1",
            {
                "source": {"network": f"projects/{PROJECT}/global/networks/default"},
                "destination": BODY["destination"],
            },
            "The source endpoint must name",
        ),
        (
            "t1",
            {"source": {"ipAddress": "10.0.0.300"}, "destination": BODY["destination"]},
            "Invalid value for field 'source.ip_address': '10.0.0.300'. Not an IP address.",
        ),
        (
            "t1",
            {"source": BODY["source"], "destination": {"ipAddress": "10.0.1.6", "port": 70000}},
            "Invalid value for field 'destination.port': '70000'. A port is 0-65535.",
        ),
        (
            "t1",
            {**BODY, "protocol": "HTTP"},
            "Invalid value for field 'protocol': 'HTTP'. The protocol must be one of TCP, UDP",
        ),
        (
            "t1",
            {"source": {"instance": "node-1"}, "destination": BODY["destination"]},
            "Invalid value for field 'source.instance': 'node-1'.",
        ),
        (
            "t1",
            {"source": {"gkePod": "pods/x"}, "destination": BODY["destination"]},
            "Invalid value for field 'source.gke_pod': 'pods/x'.",
        ),
        ("t1", {**BODY, "color": "red"}, 'Invalid JSON payload received. Unknown name "color"'),
        ("t1", {**BODY, "roundTrip": "yes"}, "Invalid value at 'round_trip' (TYPE_BOOL)"),
        ("t1", {**BODY, "description": "d" * 513}, "Invalid value for field 'description'"),
    ],
)
def test_bad_tests_are_refused_with_googles_error_and_nothing_stored(
    client: TestClient, ctx: Context, test_id: str, body: dict[str, Any], message: str
) -> None:
    before = stored(ctx)
    r = client.post(TESTS, params={"testId": test_id}, json=body)
    assert r.status_code == 400, r.text
    err = error_of(r)
    assert (err["code"], err["status"]) == (400, "INVALID_ARGUMENT")
    assert err["message"].startswith(message), err["message"]
    assert stored(ctx) == before


def test_a_second_test_of_the_same_name_conflicts(client: TestClient, ctx: Context) -> None:
    run_test(client, "t1", BODY)
    before = stored(ctx)
    r = client.post(TESTS, params={"testId": "t1"}, json=BODY)
    assert r.status_code == 409
    assert error_of(r)["message"] == (
        f"Resource 'projects/{PROJECT}/locations/global/connectivityTests/t1' already exists"
    )
    assert stored(ctx) == before


def test_missing_tests_and_operations_are_404(client: TestClient) -> None:
    name = f"projects/{PROJECT}/locations/global/connectivityTests/ghost"
    for r in (
        client.get(f"{TESTS}/ghost"),
        client.delete(f"{TESTS}/ghost"),
        client.post(f"{TESTS}/ghost:rerun", json={}),
        client.patch(f"{TESTS}/ghost", params={"updateMask": "description"}, json={}),
    ):
        assert r.status_code == 404 and error_of(r)["message"] == f"Resource '{name}' was not found"
    r = client.get(f"{NM}/operations/operation-1")
    assert r.status_code == 404 and error_of(r)["status"] == "NOT_FOUND"


def test_delete_removes_the_test_and_answers_a_done_operation(client: TestClient) -> None:
    run_test(client, "t1", BODY)
    r = client.delete(f"{TESTS}/t1")
    assert r.status_code == 200
    op = r.json()
    assert op["done"] is True and op["metadata"]["verb"] == "delete"
    assert op["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
    assert client.get(f"/v1/{op['name']}").json() == op
    assert client.get(f"{TESTS}/t1").status_code == 404


def test_operations_list_cancel_and_delete(client: TestClient) -> None:
    run_test(client, "t1", BODY)
    ops = client.get(f"{NM}/operations").json()["operations"]
    assert [o["metadata"]["verb"] for o in ops] == ["create"]
    assert ops[0]["done"] is True
    r = client.post(f"/v1/{ops[0]['name']}:cancel", json={})
    assert r.status_code == 400 and error_of(r)["status"] == "FAILED_PRECONDITION"
    r = client.post(f"/v1/{ops[0]['name']}:cancel", json={"force": True})
    assert r.status_code == 400 and 'Unknown name "force"' in error_of(r)["message"]
    assert client.delete(f"/v1/{ops[0]['name']}").json() == {}
    assert client.get(f"{NM}/operations").json() == {}


def test_container_and_network_management_operations_share_the_path_form(
    inv_on: Cluster, client: TestClient
) -> None:
    """``/v1/projects/P/locations/L/operations/X`` serves GKE's operations for a zone and
    Network Management's for ``global``: both clients' polls work on one port."""
    gke = client.get(f"/v1/projects/{PROJECT}/locations/{ZONE}/operations").json()["operations"]
    assert gke and all(o["status"] == "DONE" for o in gke)
    r = client.get(f"/v1/projects/{PROJECT}/locations/{ZONE}/operations/{gke[0]['name']}")
    assert r.status_code == 200 and r.json()["operationType"] == "CREATE_CLUSTER"
    test = run_test(client, "t1", BODY)
    assert test["displayName"] == "t1"
    nm = client.get(f"{NM}/operations").json()["operations"]
    assert [o["metadata"]["target"] for o in nm] == [test["name"]]


def test_a_disabled_api_gets_googles_403(client: TestClient, ctx: Context) -> None:
    serviceusage.disable(
        ctx,
        PROJECT,
        "networkmanagement.googleapis.com",
        disable_dependents=False,
        check_usage=False,
    )
    r = client.get(TESTS)
    assert r.status_code == 403
    err = error_of(r)
    assert err["status"] == "PERMISSION_DENIED"
    assert err["message"].startswith("Network Management API has not been used in project")
    assert err["details"][0]["reason"] == "SERVICE_DISABLED"


def test_the_project_number_names_the_same_project(client: TestClient) -> None:
    run_test(client, "t1", BODY)
    number = R.project_number(PROJECT)
    r = client.get(f"/v1/projects/{number}/locations/global/connectivityTests/t1")
    assert r.status_code == 200 and r.json()["displayName"] == "t1"


def test_without_the_token_nothing_is_served(anon_client: TestClient) -> None:
    r = anon_client.get(TESTS)
    assert r.status_code == 401 and error_of(r)["status"] == "UNAUTHENTICATED"


def test_methods_intranode_does_not_serve_answer_501(client: TestClient) -> None:
    for r in (
        client.get(f"{TESTS}/t1:getIamPolicy"),
        client.post(f"{TESTS}/t1:setIamPolicy", json={}),
        client.get(f"{NM}/vpcFlowLogsConfigs"),
    ):
        assert r.status_code == 501 and error_of(r)["status"] == "UNIMPLEMENTED"
        assert r.url.path in error_of(r)["message"]


def test_a_bad_network_type_in_a_patch_is_refused(client: TestClient, ctx: Context) -> None:
    run_test(client, "t1", BODY)
    before = stored(ctx)
    body = {"source": {"ipAddress": "10.0.0.5", "networkType": 99}}
    r = client.patch(f"{TESTS}/t1", params={"updateMask": "source"}, json=body)
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Invalid value for field 'source.network_type': '99'. Unknown network type."
    )
    assert stored(ctx) == before
