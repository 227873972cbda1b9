"""What a new project holds: the default auto-mode network, its subnets, rules and routes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from intranode.controllers.compute import seed_project
from intranode.controllers.context import Context
from intranode.domain.auto_subnets import AUTO_MODE_RANGES
from tests.unit.compute.helpers import BASE, FIREWALLS, LINK, ROUTES, SUBNET, get, items
from tests.unit.conftest import PROJECT


def test_default_network_is_auto_mode_and_regional(client: TestClient) -> None:
    net = get(client, f"{BASE}/global/networks/default")
    assert net["kind"] == "compute#network"
    assert net["autoCreateSubnetworks"] is True
    assert net["routingConfig"] == {"routingMode": "REGIONAL"}
    assert not any(k.startswith("x_gcloud") for k in net)
    assert net["selfLink"] == f"{LINK}/global/networks/default"
    assert len(net["subnetworks"]) == len(AUTO_MODE_RANGES)
    assert f"{LINK}/regions/us-central1/subnetworks/default" in net["subnetworks"]


def test_us_central1_subnet_is_googles_auto_range(client: TestClient) -> None:
    sub = get(client, SUBNET)
    assert sub["kind"] == "compute#subnetwork"
    assert sub["ipCidrRange"] == "10.128.0.0/20"
    assert sub["gatewayAddress"] == "10.128.0.1"
    assert sub["network"] == f"{LINK}/global/networks/default"
    assert sub["region"] == f"{LINK}/regions/us-central1"
    assert sub["selfLink"] == f"{LINK}/regions/us-central1/subnetworks/default"
    assert sub["purpose"] == "PRIVATE" and sub["stackType"] == "IPV4_ONLY"
    assert sub["privateIpGoogleAccess"] is False
    assert isinstance(sub["id"], str) and sub["id"].isdigit()
    # Flow logs were never set, so neither field appears (as on Google).
    assert "enableFlowLogs" not in sub and "logConfig" not in sub


def test_every_auto_mode_region_has_its_default_subnet(client: TestClient) -> None:
    body = get(client, f"{BASE}/aggregated/subnetworks")
    ranges = {
        scope.removeprefix("regions/"): scoped["subnetworks"][0]["ipCidrRange"]
        for scope, scoped in body["items"].items()
    }
    assert ranges == dict(AUTO_MODE_RANGES)
    assert ranges["us-east1"] == "10.142.0.0/20"
    assert ranges["europe-west1"] == "10.132.0.0/20"


def test_the_four_default_firewall_rules(client: TestClient) -> None:
    rules = {r["name"]: r for r in items(client, FIREWALLS)}
    assert sorted(rules) == [
        "default-allow-icmp",
        "default-allow-internal",
        "default-allow-rdp",
        "default-allow-ssh",
    ]
    assert all(r["priority"] == 65534 and r["direction"] == "INGRESS" for r in rules.values())
    internal = rules["default-allow-internal"]
    assert internal["sourceRanges"] == ["10.128.0.0/9"]
    assert internal["allowed"] == [
        {"IPProtocol": "tcp", "ports": ["0-65535"]},
        {"IPProtocol": "udp", "ports": ["0-65535"]},
        {"IPProtocol": "icmp"},
    ]
    assert rules["default-allow-ssh"]["sourceRanges"] == ["0.0.0.0/0"]
    assert rules["default-allow-ssh"]["allowed"] == [{"IPProtocol": "tcp", "ports": ["22"]}]
    assert rules["default-allow-rdp"]["allowed"] == [{"IPProtocol": "tcp", "ports": ["3389"]}]
    assert rules["default-allow-icmp"]["allowed"] == [{"IPProtocol": "icmp"}]
    assert internal["network"] == f"{LINK}/global/networks/default"
    assert internal["logConfig"] == {"enable": False} and internal["disabled"] is False


def test_system_routes(client: TestClient) -> None:
    routes = items(client, ROUTES)
    subnet_routes = [r for r in routes if r.get("routeType") == "SUBNET"]
    assert len(subnet_routes) == len(AUTO_MODE_RANGES)
    (central,) = [r for r in subnet_routes if r["destRange"] == "10.128.0.0/20"]
    assert central["description"] == "Default local route to the subnetwork 10.128.0.0/20."
    assert central["nextHopNetwork"] == f"{LINK}/global/networks/default"
    assert central["priority"] == 0
    name = central["name"]
    assert name.startswith("default-route-") and len(name) == len("default-route-") + 16
    int(name.removeprefix("default-route-"), 16)
    (internet,) = [r for r in routes if r["destRange"] == "0.0.0.0/0"]
    assert internet["description"] == "Default route to the Internet."
    assert internet["nextHopGateway"] == f"{LINK}/global/gateways/default-internet-gateway"
    assert internet["priority"] == 1000


def test_seeding_again_changes_nothing(ctx: Context, client: TestClient) -> None:
    before = {k: items(client, f"{BASE}/{k}") for k in ("global/firewalls", "global/routes")}
    subnet = get(client, SUBNET)
    seed_project(ctx, PROJECT)
    after = {k: items(client, f"{BASE}/{k}") for k in ("global/firewalls", "global/routes")}
    assert after == before
    assert get(client, SUBNET) == subnet


def test_a_deleted_default_rule_stays_deleted_after_a_restart(
    ctx: Context, client: TestClient
) -> None:
    assert client.delete(f"{FIREWALLS}/default-allow-rdp").status_code == 200
    seed_project(ctx, PROJECT)
    assert client.get(f"{FIREWALLS}/default-allow-rdp").status_code == 404


def test_project_resource(client: TestClient) -> None:
    project = get(client, BASE)
    assert project["kind"] == "compute#project"
    assert project["name"] == PROJECT


def test_other_projects_are_not_served(client: TestClient) -> None:
    r = client.get("/compute/v1/projects/someone-else/global/networks")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "The resource 'projects/someone-else' was not found"
