"""Service Usage v1: get, list, enable, disable, batchEnable and their operations."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers import serviceusage
from intranode.controllers.bootstrap import bootstrap
from intranode.controllers.context import Context
from intranode.domain.resources import project_number
from tests.unit.conftest import PROJECT

NUMBER = project_number(PROJECT)
BASE = f"/v1/projects/{PROJECT}/services"


def state(client: TestClient, service: str) -> str:
    r = client.get(f"{BASE}/{service}")
    assert r.status_code == 200, r.text
    return str(r.json()["state"])


def test_get_returns_the_service_named_by_project_number(client: TestClient) -> None:
    r = client.get(f"{BASE}/container.googleapis.com")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == f"projects/{NUMBER}/services/container.googleapis.com"
    assert body["parent"] == f"projects/{NUMBER}"
    assert body["state"] == "ENABLED"
    assert body["config"]["name"] == "container.googleapis.com"
    assert body["config"]["title"] == "Kubernetes Engine API"
    # The project number names the same project.
    assert client.get(f"/v1/projects/{NUMBER}/services/container.googleapis.com").json() == body


def test_the_default_project_has_the_guides_services_enabled(client: TestClient) -> None:
    r = client.get(BASE, params={"filter": "state:ENABLED", "pageSize": 200})
    enabled = {s["config"]["name"] for s in r.json()["services"]}
    wanted = {"compute", "container", "logging", "serviceusage", "networkmanagement", "monitoring"}
    assert {f"{n}.googleapis.com" for n in wanted} <= enabled
    assert all(s["state"] == "ENABLED" for s in r.json()["services"])
    disabled = client.get(BASE, params={"filter": "state:DISABLED"}).json()["services"]
    assert disabled and all(s["state"] == "DISABLED" for s in disabled)
    assert not enabled & {s["config"]["name"] for s in disabled}


def test_list_pages(client: TestClient) -> None:
    first = client.get(BASE, params={"pageSize": 5}).json()
    assert len(first["services"]) == 5
    names = [s["config"]["name"] for s in first["services"]]
    token = first["nextPageToken"]
    while token:
        page = client.get(BASE, params={"pageSize": 5, "pageToken": token}).json()
        names += [s["config"]["name"] for s in page["services"]]
        token = page.get("nextPageToken")
    assert names == sorted(serviceusage.CATALOG)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"filter": "name:x"},
            'Invalid filter "name:x": the only filters are state:ENABLED and state:DISABLED.',
        ),
        ({"pageSize": -1}, "Invalid page_size -1: must be between 0 and 200."),
        ({"pageSize": 201}, "Invalid page_size 201: must be between 0 and 200."),
        ({"pageToken": "!!"}, 'Invalid page token "!!".'),
    ],
)
def test_bad_list_requests_are_invalid_argument(
    client: TestClient, params: dict[str, Any], message: str
) -> None:
    r = client.get(BASE, params=params)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == message


def test_disable_then_enable_round_trip_with_operations(client: TestClient) -> None:
    r = client.post(f"{BASE}/container.googleapis.com:disable", json={})
    assert r.status_code == 200
    op = r.json()
    assert op["name"].startswith(f"operations/acat.p2-{NUMBER}-")
    assert "done" not in op  # as Google answers: the caller polls the operation
    assert op["metadata"] == {
        "@type": "type.googleapis.com/google.api.serviceusage.v1.OperationMetadata",
        "resourceNames": [f"projects/{NUMBER}/services/container.googleapis.com"],
    }
    assert state(client, "container.googleapis.com") == "DISABLED"
    done = client.get(f"/v1/{op['name']}").json()
    assert done["done"] is True
    assert done["response"]["@type"] == (
        "type.googleapis.com/google.api.serviceusage.v1.DisableServiceResponse"
    )
    assert done["response"]["service"]["state"] == "DISABLED"

    r = client.post(f"{BASE}/container.googleapis.com:enable")
    assert r.status_code == 200
    assert r.json()["name"].startswith(f"operations/acf.p2-{NUMBER}-")
    assert state(client, "container.googleapis.com") == "ENABLED"
    done = client.get(f"/v1/{r.json()['name']}").json()
    assert done["response"]["service"]["state"] == "ENABLED"
    assert done["response"]["@type"].endswith("EnableServiceResponse")


def test_enabling_an_enabled_service_is_a_done_no_op(client: TestClient) -> None:
    r = client.post(f"{BASE}/logging.googleapis.com:enable", json={})
    assert r.json()["name"] == "operations/noop.DONE_OPERATION"
    assert r.json()["done"] is True
    assert r.json()["response"]["service"]["state"] == "ENABLED"
    assert client.get("/v1/operations/noop.DONE_OPERATION").json() == {
        "name": "operations/noop.DONE_OPERATION",
        "done": True,
    }


def test_enable_brings_dependencies_along(client: TestClient) -> None:
    client.post(f"{BASE}/compute.googleapis.com:disable", json={"disableDependentServices": True})
    assert state(client, "container.googleapis.com") == "DISABLED"
    assert state(client, "compute.googleapis.com") == "DISABLED"
    client.post(f"{BASE}/container.googleapis.com:enable")
    assert state(client, "compute.googleapis.com") == "ENABLED"


def test_disabling_a_service_others_depend_on_needs_disable_dependents(client: TestClient) -> None:
    r = client.post(f"{BASE}/compute.googleapis.com:disable", json={})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["status"] == "FAILED_PRECONDITION"
    assert error["message"] == (
        "The service compute.googleapis.com is depended on by the following active service(s): "
        "container.googleapis.com,networkmanagement.googleapis.com; Please specify "
        "disable_dependent_services=true if you want to proceed with disabling all services."
    )
    assert error["details"][0]["reason"] == "COMMON_SU_SERVICE_HAS_DEPENDENT_SERVICES"
    assert state(client, "compute.googleapis.com") == "ENABLED"
    r = client.post(
        f"{BASE}/compute.googleapis.com:disable", json={"disableDependentServices": True}
    )
    assert r.status_code == 200
    for name in ("compute", "container", "networkmanagement"):
        assert state(client, f"{name}.googleapis.com") == "DISABLED"


def test_a_recently_used_service_needs_skip_to_be_disabled(
    client: TestClient, ctx: Context
) -> None:
    serviceusage.require_enabled(ctx, PROJECT, "container.googleapis.com")  # a use
    r = client.post(
        f"{BASE}/container.googleapis.com:disable", json={"checkIfServiceHasUsage": "CHECK"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "The service container.googleapis.com has usage in the last 30 days. Please specify "
        "check_if_service_has_usage=SKIP if you want to proceed with disabling the service."
    )
    assert r.json()["error"]["details"][0]["reason"] == "COMMON_SU_SERVICE_HAS_USAGE"
    assert state(client, "container.googleapis.com") == "ENABLED"
    # gcloud's --force sends SKIP; the enum may also come as its number.
    r = client.post(f"{BASE}/container.googleapis.com:disable", json={"checkIfServiceHasUsage": 1})
    assert r.status_code == 200
    assert state(client, "container.googleapis.com") == "DISABLED"


def test_batch_enable(client: TestClient) -> None:
    client.post(f"{BASE}/container.googleapis.com:disable", json={})
    r = client.post(
        f"{BASE}:batchEnable",
        json={"serviceIds": ["container.googleapis.com", "bigquery.googleapis.com"]},
    )
    assert r.status_code == 200
    done = client.get(f"/v1/{r.json()['name']}").json()
    assert done["response"]["@type"].endswith("BatchEnableServicesResponse")
    assert [s["config"]["name"] for s in done["response"]["services"]] == [
        "container.googleapis.com",
        "bigquery.googleapis.com",
    ]
    assert state(client, "bigquery.googleapis.com") == "ENABLED"
    r = client.post(f"{BASE}:batchEnable", json={"serviceIds": []})
    assert r.status_code == 400
    names = [
        f"projects/{PROJECT}/services/{s}"
        for s in ("bigquery.googleapis.com", "dns.googleapis.com")
    ]
    got = client.get(f"{BASE}:batchGet", params={"names": names}).json()["services"]
    assert [s["state"] for s in got] == ["ENABLED", "ENABLED"]


def test_an_unknown_service_is_refused_as_google_does(client: TestClient) -> None:
    for r in (
        client.get(f"{BASE}/foo.googleapis.com"),
        client.post(f"{BASE}/foo.googleapis.com:enable"),
        client.post(
            f"{BASE}:batchEnable", json={"serviceIds": ["foo.googleapis.com", "dns.googleapis.com"]}
        ),
    ):
        assert r.status_code == 403
        assert r.json()["error"]["message"] == (
            "Not found or permission denied for service(s): foo.googleapis.com."
        )
        assert r.json()["error"]["details"] == [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED",
                "domain": "serviceusage.googleapis.com",
                "metadata": {"services": "foo.googleapis.com"},
            }
        ]
    assert state(client, "dns.googleapis.com") == "ENABLED"  # the batch changed nothing


def test_bad_disable_bodies_and_unknown_operations(client: TestClient) -> None:
    r = client.post(f"{BASE}/dns.googleapis.com:disable", json={"checkIfServiceHasUsage": "MAYBE"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "Invalid value at 'check_if_service_has_usage' ('MAYBE'): expected CHECK or SKIP."
    )
    r = client.post(f"{BASE}/dns.googleapis.com:disable", json={"force": True})
    assert r.status_code == 400
    assert state(client, "dns.googleapis.com") == "ENABLED"
    r = client.get("/v1/operations/acf.p2-1-nope")
    assert r.status_code == 404


def test_seeding_happens_once_so_a_restart_keeps_what_the_user_disabled(
    client: TestClient, ctx: Context
) -> None:
    client.post(f"{BASE}/container.googleapis.com:disable", json={})
    bootstrap(ctx)  # what every daemon start runs
    assert state(client, "container.googleapis.com") == "DISABLED"
