"""Regional INTERNAL backend services: gcloud's create body, the GET-then-PUT of
``add-backend``, Google's defaults, refusals that change nothing, the in-use delete guard."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from tests.unit.compute.helpers import BASE, LINK, error_of, get

from .world import (
    CHECKS,
    GROUPS,
    NODE_A,
    SERVICES,
    ZONE,
    add_network,
    add_node,
    collector,
    link,
    ok,
)

GCLOUD_CREATE = {
    "healthChecks": ["http://127.0.0.1:1/compute/v1/projects/test-proj/global/healthChecks/hc1"],
    "loadBalancingScheme": "INTERNAL",
    "name": "bs1",
    "protocol": "TCP",
    "timeoutSec": 30,
}


@pytest.fixture
def check(client: TestClient) -> None:
    ok(client.post(CHECKS, json={"name": "hc1", "type": "TCP"}))
    ok(client.post(GROUPS, json={"name": "ig1"}))


def test_gclouds_create_gets_googles_defaults(client: TestClient, check: None) -> None:
    op = ok(client.post(SERVICES, json=GCLOUD_CREATE))
    assert op["region"] == f"{LINK}/regions/us-central1"
    bs = get(client, f"{SERVICES}/bs1")
    assert {k: v for k, v in bs.items() if k not in ("id", "creationTimestamp", "fingerprint")} == {
        "kind": "compute#backendService",
        "name": "bs1",
        "selfLink": f"{LINK}/regions/us-central1/backendServices/bs1",
        "healthChecks": [f"{LINK}/global/healthChecks/hc1"],
        "timeoutSec": 30,
        "protocol": "TCP",
        "sessionAffinity": "NONE",
        "region": f"{LINK}/regions/us-central1",
        "loadBalancingScheme": "INTERNAL",
        "connectionDraining": {"drainingTimeoutSec": 0},
    }


def test_add_backend_is_a_put_with_the_fingerprint(client: TestClient, check: None) -> None:
    ok(client.post(SERVICES, json=GCLOUD_CREATE))
    current = get(client, f"{SERVICES}/bs1")
    body = {**current, "backends": [{"group": link(f"{GROUPS}/ig1")}]}
    op = ok(client.put(f"{SERVICES}/bs1", json=body))
    assert op["operationType"] == "update"
    bs = get(client, f"{SERVICES}/bs1")
    assert bs["backends"] == [
        {"group": f"{LINK}/zones/{ZONE}/instanceGroups/ig1", "balancingMode": "CONNECTION"}
    ]
    assert bs["fingerprint"] != current["fingerprint"]
    assert bs["id"] == current["id"]
    stale = client.put(f"{SERVICES}/bs1", json=body)
    assert stale.status_code == 412
    assert error_of(stale)["errors"][0]["reason"] == "conditionNotMet"


def test_a_backend_must_be_in_the_network_of_the_service(
    client: TestClient, ctx: Context, check: None
) -> None:
    add_network(client, "other", "10.200.0.0/20")
    add_node(ctx, NODE_A, "10.128.0.2")
    ok(
        client.post(
            f"{GROUPS}/ig1/addInstances",
            json={"instances": [{"instance": f"zones/{ZONE}/instances/{NODE_A}"}]},
        )
    )
    body = {
        **GCLOUD_CREATE,
        "network": "global/networks/other",
        "backends": [{"group": f"zones/{ZONE}/instanceGroups/ig1"}],
    }
    r = client.post(SERVICES, json=body)
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Invalid value for field 'resource.backends[0].group': "
        f"'zones/{ZONE}/instanceGroups/ig1'. The instances of the group must be in the network "
        "of the backend service."
    )


BAD: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "no-health-check",
        {"healthChecks": []},
        400,
        "Invalid value for field 'resource.healthChecks': ''. A backend service with "
        "loadBalancingScheme INTERNAL requires exactly one health check.",
    ),
    (
        "missing-health-check",
        {"healthChecks": ["global/healthChecks/nope"]},
        404,
        "The resource 'projects/test-proj/global/healthChecks/nope' was not found",
    ),
    (
        "missing-group",
        {"backends": [{"group": f"zones/{ZONE}/instanceGroups/nope"}]},
        404,
        f"The resource 'projects/test-proj/zones/{ZONE}/instanceGroups/nope' was not found",
    ),
    (
        "group-in-another-region",
        {"backends": [{"group": "zones/europe-west1-b/instanceGroups/ig1"}]},
        400,
        "Invalid value for field 'resource.backends[0].group': "
        "'zones/europe-west1-b/instanceGroups/ig1'. The instance group must be in a zone of "
        "the region us-central1.",
    ),
    (
        "utilization-mode",
        {"backends": [{"group": f"zones/{ZONE}/instanceGroups/ig1", "balancingMode": "RATE"}]},
        400,
        "Invalid value for field 'resource.backends[0].balancingMode': 'RATE'. Balancing mode "
        "must be CONNECTION for an INTERNAL backend service.",
    ),
    (
        "same-group-twice",
        {"backends": [{"group": f"zones/{ZONE}/instanceGroups/ig1"}] * 2},
        400,
        "Invalid value for field 'resource.backends[1].group': "
        f"'{LINK}/zones/{ZONE}/instanceGroups/ig1'. The instance group is a backend twice.",
    ),
    (
        "http-protocol",
        {"protocol": "HTTP"},
        400,
        "Invalid value for field 'resource.protocol': 'HTTP'. Must be one of [TCP, UDP, "
        "UNSPECIFIED].",
    ),
    (
        "external-scheme",
        {"loadBalancingScheme": "EXTERNAL"},
        501,
        "Regional backend services with loadBalancingScheme EXTERNAL are not served here; "
        "intranode serves INTERNAL ones (internal passthrough load balancers).",
    ),
    (
        "cdn",
        {"enableCDN": True},
        400,
        "Invalid value for field 'resource.enableCDN': 'true'. This setting is not supported "
        "for an INTERNAL backend service.",
    ),
]


@pytest.mark.parametrize(("case", "fields", "code", "message"), BAD, ids=[b[0] for b in BAD])
def test_refused_services_are_not_created(
    client: TestClient, check: None, case: str, fields: dict[str, Any], code: int, message: str
) -> None:
    r = client.post(SERVICES, json={**GCLOUD_CREATE, **fields})
    assert r.status_code == code, r.text
    assert error_of(r)["message"] == message
    assert client.get(f"{SERVICES}/bs1").status_code == 404


def test_a_service_behind_a_forwarding_rule_cannot_be_deleted(client: TestClient) -> None:
    collector(client, "col")
    r = client.delete(f"{SERVICES}/col")
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "The backend_service resource 'projects/test-proj/regions/us-central1/backendServices/"
        "col' is already being used by 'projects/test-proj/regions/us-central1/forwardingRules/"
        "col'"
    )
    assert client.get(f"{SERVICES}/col").status_code == 200


def test_lists_and_delete(client: TestClient, check: None) -> None:
    ok(client.post(SERVICES, json=GCLOUD_CREATE))
    assert [s["name"] for s in ok(client.get(SERVICES))["items"]] == ["bs1"]
    agg = ok(client.get(f"{BASE}/aggregated/backendServices"))["items"]
    assert [s["name"] for s in agg["regions/us-central1"]["backendServices"]] == ["bs1"]
    assert ok(client.delete(f"{SERVICES}/bs1"))["operationType"] == "delete"
    assert client.get(f"{SERVICES}/bs1").status_code == 404
