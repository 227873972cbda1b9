"""What to change: the rule that blocks a flow and the one rule that would let only that flow
through, for VPC rules, the implied rule, hierarchical and network policy rules; each
suggested rule checked against the model, and once created through the real Compute API."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from intranode.domain.connectivity.advice import blocking, suggestions, with_suggestion
from intranode.domain.connectivity.analysis import analyze
from intranode.domain.firewall import FirewallModel, Packet
from intranode.domain.firewall.inputs import PolicyRule
from intranode.domain.firewalls import ProtocolMatch
from tests.unit.compute.helpers import FIREWALLS

from . import world as w
from .conftest import TESTS, Cluster, add_firewall, run_test, wait_operation

A = w.node("node-a", "10.128.0.2", "10.0.0.0/24")
B = w.node("node-b", "10.128.0.3", "10.0.1.0/24")
PACKET = Packet("10.0.0.5", "10.0.1.6", 6, 8080)
ALLOW_PODS = {
    "name": "allow-pods",
    "priority": 1000,
    "sourceRanges": ["10.0.0.0/14"],
    "allowed": [{"IPProtocol": "all"}],
}
DENY = {
    "name": "deny-8080",
    "priority": 900,
    "sourceRanges": ["10.0.0.0/8"],
    "denied": [{"IPProtocol": "tcp", "ports": ["8080"]}],
}


def passes(net: w.Network, packet: Packet = PACKET) -> bool:
    return (
        FirewallModel(net.firewall)
        .evaluate(replace(packet, src_instance="node-a", dst_instance="node-b"))
        .allowed
    )


def apply_all(net: w.Network) -> w.Network:
    inputs = net.firewall
    for s in suggestions(net, PACKET, w.PROJECT, sender="node-a", receiver="node-b"):
        inputs = with_suggestion(inputs, s)
    return w.Network(net.key, inputs, net.routes, net.subnet_ranges)


def test_a_vpc_deny_is_overtaken_one_priority_earlier() -> None:
    net = w.network([A, B], [ALLOW_PODS, DENY])
    [s] = suggestions(net, PACKET, w.PROJECT, sender="node-a", receiver="node-b")
    assert (s.direction, s.instance, s.kind) == ("INGRESS", "node-b", "firewall")
    assert s.blocking.display_name == "deny-8080" and s.blocking.priority == 900
    assert s.rule == {
        "name": "allow-tcp-8080-10-0-0-5-to-10-0-1-6",
        "network": "global/networks/default",
        "direction": "INGRESS",
        "priority": 899,
        "allowed": [{"IPProtocol": "tcp", "ports": ["8080"]}],
        "sourceRanges": ["10.0.0.5/32"],
        "destinationRanges": ["10.0.1.6/32"],
        "description": "Allows only TCP port 8080 from 10.0.0.5 to 10.0.1.6 "
        "(suggested by intranode).",
    }
    assert s.gcloud == (
        "gcloud compute firewall-rules create allow-tcp-8080-10-0-0-5-to-10-0-1-6 "
        "--network=default --direction=INGRESS --priority=899 --action=ALLOW --rules=tcp:8080 "
        "--source-ranges=10.0.0.5/32 --destination-ranges=10.0.1.6/32"
    )
    fixed = apply_all(net)
    assert not passes(net) and passes(fixed)
    # Only this flow: another source, another destination still meet the deny.
    for other in (replace(PACKET, src="10.0.0.7"), replace(PACKET, dst="10.0.1.7")):
        assert not passes(fixed, other)


def test_the_implied_deny_needs_a_rule_at_the_default_priority() -> None:
    net = w.network([A, B])
    [s] = suggestions(net, PACKET, w.PROJECT, sender="node-a", receiver="node-b")
    assert s.blocking.firewall_rule_type == "IMPLIED_VPC_FIREWALL_RULE"
    assert s.rule["priority"] == 1000
    assert passes(apply_all(net))


def test_egress_and_ingress_both_blocked_get_one_suggestion_each() -> None:
    egress = {
        "name": "no-egress",
        "direction": "EGRESS",
        "priority": 500,
        "destinationRanges": ["10.0.1.0/24"],
        "denied": [{"IPProtocol": "all"}],
    }
    net = w.network([A, B], [egress, DENY])
    found = blocking(net, PACKET, sender="node-a", receiver="node-b")
    assert [(v.direction, v.deciding.name) for v in found] == [
        ("EGRESS", "no-egress"),
        ("INGRESS", "deny-8080"),
    ]
    [out, into] = suggestions(net, PACKET, w.PROJECT, sender="node-a", receiver="node-b")
    assert (out.rule["direction"], out.rule["priority"]) == ("EGRESS", 499)
    assert (into.rule["direction"], into.rule["priority"]) == ("INGRESS", 899)
    assert passes(apply_all(net))


def test_a_deny_at_priority_zero_cannot_be_overtaken_by_a_vpc_rule() -> None:
    net = w.network([A, B], [{**DENY, "priority": 0}])
    [s] = suggestions(net, PACKET, w.PROJECT, sender="node-a", receiver="node-b")
    assert (s.kind, s.rule, s.gcloud) == ("none", {}, "")
    assert "priority 0" in s.note and "deny-8080" in s.note


def test_hierarchical_policy_deny_gets_a_rule_in_that_policy_at_a_free_priority() -> None:
    deny = PolicyRule(
        1000, "INGRESS", "deny", (ProtocolMatch(6, ((8080, 8080),)),), src_ranges=("10.0.0.0/8",)
    )
    taken = PolicyRule(999, "INGRESS", "deny", (ProtocolMatch(17),), src_ranges=("192.168.0.0/16",))
    org = w.policy("111", "org-pol", [deny, taken])
    net = w.network([A, B], [ALLOW_PODS], [org])
    [s] = suggestions(net, PACKET, w.PROJECT, sender="node-a", receiver="node-b")
    assert s.kind == "hierarchical-policy-rule"
    assert s.blocking.firewall_rule_type == "HIERARCHICAL_FIREWALL_POLICY_RULE"
    assert s.blocking.policy_uri == "locations/global/firewallPolicies/111"
    assert s.rule["priority"] == 998  # 999 is taken
    assert s.rule["match"] == {
        "srcIpRanges": ["10.0.0.5/32"],
        "destIpRanges": ["10.0.1.6/32"],
        "layer4Configs": [{"ipProtocol": "tcp", "ports": ["8080"]}],
    }
    assert s.gcloud.startswith(
        "gcloud compute firewall-policies rules create 998 --firewall-policy=111 --action=allow "
        "--direction=INGRESS"
    )
    assert not passes(net) and passes(apply_all(net))


def test_network_policy_deny_before_the_classic_rules() -> None:
    deny = PolicyRule(10, "INGRESS", "deny", src_ranges=("10.0.0.0/8",))
    pol = w.policy("222", "net-pol", [deny], target=f"projects/{w.PROJECT}/global/networks/default")
    net = w.network([A, B], [ALLOW_PODS], [pol], order="BEFORE_CLASSIC_FIREWALL")
    [s] = suggestions(net, PACKET, w.PROJECT, sender="node-a", receiver="node-b")
    assert s.kind == "network-policy-rule" and s.rule["priority"] == 9
    assert s.gcloud.startswith(
        "gcloud compute network-firewall-policies rules create 9 --firewall-policy=net-pol "
        "--global-firewall-policy"
    )
    assert passes(apply_all(net))


def test_policy_rules_met_on_the_way_are_steps_of_the_trace() -> None:
    goto = PolicyRule(500, "INGRESS", "goto_next", src_ranges=("10.0.0.0/8",), rule_name="to-vpc")
    net = w.network([A, B], [DENY], [w.policy("111", "org-pol", [goto])])
    c = w.cluster()
    pods = [w.pod("pod-1", "10.0.0.5", A, c), w.pod("pod-2", "10.0.1.6", B, c)]
    analysis = analyze(w.world([net], [A, B], pods), w.tcp("10.0.0.5", "10.0.1.6"))
    assert analysis.result == "UNREACHABLE"
    ingress = [s for s in analysis.traces[0].steps if s.state == "APPLY_INGRESS_FIREWALL_RULE"]
    assert [s.info.to_json() for s in ingress if s.info is not None] == [
        {
            "displayName": "to-vpc",
            "direction": "INGRESS",
            "action": "GOTO_NEXT",
            "priority": 500,
            "policy": "org-pol",
            "policyUri": "locations/global/firewallPolicies/111",
            "firewallRuleType": "HIERARCHICAL_FIREWALL_POLICY_RULE",
        },
        {
            "displayName": "deny-8080",
            "uri": f"projects/{w.PROJECT}/global/firewalls/deny-8080",
            "direction": "INGRESS",
            "action": "DENY",
            "priority": 900,
            "networkUri": f"projects/{w.PROJECT}/global/networks/default",
            "firewallRuleType": "VPC_FIREWALL_RULE",
        },
    ]
    assert [s.causes_drop for s in ingress] == [False, True]


def test_an_address_in_two_networks_gives_a_trace_each_and_an_ambiguous_result() -> None:
    a2 = w.node("node-a2", "10.128.0.2", "10.0.0.0/24", network="other")
    b2 = w.node("node-b2", "10.128.0.3", "10.0.1.0/24", network="other")
    c1, c2 = w.cluster(), w.cluster("other", name="c2")
    pods = [
        w.pod("pod-1", "10.0.0.5", A, c1),
        w.pod("pod-2", "10.0.1.6", B, c1),
        w.pod("pod-1", "10.0.0.5", a2, c2),
        w.pod("pod-2", "10.0.1.6", b2, c2),
    ]
    blocked = w.network([A, B], [DENY])
    open_ = w.network([a2, b2], [ALLOW_PODS], name="other")
    world = w.world([blocked, open_], [A, B, a2, b2], pods)
    analysis = analyze(world, w.tcp("10.0.0.5", "10.0.1.6"))
    assert analysis.result == "AMBIGUOUS"
    assert [t.final for t in analysis.traces] == ["DROP", "DELIVER"]
    assert [t.forward_trace_id for t in analysis.traces] == [1, 2]
    named = analyze(world, w.tcp("10.0.0.5", "10.0.1.6", network=open_.key))
    assert named.result == "REACHABLE" and len(named.traces) == 1


def test_the_suggested_rule_created_through_compute_makes_the_test_pass(
    inv_on: Cluster, client: TestClient
) -> None:
    add_firewall(client, DENY)
    a, b = inv_on.pod("pod-1", 0), inv_on.pod("pod-2", 0)
    body = {
        "source": {"ipAddress": inv_on.ip(a)},
        "destination": {"ipAddress": inv_on.ip(b), "port": 8080},
    }
    test = run_test(client, "fixme", body)
    [s] = test["intranodeSuggestions"]
    assert s["blockingRule"]["displayName"] == "deny-8080"
    assert s["change"] == "firewall" and s["instance"] == inv_on.nodes[0]
    r = client.post(FIREWALLS, json=s["allowRule"])
    assert r.status_code == 200, r.text
    r = client.post(f"{TESTS}/fixme:rerun", json={})
    wait_operation(client, r.json())
    test = client.get(f"{TESTS}/fixme").json()
    assert test["reachabilityDetails"]["result"] == "REACHABLE"
    assert "intranodeSuggestions" not in test
    ingress = [
        s
        for s in test["reachabilityDetails"]["traces"][0]["steps"]
        if s["state"] == "APPLY_INGRESS_FIREWALL_RULE"
    ]
    assert ingress[-1]["firewall"]["displayName"] == s["allowRule"]["name"]
