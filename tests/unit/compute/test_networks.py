"""Networks and subnetworks: insert in both modes, and deletes Google refuses while in use."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain.auto_subnets import AUTO_MODE_RANGES
from intranode.domain.resources import INSTANCE, instance_key
from tests.unit.compute.helpers import BASE, FIREWALLS, LINK, ROUTES, error_of, get, items
from tests.unit.conftest import PROJECT

NETWORKS = f"{BASE}/global/networks"


def new_subnet(
    client: TestClient, name: str = "s1", cidr: str = "10.5.0.0/24", **extra: Any
) -> Any:
    body = {"name": name, "network": "global/networks/net1", "ipCidrRange": cidr, **extra}
    return client.post(f"{BASE}/regions/us-east1/subnetworks", json=body)


def test_custom_mode_network_starts_empty(client: TestClient) -> None:
    op = client.post(NETWORKS, json={"name": "net1", "autoCreateSubnetworks": False}).json()
    assert op["operationType"] == "insert" and op["targetLink"] == f"{LINK}/global/networks/net1"
    net = get(client, f"{NETWORKS}/net1")
    assert net["autoCreateSubnetworks"] is False
    assert net["subnetworks"] == []
    assert net["routingConfig"] == {"routingMode": "REGIONAL"}
    internet = [r for r in items(client, ROUTES) if r["network"] == net["selfLink"]]
    assert [r["destRange"] for r in internet] == ["0.0.0.0/0"]


def test_auto_mode_network_gets_a_subnet_per_region(client: TestClient) -> None:
    client.post(NETWORKS, json={"name": "net2", "autoCreateSubnetworks": True})
    net = get(client, f"{NETWORKS}/net2")
    assert len(net["subnetworks"]) == len(AUTO_MODE_RANGES)
    sub = get(client, f"{BASE}/regions/us-central1/subnetworks/net2")
    assert sub["ipCidrRange"] == "10.128.0.0/20"


def test_legacy_networks_are_refused(client: TestClient) -> None:
    r = client.post(NETWORKS, json={"name": "old", "IPv4Range": "10.0.0.0/8"})
    assert r.status_code == 400
    assert "resource.autoCreateSubnetworks" in error_of(r)["message"]
    assert client.get(f"{NETWORKS}/old").status_code == 404


def test_subnet_insert_and_its_route(client: TestClient) -> None:
    client.post(NETWORKS, json={"name": "net1", "autoCreateSubnetworks": False})
    pods = [{"rangeName": "pods", "ipCidrRange": "10.6.0.0/16"}]
    op = new_subnet(client, secondaryIpRanges=pods, logConfig={"enable": True}).json()
    assert op["operationType"] == "insert" and op["region"] == f"{LINK}/regions/us-east1"
    sub = get(client, f"{BASE}/regions/us-east1/subnetworks/s1")
    assert sub["gatewayAddress"] == "10.5.0.1"
    assert sub["secondaryIpRanges"] == [{"ipCidrRange": "10.6.0.0/16", "rangeName": "pods"}]
    assert sub["enableFlowLogs"] is True and sub["logConfig"]["flowSampling"] == 0.5
    assert get(client, f"{NETWORKS}/net1")["subnetworks"] == [sub["selfLink"]]
    dests = {r["destRange"] for r in items(client, ROUTES) if r["network"].endswith("/net1")}
    assert dests == {"0.0.0.0/0", "10.5.0.0/24", "10.6.0.0/16"}


@pytest.mark.parametrize(
    ("name", "cidr", "extra", "message"),
    [
        (
            "s2",
            "10.5.0.128/25",
            {},
            "Invalid IPCidrRange: 10.5.0.128/25 conflicts with existing "
            "subnetwork 's1' in region 'us-east1'.",
        ),
        ("s2", "10.7.0.0/30", {}, "The prefix length must be between /8 and /29."),
        ("s2", "10.7.0.1/24", {}, "Must be a network address"),
        ("s2", "nope", {}, "'resource.ipCidrRange': 'nope'"),
        ("S2", "10.7.0.0/24", {}, "'resource.name': 'S2'"),
        ("s2", "10.7.0.0/24", {"stackType": "IPV4_IPV6"}, "resource.stackType"),
        ("s2", "10.7.0.0/24", {"gateway": "10.7.0.1"}, 'Unknown name "gateway"'),
    ],
)
def test_invalid_subnets_are_refused(
    client: TestClient, name: str, cidr: str, extra: dict[str, Any], message: str
) -> None:
    client.post(NETWORKS, json={"name": "net1", "autoCreateSubnetworks": False})
    new_subnet(client)
    r = new_subnet(client, name, cidr, **extra)
    assert r.status_code == 400, r.text
    assert message in error_of(r)["message"]
    assert client.get(f"{BASE}/regions/us-east1/subnetworks/{name}").status_code == 404


def test_subnet_in_a_missing_network_or_region_is_404(client: TestClient) -> None:
    r = new_subnet(client)
    assert error_of(r)["message"] == (
        f"The resource 'projects/{PROJECT}/global/networks/net1' was not found"
    )
    r = client.post(f"{BASE}/regions/mars-north1/subnetworks", json={"name": "x"})
    assert r.status_code == 404
    assert (
        error_of(r)["message"]
        == f"The resource 'projects/{PROJECT}/regions/mars-north1' was not found"
    )


def test_network_delete_is_refused_while_used(client: TestClient) -> None:
    r = client.delete(f"{NETWORKS}/default")
    assert r.status_code == 400
    err = error_of(r)
    assert err["message"].startswith(
        f"The network resource 'projects/{PROJECT}/global/networks/default' is already being "
        f"used by 'projects/{PROJECT}/global/firewalls/"
    )
    assert err["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    assert client.get(f"{NETWORKS}/default").status_code == 200


def test_custom_subnets_block_network_delete_until_removed(client: TestClient) -> None:
    client.post(NETWORKS, json={"name": "net1", "autoCreateSubnetworks": False})
    new_subnet(client)
    r = client.delete(f"{NETWORKS}/net1")
    assert r.status_code == 400
    assert f"'projects/{PROJECT}/regions/us-east1/subnetworks/s1'" in error_of(r)["message"]
    assert client.delete(f"{BASE}/regions/us-east1/subnetworks/s1").status_code == 200
    assert client.delete(f"{NETWORKS}/net1").json()["operationType"] == "delete"
    assert client.get(f"{NETWORKS}/net1").status_code == 404
    assert not [r for r in items(client, ROUTES) if r["network"].endswith("/net1")]


def test_auto_network_delete_takes_its_subnets(client: TestClient) -> None:
    client.post(NETWORKS, json={"name": "net2", "autoCreateSubnetworks": True})
    r = client.delete(f"{BASE}/regions/us-central1/subnetworks/net2")
    assert r.status_code == 400
    assert error_of(r)["errors"][0]["reason"] == "invalidResourceUsage"
    assert client.delete(f"{NETWORKS}/net2").status_code == 200
    assert client.get(f"{BASE}/regions/us-central1/subnetworks/net2").status_code == 404
    assert not [r for r in items(client, ROUTES) if r["network"].endswith("/net2")]


def test_instances_block_subnet_and_network_delete(ctx: Context, client: TestClient) -> None:
    client.post(NETWORKS, json={"name": "net1", "autoCreateSubnetworks": False})
    new_subnet(client)
    key = instance_key(PROJECT, "us-east1-b", "vm1")
    nic = {
        "network": f"{LINK}/global/networks/net1",
        "subnetwork": f"{LINK}/regions/us-east1/subnetworks/s1",
    }
    ctx.resources.create(
        INSTANCE,
        key,
        f"projects/{PROJECT}/zones/us-east1-b",
        {
            "kind": "compute#instance",
            "name": "vm1",
            "networkInterfaces": [nic],
            "zone": f"{LINK}/zones/us-east1-b",
            "selfLink": f"{LINK}/zones/us-east1-b/instances/vm1",
        },
    )
    r = client.delete(f"{BASE}/regions/us-east1/subnetworks/s1")
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        f"The subnetwork resource 'projects/{PROJECT}/regions/us-east1/subnetworks/s1' is "
        f"already being used by '{key}'"
    )
    assert client.get(f"{BASE}/regions/us-east1/subnetworks/s1").status_code == 200


def test_firewall_on_a_deleted_network_is_404(client: TestClient) -> None:
    client.post(NETWORKS, json={"name": "net1", "autoCreateSubnetworks": False})
    client.delete(f"{NETWORKS}/net1")
    r = client.post(
        FIREWALLS,
        json={"name": "x", "network": "global/networks/net1", "allowed": [{"IPProtocol": "all"}]},
    )
    assert r.status_code == 404


def test_patch_sets_the_network_firewall_policy_enforcement_order(client: TestClient) -> None:
    client.post(NETWORKS, json={"name": "net1", "autoCreateSubnetworks": False})
    assert get(client, f"{NETWORKS}/net1")["networkFirewallPolicyEnforcementOrder"] == (
        "AFTER_CLASSIC_FIREWALL"
    )
    order = {"networkFirewallPolicyEnforcementOrder": "BEFORE_CLASSIC_FIREWALL"}
    op = client.patch(f"{NETWORKS}/net1", json=order).json()
    assert op["operationType"] == "patch" and op["status"] == "DONE"
    assert get(client, f"{NETWORKS}/net1")["networkFirewallPolicyEnforcementOrder"] == (
        "BEFORE_CLASSIC_FIREWALL"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"networkFirewallPolicyEnforcementOrder": "FIRST"},
        {"name": "net2"},
    ],
)
def test_bad_network_patches_change_nothing(client: TestClient, body: dict[str, Any]) -> None:
    client.post(NETWORKS, json={"name": "net1", "autoCreateSubnetworks": False})
    before = get(client, f"{NETWORKS}/net1")
    r = client.patch(f"{NETWORKS}/net1", json=body)
    assert r.status_code == 400
    assert error_of(r)["errors"][0]["reason"] == "invalid"
    assert get(client, f"{NETWORKS}/net1") == before
    assert client.patch(f"{NETWORKS}/nope", json={}).status_code == 404
