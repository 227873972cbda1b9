"""Routes: custom static routes, the subnet-range rule, and the system routes that follow
subnets whoever writes them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers import compute
from intranode.controllers.context import Context
from intranode.domain.resources import SUBNETWORK, subnetwork_key
from intranode.errors import InvalidArgument
from tests.unit.compute.helpers import BASE, LINK, ROUTES, error_of, get, items
from tests.unit.conftest import PROJECT

R1: dict[str, Any] = {
    "name": "r1",
    "network": "global/networks/default",
    "destRange": "192.168.50.0/24",
    "nextHopIp": "10.128.0.50",
}


def subnet_route(client: TestClient, cidr: str) -> list[dict[str, Any]]:
    return [r for r in items(client, ROUTES) if r["destRange"] == cidr]


def test_static_route_with_a_next_hop_address(client: TestClient) -> None:
    op = client.post(ROUTES, json=R1).json()
    assert op["operationType"] == "insert" and op["targetLink"] == f"{LINK}/global/routes/r1"
    route = get(client, f"{ROUTES}/r1")
    assert route["kind"] == "compute#route"
    assert route["network"] == f"{LINK}/global/networks/default"
    assert route["destRange"] == "192.168.50.0/24"
    assert route["nextHopIp"] == "10.128.0.50"
    assert route["priority"] == 1000
    assert route["routeType"] == "STATIC"


def test_next_hop_gateway_is_stored_as_a_url(client: TestClient) -> None:
    body = {**R1, "nextHopIp": None, "nextHopGateway": "global/gateways/default-internet-gateway"}
    assert client.post(ROUTES, json=body).status_code == 200
    route = get(client, f"{ROUTES}/r1")
    assert route["nextHopGateway"] == f"{LINK}/global/gateways/default-internet-gateway"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"nextHopIp": None}, "Exactly one of [nextHopGateway, nextHopInstance, nextHopIp"),
        ({"nextHopGateway": "global/gateways/default-internet-gateway"}, "Exactly one of"),
        ({"nextHopIp": "10.128.0.500"}, "'resource.nextHopIp': '10.128.0.500'"),
        ({"destRange": "10.128.0.0/20"}, "equal to or more specific than the range 10.128.0.0/20"),
        ({"destRange": "10.128.4.0/24"}, "equal to or more specific than the range 10.128.0.0/20"),
        ({"destRange": "192.168.0.0/33"}, "'resource.destRange': '192.168.0.0/33'"),
        ({"priority": 65536}, "'resource.priority': '65536'"),
        ({"nextHopGateway": "global/gateways/other", "nextHopIp": None}, "default-internet"),
        ({"name": "R1"}, "'resource.name': 'R1'. Must be a match of regex"),
    ],
)
def test_invalid_routes_are_400_and_change_nothing(
    client: TestClient, fields: dict[str, Any], message: str
) -> None:
    before = items(client, ROUTES)
    body = {k: v for k, v in {**R1, **fields}.items() if v is not None}
    r = client.post(ROUTES, json=body)
    assert r.status_code == 400, r.text
    assert message in error_of(r)["message"]
    assert items(client, ROUTES) == before


def test_a_wider_destination_than_a_subnet_is_allowed(client: TestClient) -> None:
    assert client.post(ROUTES, json={**R1, "destRange": "10.0.0.0/8"}).status_code == 200


def test_next_hop_instance_must_exist(client: TestClient) -> None:
    body = {**R1, "nextHopIp": None, "nextHopInstance": "zones/us-central1-a/instances/vm1"}
    r = client.post(ROUTES, json={k: v for k, v in body.items() if v})
    assert r.status_code == 404
    assert error_of(r)["message"] == (
        f"The resource 'projects/{PROJECT}/zones/us-central1-a/instances/vm1' was not found"
    )


def test_subnet_routes_cannot_be_deleted(client: TestClient) -> None:
    (route,) = subnet_route(client, "10.128.0.0/20")
    r = client.delete(f"{ROUTES}/{route['name']}")
    assert r.status_code == 400
    assert error_of(r)["errors"][0]["reason"] == "invalidResourceUsage"
    assert subnet_route(client, "10.128.0.0/20") == [route]


def test_static_routes_can_be_deleted(client: TestClient) -> None:
    client.post(ROUTES, json=R1)
    assert client.delete(f"{ROUTES}/r1").json()["operationType"] == "delete"
    assert client.get(f"{ROUTES}/r1").status_code == 404


def test_secondary_ranges_get_subnet_routes_when_another_part_writes_them(
    ctx: Context, client: TestClient
) -> None:
    key = subnetwork_key(PROJECT, "us-central1", "default")
    res = ctx.resources.get(SUBNETWORK, key)
    assert res is not None
    pods = {"rangeName": "pods", "ipCidrRange": "10.4.0.0/14"}
    ctx.resources.update(SUBNETWORK, key, {**res.data, "secondaryIpRanges": [pods]})
    (route,) = subnet_route(client, "10.4.0.0/14")
    assert route["routeType"] == "SUBNET" and route["priority"] == 0
    assert route["description"] == "Default local route to the subnetwork 10.4.0.0/14."
    ctx.resources.update(SUBNETWORK, key, res.data)
    assert subnet_route(client, "10.4.0.0/14") == []


def test_add_and_remove_secondary_ranges(ctx: Context, client: TestClient) -> None:
    before = get(client, f"{BASE}/regions/us-central1/subnetworks/default")
    ranges = [
        {"rangeName": "gke-c1-pods", "ipCidrRange": "10.4.0.0/14"},
        {"rangeName": "gke-c1-services", "ipCidrRange": "10.8.0.0/20"},
    ]
    doc = compute.add_secondary_ranges(ctx, PROJECT, "us-central1", "default", ranges)
    assert doc["secondaryIpRanges"] == [
        {"ipCidrRange": "10.4.0.0/14", "rangeName": "gke-c1-pods"},
        {"ipCidrRange": "10.8.0.0/20", "rangeName": "gke-c1-services"},
    ]
    assert doc["fingerprint"] != before["fingerprint"]
    assert len(subnet_route(client, "10.8.0.0/20")) == 1
    doc = compute.remove_secondary_ranges(ctx, PROJECT, "us-central1", "default", ["gke-c1-pods"])
    assert [r["rangeName"] for r in doc["secondaryIpRanges"]] == ["gke-c1-services"]
    assert subnet_route(client, "10.4.0.0/14") == []


def test_secondary_ranges_may_not_overlap_other_subnets(ctx: Context) -> None:
    with pytest.raises(InvalidArgument, match="conflicts with existing subnetwork 'default'"):
        compute.add_secondary_ranges(
            ctx,
            PROJECT,
            "us-east1",
            "default",
            [{"rangeName": "x", "ipCidrRange": "10.128.0.0/16"}],
        )
