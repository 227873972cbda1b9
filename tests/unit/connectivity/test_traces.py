"""The configuration analysis as users read it through the API: which steps a packet goes
through, with which rule, route or Pod, and the result; for the GKE cases that matter to
intra-node visibility (same node on and off, across nodes) and the edges (Pods not running,
addresses nobody holds, the internet, unsupported endpoints, bypassed firewall, round trips)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.unit.conftest import PROJECT

from .conftest import Cluster, add_firewall, pod_uri, run_test, states, step

DENY_8080 = {
    "name": "deny-8080",
    "priority": 900,
    "sourceRanges": ["10.0.0.0/8"],
    "denied": [{"IPProtocol": "tcp", "ports": ["8080"]}],
}
NETWORK = f"projects/{PROJECT}/global/networks/default"
VPC_PATH = [
    "START_FROM_GKE_POD",
    "APPLY_EGRESS_FIREWALL_RULE",
    "APPLY_ROUTE",
    "ARRIVE_AT_INSTANCE",
    "APPLY_INGRESS_FIREWALL_RULE",
]


def pod_to_pod(
    a: dict[str, Any], b: dict[str, Any], port: int = 8080, **extra: Any
) -> dict[str, Any]:
    return {
        "source": {"ipAddress": a["status"]["podIP"]},
        "destination": {"ipAddress": b["status"]["podIP"], "port": port},
        "protocol": "TCP",
        **extra,
    }


def test_same_node_with_visibility_on_meets_the_deny_rule(
    inv_on: Cluster, client: TestClient
) -> None:
    add_firewall(client, DENY_8080)
    a, b = inv_on.pod("pod-1", 0), inv_on.pod("pod-2", 0)
    test = run_test(client, "same-node", pod_to_pod(a, b))
    details = test["reachabilityDetails"]
    assert details["result"] == "UNREACHABLE"
    assert states(test) == [*VPC_PATH, "DROP"]
    start = step(test, "START_FROM_GKE_POD")
    assert start["gkePod"] == {
        "podUri": pod_uri(inv_on, "pod-1"),
        "ipAddress": inv_on.ip(a),
        "networkUri": NETWORK,
    }
    assert step(test, "ARRIVE_AT_INSTANCE")["instance"]["displayName"] == inv_on.nodes[0]
    ingress = step(test, "APPLY_INGRESS_FIREWALL_RULE")
    assert ingress["causesDrop"] is True
    assert ingress["firewall"] == {
        "displayName": "deny-8080",
        "uri": f"projects/{PROJECT}/global/firewalls/deny-8080",
        "direction": "INGRESS",
        "action": "DENY",
        "priority": 900,
        "networkUri": NETWORK,
        "firewallRuleType": "VPC_FIREWALL_RULE",
    }
    assert step(test, "DROP")["drop"] == {
        "cause": "FIREWALL_RULE",
        "resourceUri": f"projects/{PROJECT}/global/firewalls/deny-8080",
        "sourceIp": inv_on.ip(a),
        "destinationIp": inv_on.ip(b),
    }
    assert details["traces"][0]["endpointInfo"] == {
        "sourceIp": inv_on.ip(a),
        "destinationIp": inv_on.ip(b),
        "protocol": "TCP",
        "destinationPort": 8080,
        "sourceNetworkUri": NETWORK,
        "destinationNetworkUri": NETWORK,
    }


def test_same_node_with_visibility_off_is_delivered_on_the_node(
    inv_off: Cluster, client: TestClient
) -> None:
    add_firewall(client, DENY_8080)
    a, b = inv_off.pod("pod-1", 0), inv_off.pod("pod-2", 0)
    test = run_test(client, "local", pod_to_pod(a, b))
    assert test["reachabilityDetails"]["result"] == "REACHABLE"
    assert states(test) == ["START_FROM_GKE_POD", "ARRIVE_AT_GKE_POD", "DELIVER"]
    local = step(test, "ARRIVE_AT_GKE_POD")
    assert "intra-node visibility off" in local["description"]
    assert "never reaches the VPC network" in local["description"]
    assert local["gkePod"]["podUri"] == pod_uri(inv_off, "pod-2")
    assert step(test, "DELIVER")["deliver"] == {
        "target": "GKE_POD",
        "resourceUri": pod_uri(inv_off, "pod-2"),
        "ipAddress": inv_off.ip(b),
    }
    assert "intranodeSuggestions" not in test


def test_turning_visibility_on_and_rerunning_changes_the_answer(
    inv_off: Cluster, client: TestClient
) -> None:
    add_firewall(client, DENY_8080)
    a, b = inv_off.pod("pod-1", 1), inv_off.pod("pod-2", 1)
    assert run_test(client, "toggle", pod_to_pod(a, b))["reachabilityDetails"]["result"] == (
        "REACHABLE"
    )
    inv_off.set_visibility(True)
    from .conftest import TESTS, wait_operation

    r = client.post(f"{TESTS}/toggle:rerun", json={})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["verb"] == "rerun"
    wait_operation(client, r.json())
    test = client.get(f"{TESTS}/toggle").json()
    assert test["reachabilityDetails"]["result"] == "UNREACHABLE"
    assert states(test)[-2:] == ["APPLY_INGRESS_FIREWALL_RULE", "DROP"]


def test_across_nodes_the_vpc_applies_whatever_the_setting(
    inv_off: Cluster, client: TestClient
) -> None:
    add_firewall(client, DENY_8080)
    a, b = inv_off.pod("pod-1", 0), inv_off.pod("pod-2", 1)
    test = run_test(client, "across", pod_to_pod(a, b))
    assert test["reachabilityDetails"]["result"] == "UNREACHABLE"
    assert states(test) == [*VPC_PATH, "DROP"]
    assert step(test, "ARRIVE_AT_INSTANCE")["instance"]["displayName"] == inv_off.nodes[1]
    assert step(test, "APPLY_EGRESS_FIREWALL_RULE")["firewall"]["firewallRuleType"] == (
        "IMPLIED_VPC_FIREWALL_RULE"
    )


def test_allowed_flow_shows_gkes_rule_the_pod_route_and_the_pod(
    inv_on: Cluster, client: TestClient
) -> None:
    a, b = inv_on.pod("pod-1", 0), inv_on.pod("pod-2", 0)
    test = run_test(client, "allowed", pod_to_pod(a, b))
    assert test["reachabilityDetails"]["result"] == "REACHABLE"
    assert states(test) == [*VPC_PATH, "ARRIVE_AT_GKE_POD", "DELIVER"]
    route = step(test, "APPLY_ROUTE")["route"]
    cluster = client.get(f"/v1/projects/{PROJECT}/locations/us-central1-a/clusters/inv-on").json()
    assert route["routeType"] == "SUBNET"
    assert route["nextHopType"] == "NEXT_HOP_NETWORK"
    assert route["destIpRange"] == cluster["clusterIpv4Cidr"]
    assert route["uri"] == f"projects/{PROJECT}/global/routes/{route['displayName']}"
    rule = step(test, "APPLY_INGRESS_FIREWALL_RULE")["firewall"]
    assert rule["displayName"].startswith("gke-inv-on-") and rule["displayName"].endswith("-all")
    assert rule["action"] == "ALLOW" and "causesDrop" not in step(
        test, "APPLY_INGRESS_FIREWALL_RULE"
    )
    assert rule["targetTags"] == [t for t in rule["targetTags"] if t.endswith("-node")]


def test_pods_named_by_uri_and_the_other_end_not_running(
    inv_on: Cluster, client: TestClient
) -> None:
    inv_on.pod("pod-1", 0)
    inv_on.pod("pod-2", 1, running=False)
    test = run_test(
        client,
        "by-uri",
        {
            "source": {"gkePod": pod_uri(inv_on, "pod-1")},
            "destination": {"gkePod": pod_uri(inv_on, "pod-2"), "port": 8080},
        },
    )
    assert test["reachabilityDetails"]["result"] == "UNREACHABLE"
    assert states(test)[-2:] == ["ARRIVE_AT_GKE_POD", "DROP"]
    assert step(test, "DROP")["drop"]["cause"] == "GKE_POD_NOT_RUNNING"
    assert step(test, "DROP")["drop"]["resourceUri"] == pod_uri(inv_on, "pod-2")
    # The stored test keeps what was sent; the protocol defaults to TCP.
    assert test["source"] == {"gkePod": pod_uri(inv_on, "pod-1")}
    assert test["protocol"] == "TCP"


def test_a_missing_source_pod_aborts(inv_on: Cluster, client: TestClient) -> None:
    inv_on.pod("pod-2", 0)
    test = run_test(
        client,
        "no-pod",
        {"source": {"gkePod": pod_uri(inv_on, "ghost")}, "destination": {"ipAddress": "10.0.0.9"}},
    )
    assert test["reachabilityDetails"]["result"] == "UNDETERMINED"
    assert states(test) == ["ABORT"]
    assert step(test, "ABORT")["abort"]["cause"] == "SOURCE_ENDPOINT_NOT_FOUND"


def test_a_pod_to_its_own_node_stays_on_the_node(inv_on: Cluster, client: TestClient) -> None:
    add_firewall(client, DENY_8080)
    a = inv_on.pod("pod-1", 0)
    body = {
        "source": {"ipAddress": inv_on.ip(a)},
        "destination": {"ipAddress": inv_on.node_ip(0), "port": 8080},
    }
    test = run_test(client, "own-node", body)
    assert test["reachabilityDetails"]["result"] == "REACHABLE"
    assert states(test) == ["START_FROM_GKE_POD", "ARRIVE_AT_INSTANCE", "DELIVER"]
    assert step(test, "DELIVER")["deliver"]["target"] == "INSTANCE"


def test_addresses_nobody_holds(inv_on: Cluster, client: TestClient) -> None:
    a = inv_on.pod("pod-1", 0)
    pod_range = next(
        r["ipCidrRange"]
        for r in client.get(
            f"/compute/v1/projects/{PROJECT}/zones/us-central1-a/instances/{inv_on.nodes[0]}"
        ).json()["networkInterfaces"][0]["aliasIpRanges"]
    )
    unused = pod_range.replace(".0/24", ".200")
    test = run_test(
        client,
        "unused",
        {"source": {"ipAddress": inv_on.ip(a)}, "destination": {"ipAddress": unused}},
    )
    assert step(test, "DROP")["drop"]["cause"] == "UNKNOWN_INTERNAL_ADDRESS"
    assert states(test)[-2] == "APPLY_INGRESS_FIREWALL_RULE"
    test = run_test(
        client,
        "outside",
        {"source": {"ipAddress": inv_on.ip(a)}, "destination": {"ipAddress": "192.168.7.7"}},
    )
    assert states(test)[-2:] == ["APPLY_ROUTE", "DROP"]
    assert step(test, "APPLY_ROUTE")["route"]["nextHopType"] == "NEXT_HOP_INTERNET_GATEWAY"
    assert step(test, "DROP")["drop"]["cause"] == "PRIVATE_TRAFFIC_TO_INTERNET"
    test = run_test(
        client,
        "public",
        {"source": {"ipAddress": inv_on.ip(a)}, "destination": {"ipAddress": "203.0.113.5"}},
    )
    assert step(test, "DROP")["drop"]["cause"] == "NO_EXTERNAL_ADDRESS"


def test_from_the_internet_and_from_an_unknown_private_address(
    inv_on: Cluster, client: TestClient
) -> None:
    b = inv_on.pod("pod-2", 0)
    test = run_test(
        client,
        "inet",
        {"source": {"ipAddress": "198.51.100.7"}, "destination": {"ipAddress": inv_on.ip(b)}},
    )
    assert test["reachabilityDetails"]["result"] == "UNREACHABLE"
    assert states(test) == ["START_FROM_INTERNET", "DROP"]
    assert step(test, "DROP")["drop"]["cause"] == "NO_ROUTE_FROM_INTERNET_TO_PRIVATE_IPV4_ADDRESS"
    test = run_test(
        client,
        "lost",
        {"source": {"ipAddress": "192.168.9.9"}, "destination": {"ipAddress": inv_on.ip(b)}},
    )
    assert test["reachabilityDetails"]["result"] == "UNDETERMINED"
    assert step(test, "ABORT")["abort"] == {"cause": "UNKNOWN_IP", "ipAddress": "192.168.9.9"}


def test_endpoints_intranode_has_none_of_abort_as_unsupported(
    inv_on: Cluster, client: TestClient
) -> None:
    a = inv_on.pod("pod-1", 0)
    sql = f"projects/{PROJECT}/instances/db"
    test = run_test(
        client,
        "sql",
        {"source": {"ipAddress": inv_on.ip(a)}, "destination": {"cloudSqlInstance": sql}},
    )
    assert test["reachabilityDetails"]["result"] == "UNDETERMINED"
    assert step(test, "ABORT")["abort"]["cause"] == "UNSUPPORTED"
    assert "cloudSqlInstance" in step(test, "ABORT")["description"]
    assert test["destination"] == {"cloudSqlInstance": sql}


def test_bypassing_the_firewall_skips_its_checks(inv_on: Cluster, client: TestClient) -> None:
    add_firewall(client, DENY_8080)
    a, b = inv_on.pod("pod-1", 0), inv_on.pod("pod-2", 0)
    test = run_test(client, "bypass", pod_to_pod(a, b, bypassFirewallChecks=True))
    assert test["bypassFirewallChecks"] is True
    assert test["reachabilityDetails"]["result"] == "REACHABLE"
    for state in ("APPLY_EGRESS_FIREWALL_RULE", "APPLY_INGRESS_FIREWALL_RULE"):
        assert step(test, state)["firewall"]["firewallRuleType"] == "ANALYSIS_SKIPPED"


def test_round_trip_traces_the_reply_through_connection_tracking(
    inv_on: Cluster, client: TestClient
) -> None:
    a, b = inv_on.pod("pod-1", 0), inv_on.pod("pod-2", 1)
    test = run_test(client, "round", pod_to_pod(a, b, roundTrip=True))
    back = test["returnReachabilityDetails"]
    assert back["result"] == "REACHABLE"
    trace = back["traces"][0]
    assert (
        trace["forwardTraceId"] == test["reachabilityDetails"]["traces"][0]["forwardTraceId"] == 1
    )
    assert trace["endpointInfo"]["sourceIp"] == inv_on.ip(b)
    assert trace["endpointInfo"]["destinationIp"] == inv_on.ip(a)
    assert trace["endpointInfo"]["sourcePort"] == 8080
    assert states(test, "returnReachabilityDetails") == [*VPC_PATH, "ARRIVE_AT_GKE_POD", "DELIVER"]
    for state in ("APPLY_EGRESS_FIREWALL_RULE", "APPLY_INGRESS_FIREWALL_RULE"):
        assert step(test, state, "returnReachabilityDetails")["firewall"] == {
            "direction": state.split("_")[1],
            "action": "ALLOW",
            "firewallRuleType": "TRACKING_STATE",
        }
    # No reply is traced for a packet that never arrives.
    add_firewall(client, DENY_8080)
    test = run_test(client, "round-2", pod_to_pod(a, b, roundTrip=True))
    assert test["reachabilityDetails"]["result"] == "UNREACHABLE"
    assert "returnReachabilityDetails" not in test


def test_ipv6_and_networks_outside_google_abort(inv_on: Cluster, client: TestClient) -> None:
    b = inv_on.pod("pod-2", 0)
    v6 = run_test(
        client,
        "v6",
        {"source": {"ipAddress": "2001:db8::1"}, "destination": {"ipAddress": inv_on.ip(b)}},
    )
    assert step(v6, "ABORT")["abort"] == {"cause": "UNSUPPORTED", "ipAddress": "2001:db8::1"}
    onprem = run_test(
        client,
        "onprem",
        {
            "source": {"ipAddress": "192.168.3.3", "networkType": 2},  # NON_GCP_NETWORK
            "destination": {"ipAddress": inv_on.ip(b)},
        },
    )
    assert onprem["source"]["networkType"] == "NON_GCP_NETWORK"
    assert step(onprem, "ABORT")["abort"]["cause"] == "UNSUPPORTED"
    assert "no networks outside Google Cloud" in step(onprem, "ABORT")["description"]
