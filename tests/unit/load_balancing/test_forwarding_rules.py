"""Regional INTERNAL forwarding rules: gcloud's ``--is-mirroring-collector --ports=all`` body,
the address taken from the subnet, Google's defaults, refusals that change nothing, PATCH of
``allowGlobalAccess`` and the in-use delete guard."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from tests.unit.compute.helpers import BASE, LINK, error_of, get

from .world import (
    CHECKS,
    GROUPS,
    MIRRORINGS,
    NODE_A,
    REGIONAL,
    RULES,
    SERVICES,
    add_network,
    add_node,
    collector,
    link,
    ok,
)

GCLOUD_CREATE = {
    "allPorts": True,
    "backendService": "http://127.0.0.1:1/compute/v1/projects/test-proj/regions/us-central1/"
    "backendServices/bs1",
    "isMirroringCollector": True,
    "loadBalancingScheme": "INTERNAL",
    "name": "fr1",
    "network": "http://127.0.0.1:1/compute/v1/projects/test-proj/global/networks/default",
    "subnetwork": "http://127.0.0.1:1/compute/v1/projects/test-proj/regions/us-central1/"
    "subnetworks/default",
}


@pytest.fixture
def service(client: TestClient) -> None:
    ok(client.post(CHECKS, json={"name": "hc1", "type": "TCP"}))
    ok(client.post(GROUPS, json={"name": "ig1"}))
    body = {
        "name": "bs1",
        "loadBalancingScheme": "INTERNAL",
        "healthChecks": [link(f"{CHECKS}/hc1")],
        "backends": [{"group": link(f"{GROUPS}/ig1")}],
    }
    ok(client.post(SERVICES, json=body))


def test_a_mirroring_collector_as_gcloud_creates_it(client: TestClient, service: None) -> None:
    op = ok(client.post(RULES, json=GCLOUD_CREATE))
    assert op["region"] == f"{LINK}/regions/us-central1"
    rule = get(client, f"{RULES}/fr1")
    fixed = ("id", "creationTimestamp", "fingerprint", "labelFingerprint")
    assert {k: v for k, v in rule.items() if k not in fixed} == {
        "kind": "compute#forwardingRule",
        "name": "fr1",
        "selfLink": f"{LINK}/regions/us-central1/forwardingRules/fr1",
        "region": f"{LINK}/regions/us-central1",
        "IPAddress": "10.128.15.253",  # the top of 10.128.0.0/20, under Google's reserved two
        "IPProtocol": "TCP",
        "allPorts": True,
        "backendService": f"{LINK}/regions/us-central1/backendServices/bs1",
        "loadBalancingScheme": "INTERNAL",
        "subnetwork": f"{LINK}/regions/us-central1/subnetworks/default",
        "network": f"{LINK}/global/networks/default",
        "networkTier": "PREMIUM",
        "ipVersion": "IPV4",
        "isMirroringCollector": True,
    }


def test_defaults_place_it_in_the_default_network(client: TestClient, service: None) -> None:
    body = {
        "name": "fr1",
        "loadBalancingScheme": "INTERNAL",
        "backendService": link(f"{SERVICES}/bs1"),
        "ports": ["80", "8000-8080"],
    }
    ok(client.post(RULES, json=body))
    rule = get(client, f"{RULES}/fr1")
    assert rule["subnetwork"] == f"{LINK}/regions/us-central1/subnetworks/default"
    assert rule["ports"] == ["80", "8000-8080"] and "allPorts" not in rule
    assert "isMirroringCollector" not in rule


def test_addresses_are_never_shared(client: TestClient, ctx: Context, service: None) -> None:
    add_node(ctx, NODE_A, "10.128.0.2")
    taken = client.post(RULES, json={**GCLOUD_CREATE, "IPAddress": "10.128.0.2"})
    assert taken.status_code == 400
    err = error_of(taken)
    assert err["message"] == "IP '10.128.0.2' is already being used by another resource."
    assert err["errors"][0]["reason"] == "ipInUseByAnotherResource"
    ok(client.post(RULES, json={**GCLOUD_CREATE, "IPAddress": "10.128.0.9"}))
    ok(client.post(RULES, json={**GCLOUD_CREATE, "name": "fr2"}))
    ok(client.post(RULES, json={**GCLOUD_CREATE, "name": "fr3"}))
    addresses = [r["IPAddress"] for r in ok(client.get(RULES))["items"]]
    assert addresses == ["10.128.0.9", "10.128.15.253", "10.128.15.252"]


BAD: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "ports-and-all-ports",
        {"ports": ["80"]},
        400,
        "Invalid value for field 'resource.allPorts': 'true'. ports and allPorts cannot be "
        "given together.",
    ),
    (
        "no-ports",
        {"allPorts": None},
        400,
        "Invalid value for field 'resource.ports': ''. An INTERNAL forwarding rule needs ports "
        "(at most 5) or allPorts.",
    ),
    (
        "six-ports",
        {"allPorts": None, "ports": ["1", "2", "3", "4", "5", "6"]},
        400,
        "Invalid value for field 'resource.ports': '1,2,3,4,5,6'. At most 5 ports may be "
        "given; use allPorts for more.",
    ),
    (
        "bad-port",
        {"allPorts": None, "ports": ["0"]},
        400,
        "Invalid value for field 'resource.ports[0]': '0'. Must be a port or a range N-M "
        "within 1-65535.",
    ),
    (
        "outside-the-subnet",
        {"IPAddress": "10.1.2.3"},
        400,
        "Invalid value for field 'resource.IPAddress': '10.1.2.3'. The requested internal IP "
        "is outside the usable range of the subnetwork 10.128.0.0/20.",
    ),
    (
        "the-gateway",
        {"IPAddress": "10.128.0.1"},
        400,
        "Invalid value for field 'resource.IPAddress': '10.128.0.1'. The requested internal IP "
        "is outside the usable range of the subnetwork 10.128.0.0/20.",
    ),
    (
        "no-backend-service",
        {"backendService": None},
        400,
        "Required field 'resource.backendService' not specified",
    ),
    (
        "missing-backend-service",
        {"backendService": "regions/us-central1/backendServices/nope"},
        404,
        "The resource 'projects/test-proj/regions/us-central1/backendServices/nope' was not found",
    ),
    (
        "backend-service-of-another-region",
        {"backendService": "regions/europe-west1/backendServices/bs1"},
        400,
        "Invalid value for field 'resource.backendService': "
        "'regions/europe-west1/backendServices/bs1'. The backend service must be in the region "
        "of the forwarding rule, us-central1.",
    ),
    (
        "protocol-mismatch",
        {"IPProtocol": "UDP"},
        400,
        "Invalid value for field 'resource.IPProtocol': 'UDP'. The forwarding rule's protocol "
        "does not match the backend service's protocol TCP (UNSPECIFIED goes with L3_DEFAULT).",
    ),
    (
        "port-range",
        {"portRange": "80-90"},
        400,
        "Invalid value for field 'resource.portRange': '80-90'. portRange cannot be used with "
        "loadBalancingScheme INTERNAL; use ports.",
    ),
    (
        "external",
        {"loadBalancingScheme": "EXTERNAL"},
        501,
        "Forwarding rules with loadBalancingScheme EXTERNAL are not served here; intranode "
        "serves INTERNAL ones (internal passthrough load balancers).",
    ),
    (
        "standard-tier",
        {"networkTier": "STANDARD"},
        400,
        "Invalid value for field 'resource.networkTier': 'STANDARD'. An INTERNAL forwarding "
        "rule must use PREMIUM.",
    ),
    (
        "subnet-of-another-network",
        {"network": "global/networks/other"},
        400,
        "Invalid value for field 'resource.subnetwork': "
        "'http://127.0.0.1:1/compute/v1/projects/test-proj/regions/us-central1/subnetworks/"
        "default'. The subnetwork is not in the network "
        f"'{LINK}/global/networks/other'.",
    ),
    (
        "boolean-as-string",
        {"isMirroringCollector": "yes"},
        400,
        "Invalid value at 'resource.is_mirroring_collector' (TYPE_BOOL), \"yes\"",
    ),
]


@pytest.mark.parametrize(("case", "fields", "code", "message"), BAD, ids=[b[0] for b in BAD])
def test_refused_rules_are_not_created(
    client: TestClient, service: None, case: str, fields: dict[str, Any], code: int, message: str
) -> None:
    body = {k: v for k, v in {**GCLOUD_CREATE, **fields}.items() if v is not None}
    r = client.post(RULES, json=body)
    assert r.status_code == code, r.text
    assert error_of(r)["message"] == message
    assert client.get(f"{RULES}/fr1").status_code == 404


def test_custom_mode_networks_need_a_subnetwork(client: TestClient, service: None) -> None:
    add_network(client, "custom", "10.200.0.0/20")
    body = {**GCLOUD_CREATE, "network": "global/networks/custom"}
    body.pop("subnetwork")
    r = client.post(RULES, json=body)
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Invalid value for field 'resource.subnetwork': ''. A subnetwork must be given for a "
        "forwarding rule in a custom mode network."
    )


def test_patch_changes_global_access_only(client: TestClient, service: None) -> None:
    ok(client.post(RULES, json=GCLOUD_CREATE))
    before = get(client, f"{RULES}/fr1")
    # What ``gcloud compute forwarding-rules update fr1 --allow-global-access`` sends.
    op = ok(client.patch(f"{RULES}/fr1", json={"allowGlobalAccess": True, "name": "fr1"}))
    assert op["operationType"] == "patch"
    after = get(client, f"{RULES}/fr1")
    assert after["allowGlobalAccess"] is True
    assert after["IPAddress"] == before["IPAddress"]
    renamed = client.patch(f"{RULES}/fr1", json={"name": "fr9"})
    assert error_of(renamed)["message"] == (
        "Invalid value for field 'resource.name': 'fr9'. Only allowGlobalAccess can be patched "
        "on an INTERNAL forwarding rule."
    )
    r = client.patch(f"{RULES}/fr1", json={"IPAddress": "10.128.0.50"})
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Invalid value for field 'resource.IPAddress': '10.128.0.50'. Only allowGlobalAccess "
        "can be patched on an INTERNAL forwarding rule."
    )
    stale = client.patch(
        f"{RULES}/fr1", json={"allowGlobalAccess": False, "fingerprint": before["fingerprint"]}
    )
    assert stale.status_code == 412
    assert get(client, f"{RULES}/fr1")["allowGlobalAccess"] is True


def test_a_collector_in_use_cannot_be_deleted(client: TestClient, ctx: Context) -> None:
    rule = collector(client, "col")
    body = {
        "name": "pm1",
        "network": {"url": "global/networks/default"},
        "collectorIlb": {"url": rule},
        "mirroredResources": {"tags": ["web"]},
    }
    ok(client.post(MIRRORINGS, json=body))
    r = client.delete(f"{RULES}/col")
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "The forwarding_rule resource 'projects/test-proj/regions/us-central1/forwardingRules/"
        "col' is already being used by 'projects/test-proj/regions/us-central1/"
        "packetMirrorings/pm1'"
    )
    ok(client.delete(f"{MIRRORINGS}/pm1"))
    assert ok(client.delete(f"{RULES}/col"))["operationType"] == "delete"
    assert client.get(f"{RULES}/col").status_code == 404


def test_lists(client: TestClient, service: None) -> None:
    ok(client.post(RULES, json=GCLOUD_CREATE))
    assert [r["name"] for r in ok(client.get(RULES))["items"]] == ["fr1"]
    agg = ok(client.get(f"{BASE}/aggregated/forwardingRules"))["items"]
    assert [r["name"] for r in agg["regions/us-central1"]["forwardingRules"]] == ["fr1"]
    assert client.get(f"{REGIONAL}/forwardingRules/nope").status_code == 404
