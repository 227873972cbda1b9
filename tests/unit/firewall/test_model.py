"""The firewall model against the reference's tables (gcp_vpc_specs §B2-B3, §C3-C4): which
rule decides, in which order rules are met, and what each direction's verdict is."""

from __future__ import annotations

import pytest

from intranode.domain.firewall.inputs import FirewallInputs, VpcRule
from intranode.domain.firewall.model import (
    FirewallModel,
    Hit,
    Packet,
    RuleRef,
    Trace,
    evaluate,
    parse_ref,
)

from .scenarios import (
    FOLDER,
    NETWORK,
    NODE_A,
    NODE_B,
    NODE_C,
    ORG,
    OTHER_NETWORK,
    POD_RANGE,
    SUBFOLDER,
    WEB_SA,
    gke_and_default,
    inputs,
    policy,
    policy_rule,
    vpc_rule,
)

A_POD, B_POD, C_POD = "10.52.0.5", "10.52.1.5", "10.52.2.5"
TCP, UDP, ICMP, ESP, SCTP = 6, 17, 1, 50, 132


def packet(src: str, dst: str, proto: int = TCP, port: int | None = 80) -> Packet:
    """A packet between the nodes' addresses (the sending and receiving node found by IP)."""
    owner = {n.ip: n for n in (NODE_A, NODE_B, NODE_C)}
    for node in (NODE_A, NODE_B, NODE_C):
        prefix = node.alias_ranges[0].rsplit(".", 1)[0] + "."
        for ip in (src, dst):
            if ip.startswith(prefix):
                owner[ip] = node
    src_inst, dst_inst = owner.get(src), owner.get(dst)
    return Packet(
        src,
        dst,
        proto,
        port if proto in (TCP, UDP, SCTP) else None,
        src_inst.name if src_inst else None,
        dst_inst.name if dst_inst else None,
    )


def decided(firewall: FirewallInputs, p: Packet) -> tuple[bool, str]:
    """(allowed, label of the rule that decided the last direction evaluated)."""
    trace = evaluate(firewall, p)
    last = trace.ingress or trace.egress
    assert last is not None
    return trace.allowed, last.deciding.label


def labels(trace: Trace) -> list[str]:
    return [h.label for h in trace.met]


# -- implied and default rules -----------------------------------------------------------------
def test_without_rules_egress_is_allowed_and_ingress_denied_by_the_implied_rules() -> None:
    trace = evaluate(inputs(), packet(A_POD, B_POD))
    assert trace.egress is not None and trace.ingress is not None
    assert (trace.egress.instance, trace.egress.allowed) == (NODE_A.name, True)
    assert (trace.ingress.instance, trace.ingress.allowed) == (NODE_B.name, False)
    assert trace.egress.deciding == Hit(
        RuleRef("EGRESS", "implied"), "IMPLIED_VPC_FIREWALL_RULE", 65535, "ALLOW"
    )
    assert trace.ingress.deciding.rule_type == "IMPLIED_VPC_FIREWALL_RULE"
    assert trace.ingress.deciding.action == "DENY"
    assert not trace.allowed


def test_gke_rules_let_pods_talk_across_and_within_nodes() -> None:
    firewall = inputs(*gke_and_default())
    assert decided(firewall, packet(A_POD, B_POD, TCP, 8080)) == (
        True,
        "firewall gke-c1-1a2b3c4d-all",
    )
    assert decided(firewall, packet(A_POD, "10.52.0.9", UDP, 53)) == (
        True,
        "firewall gke-c1-1a2b3c4d-all",
    )
    assert decided(firewall, packet(NODE_A.ip, B_POD, TCP, 8080)) == (
        True,
        "firewall gke-c1-1a2b3c4d-vms",
    )
    # GRE is not in -all and default-allow-internal covers tcp/udp/icmp only.
    assert decided(firewall, packet(A_POD, B_POD, 47)) == (False, "implied ingress")


def test_default_network_rules_admit_ssh_from_anywhere_but_nothing_else_from_outside() -> None:
    firewall = inputs(*gke_and_default())
    assert decided(firewall, packet("203.0.113.9", B_POD, TCP, 22)) == (
        True,
        "firewall default-allow-ssh",
    )
    assert decided(firewall, packet("203.0.113.9", B_POD, TCP, 80)) == (False, "implied ingress")
    assert decided(firewall, packet("203.0.113.9", NODE_B.ip, ICMP)) == (
        True,
        "firewall default-allow-icmp",
    )


def test_the_read_only_kubelet_port_is_open_to_pods_and_nodes_only() -> None:
    firewall = inputs(*gke_and_default())
    inkubelet = (True, "firewall gke-c1-1a2b3c4d-inkubelet")
    assert decided(firewall, packet(A_POD, NODE_B.ip, TCP, 10255)) == inkubelet
    assert decided(firewall, packet(NODE_A.ip, NODE_B.ip, TCP, 10255)) == inkubelet
    assert decided(firewall, packet("10.128.0.9", NODE_B.ip, TCP, 10255)) == (
        False,
        "firewall gke-c1-1a2b3c4d-exkubelet",
    )


# -- priorities ----------------------------------------------------------------------------------
def deny_8080() -> VpcRule:
    return vpc_rule(
        900,
        name="deny-8080",
        priority=900,
        sourceRanges=[POD_RANGE],
        denied=[{"IPProtocol": "tcp", "ports": ["8080"]}],
    )


def test_a_user_deny_at_900_beats_gkes_allow_at_1000_for_its_port_only() -> None:
    firewall = inputs(*gke_and_default(), deny_8080())
    assert decided(firewall, packet(A_POD, B_POD, TCP, 8080)) == (False, "firewall deny-8080")
    assert decided(firewall, packet(A_POD, "10.52.0.9", TCP, 8080)) == (False, "firewall deny-8080")
    assert decided(firewall, packet(A_POD, B_POD, TCP, 80))[0]
    # From a node's primary IP the range does not match: -vms allows it.
    assert decided(firewall, packet(NODE_A.ip, B_POD, TCP, 8080)) == (
        True,
        "firewall gke-c1-1a2b3c4d-vms",
    )


def test_deny_wins_a_priority_tie_whatever_the_names() -> None:
    allow = vpc_rule(1, name="aaa-allow", priority=500, allowed=[{"IPProtocol": "tcp"}])
    deny = vpc_rule(2, name="zzz-deny", priority=500, denied=[{"IPProtocol": "tcp"}])
    assert decided(inputs(allow, deny), packet(A_POD, B_POD)) == (False, "firewall zzz-deny")
    assert decided(inputs(deny, allow), packet(A_POD, B_POD)) == (False, "firewall zzz-deny")


def test_equal_rules_of_one_action_report_the_first_by_name() -> None:
    b = vpc_rule(1, name="b-allow", priority=500, allowed=[{"IPProtocol": "all"}])
    a = vpc_rule(2, name="a-allow", priority=500, allowed=[{"IPProtocol": "tcp"}])
    assert decided(inputs(b, a), packet(A_POD, B_POD)) == (True, "firewall a-allow")


def test_the_lowest_number_decides() -> None:
    allow = vpc_rule(1, name="allow", priority=100, allowed=[{"IPProtocol": "tcp"}])
    deny = vpc_rule(2, name="deny", priority=200, denied=[{"IPProtocol": "all"}])
    assert decided(inputs(allow, deny), packet(A_POD, B_POD)) == (True, "firewall allow")
    assert decided(inputs(allow, deny), packet(A_POD, B_POD, UDP, 53)) == (False, "firewall deny")


def test_disabled_rules_are_as_if_they_did_not_exist() -> None:
    off = vpc_rule(1, name="off", priority=0, denied=[{"IPProtocol": "all"}], disabled=True)
    trace = evaluate(inputs(off, *gke_and_default()), packet(A_POD, B_POD))
    assert trace.allowed
    assert labels(trace) == ["implied egress", "firewall gke-c1-1a2b3c4d-all"]


# -- sources and targets ---------------------------------------------------------------------------
def test_source_tags_match_the_primary_ip_only_never_pod_addresses() -> None:
    rule = vpc_rule(1, name="from-web", sourceTags=["web"], allowed=[{"IPProtocol": "tcp"}])
    firewall = inputs(rule)
    assert decided(firewall, packet(NODE_C.ip, B_POD)) == (True, "firewall from-web")
    assert decided(firewall, packet(C_POD, B_POD)) == (False, "implied ingress")
    assert decided(firewall, packet(NODE_A.ip, B_POD)) == (False, "implied ingress")


def test_source_service_accounts_match_the_primary_ip_only() -> None:
    rule = vpc_rule(
        1, name="from-web-sa", sourceServiceAccounts=[WEB_SA], allowed=[{"IPProtocol": "all"}]
    )
    firewall = inputs(rule)
    assert decided(firewall, packet(NODE_C.ip, NODE_A.ip, ICMP)) == (True, "firewall from-web-sa")
    assert decided(firewall, packet(C_POD, NODE_A.ip, ICMP)) == (False, "implied ingress")


def test_sources_are_a_union_of_ranges_and_tags() -> None:
    rule = vpc_rule(
        1,
        name="either",
        sourceRanges=["10.52.1.0/24"],
        sourceTags=["web"],
        allowed=[{"IPProtocol": "tcp"}],
    )
    firewall = inputs(rule)
    assert decided(firewall, packet(B_POD, A_POD))[0]
    assert decided(firewall, packet(NODE_C.ip, A_POD))[0]
    assert not decided(firewall, packet(C_POD, A_POD))[0]


def test_target_tags_and_service_accounts_select_the_receiving_instance() -> None:
    by_tag = vpc_rule(
        1,
        name="web-no-80",
        priority=900,
        targetTags=["web"],
        denied=[{"IPProtocol": "tcp", "ports": ["80"]}],
    )
    by_account = vpc_rule(
        2,
        name="web-sa-no-443",
        priority=900,
        targetServiceAccounts=[WEB_SA],
        denied=[{"IPProtocol": "tcp", "ports": ["443"]}],
    )
    firewall = inputs(*gke_and_default(), by_tag, by_account)
    assert decided(firewall, packet(A_POD, C_POD, TCP, 80)) == (False, "firewall web-no-80")
    assert decided(firewall, packet(A_POD, C_POD, TCP, 443)) == (False, "firewall web-sa-no-443")
    assert decided(firewall, packet(A_POD, B_POD, TCP, 80))[0]
    assert decided(firewall, packet(A_POD, B_POD, TCP, 443))[0]


def test_an_egress_deny_on_a_tagged_node_stops_its_packets_before_ingress() -> None:
    rule = vpc_rule(
        1,
        name="web-no-egress",
        direction="EGRESS",
        targetTags=["web"],
        destinationRanges=[POD_RANGE],
        denied=[{"IPProtocol": "all"}],
    )
    firewall = inputs(*gke_and_default(), rule)
    for dst in (A_POD, "10.52.2.9"):  # another node and the same node
        trace = evaluate(firewall, packet(C_POD, dst))
        assert trace.egress is not None and trace.egress.instance == NODE_C.name
        assert trace.egress.deciding.label == "firewall web-no-egress"
        assert (trace.allowed, trace.ingress) == (False, None)
    assert evaluate(firewall, packet(A_POD, C_POD)).allowed
    assert evaluate(firewall, packet(C_POD, "203.0.113.9")).allowed  # outside the pod range


def test_destination_ranges_narrow_ingress_and_source_ranges_narrow_egress() -> None:
    ingress = vpc_rule(
        1,
        name="to-b-pods",
        sourceRanges=[POD_RANGE],
        destinationRanges=["10.52.1.0/24"],
        allowed=[{"IPProtocol": "tcp"}],
    )
    egress = vpc_rule(
        2,
        name="no-egress-from-a-pods",
        direction="EGRESS",
        sourceRanges=["10.52.0.0/24"],
        denied=[{"IPProtocol": "all"}],
    )
    firewall = inputs(ingress, egress)
    assert decided(firewall, packet(C_POD, B_POD)) == (True, "firewall to-b-pods")
    assert decided(firewall, packet(C_POD, A_POD)) == (False, "implied ingress")
    assert decided(firewall, packet(A_POD, B_POD)) == (False, "firewall no-egress-from-a-pods")
    # Node A's own IP is outside its Pod range: egress lets it go, ingress has no rule for it.
    assert decided(firewall, packet(NODE_A.ip, B_POD)) == (False, "implied ingress")


@pytest.mark.parametrize(
    ("entry", "proto", "port", "allowed"),
    [
        ({"IPProtocol": "tcp", "ports": ["80-90"]}, TCP, 79, False),
        ({"IPProtocol": "tcp", "ports": ["80-90"]}, TCP, 80, True),
        ({"IPProtocol": "tcp", "ports": ["80-90"]}, TCP, 90, True),
        ({"IPProtocol": "tcp", "ports": ["80-90"]}, TCP, 91, False),
        ({"IPProtocol": "tcp", "ports": ["80-90"]}, UDP, 85, False),
        ({"IPProtocol": "udp"}, UDP, 1, True),
        ({"IPProtocol": "sctp", "ports": ["9000"]}, SCTP, 9000, True),
        ({"IPProtocol": "icmp"}, ICMP, None, True),
        ({"IPProtocol": "icmp"}, TCP, 80, False),
        ({"IPProtocol": "esp"}, ESP, None, True),
        ({"IPProtocol": "47"}, 47, None, True),
        ({"IPProtocol": "all"}, 47, None, True),
        ({"IPProtocol": "all"}, TCP, 1, True),
    ],
)
def test_protocols_and_ports(
    entry: dict[str, object], proto: int, port: int | None, allowed: bool
) -> None:
    rule = vpc_rule(1, name="l4", allowed=[entry])
    assert decided(inputs(rule), packet(A_POD, B_POD, proto, port))[0] is allowed


def test_ipv6_ranges_never_match_this_ipv4_network() -> None:
    rule = vpc_rule(1, name="v6", sourceRanges=["::/0"], allowed=[{"IPProtocol": "all"}])
    assert decided(inputs(rule), packet(A_POD, B_POD)) == (False, "implied ingress")


def test_rules_of_other_networks_do_not_apply() -> None:
    rule = vpc_rule(
        1, name="elsewhere", network="global/networks/other", allowed=[{"IPProtocol": "all"}]
    )
    assert decided(inputs(rule), packet(A_POD, B_POD)) == (False, "implied ingress")


# -- hierarchical and network policies --------------------------------------------------------
def tcp_8080(**match: object) -> dict[str, object]:
    return {"layer4Configs": [{"ipProtocol": "tcp", "ports": ["8080"]}], **match}


def test_an_organization_allow_overrides_a_vpc_deny_and_ends_evaluation() -> None:
    org = policy("1", ORG, policy_rule(1000, "allow", match=tcp_8080(srcIpRanges=[POD_RANGE])))
    trace = evaluate(
        inputs(*gke_and_default(), deny_8080(), policies=(org,)), packet(A_POD, B_POD, TCP, 8080)
    )
    assert trace.allowed
    assert trace.ingress is not None and labels(trace)[-1] == "policy pol-1 priority 1000"
    assert trace.ingress.deciding.rule_type == "HIERARCHICAL_FIREWALL_POLICY_RULE"


def test_an_organization_deny_overrides_a_vpc_allow() -> None:
    org = policy("1", ORG, policy_rule(1000, "deny", match=tcp_8080()))
    firewall = inputs(*gke_and_default(), policies=(org,))
    assert decided(firewall, packet(A_POD, B_POD, TCP, 8080)) == (
        False,
        "policy pol-1 priority 1000",
    )
    assert decided(firewall, packet(A_POD, B_POD, TCP, 80))[0]


def test_goto_next_at_the_organization_then_a_folder_deny() -> None:
    org = policy(
        "1", ORG, policy_rule(1000, "goto_next", match={"layer4Configs": [{"ipProtocol": "tcp"}]})
    )
    folder = policy("2", FOLDER, policy_rule(500, "deny", match=tcp_8080()))
    firewall = inputs(*gke_and_default(), policies=(folder, org))
    denied = evaluate(firewall, packet(A_POD, B_POD, TCP, 8080))
    assert not denied.allowed
    assert labels(denied) == [
        "policy pol-1 priority 2147483646",  # egress: both policies fall to their predefined rule
        "policy pol-2 priority 2147483646",
        "implied egress",
        "policy pol-1 priority 1000",
        "policy pol-2 priority 500",
    ]
    allowed = evaluate(firewall, packet(A_POD, B_POD, TCP, 80))
    assert allowed.ingress is not None
    assert [h.label for h in allowed.ingress.met] == [
        "policy pol-1 priority 1000",
        "policy pol-2 priority 2147483647",
        "firewall gke-c1-1a2b3c4d-all",
    ]
    assert [h.action for h in allowed.ingress.met] == ["GOTO_NEXT", "GOTO_NEXT", "ALLOW"]


def test_folders_are_met_top_down_whatever_the_input_order() -> None:
    top = policy("2", FOLDER, policy_rule(1000, "allow", match=tcp_8080()))
    below = policy("3", SUBFOLDER, policy_rule(1, "deny", match=tcp_8080()))
    firewall = inputs(policies=(below, top))
    assert decided(firewall, packet(A_POD, B_POD, TCP, 8080)) == (
        True,
        "policy pol-2 priority 1000",
    )


def test_policy_targets_select_by_network_and_service_account() -> None:
    other = policy(
        "1",
        ORG,
        policy_rule(
            10, "deny", targetResources=[f"https://www.googleapis.com/compute/v1/{OTHER_NETWORK}"]
        ),
    )
    mine = policy(
        "2",
        FOLDER,
        policy_rule(10, "deny", targetResources=[NETWORK], targetServiceAccounts=[WEB_SA]),
    )
    firewall = inputs(*gke_and_default(), policies=(other, mine))
    assert decided(firewall, packet(A_POD, B_POD))[0]
    assert decided(firewall, packet(A_POD, C_POD)) == (False, "policy pol-2 priority 10")


def test_policies_not_associated_with_the_ancestry_or_network_do_not_apply() -> None:
    stray = policy("9", "folders/999", policy_rule(1, "deny"))
    other_net = policy("8", OTHER_NETWORK, policy_rule(1, "deny"), hierarchical=False)
    firewall = inputs(*gke_and_default(), policies=(stray, other_net))
    assert decided(firewall, packet(A_POD, B_POD))[0]


def test_disabled_policy_rules_are_skipped() -> None:
    org = policy("1", ORG, policy_rule(1, "deny", disabled=True))
    assert decided(inputs(*gke_and_default(), policies=(org,)), packet(A_POD, B_POD))[0]


def test_the_enforcement_order_puts_the_network_policy_after_or_before_vpc_rules() -> None:
    vpc_allow = vpc_rule(
        1, name="allow-8080", priority=100, allowed=[{"IPProtocol": "tcp", "ports": ["8080"]}]
    )
    netpol = policy("7", NETWORK, policy_rule(1, "deny", match=tcp_8080()), hierarchical=False)
    p = packet(A_POD, B_POD, TCP, 8080)
    after = inputs(vpc_allow, policies=(netpol,))
    before = inputs(vpc_allow, policies=(netpol,), order="BEFORE_CLASSIC_FIREWALL")
    assert decided(after, p) == (True, "firewall allow-8080")
    assert decided(before, p) == (False, "policy pol-7 priority 1")
    trace = evaluate(before, p)
    assert trace.ingress is not None
    assert trace.ingress.deciding.rule_type == "NETWORK_FIREWALL_POLICY_RULE"
    # With no VPC rule matching, the network policy decides in either order.
    assert decided(inputs(policies=(netpol,)), p) == (False, "policy pol-7 priority 1")


def test_two_policies_on_one_target_are_refused() -> None:
    one, two = policy("1", ORG, policy_rule(1, "deny")), policy("2", ORG, policy_rule(1, "allow"))
    with pytest.raises(ValueError, match="organizations/100 has more than one firewall policy"):
        FirewallModel(inputs(policies=(one, two)))


# -- the API --------------------------------------------------------------------------------------
def test_unknown_instances_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown instance 'nope'"):
        evaluate(inputs(), Packet(A_POD, B_POD, TCP, 80, "nope", None))


def test_a_packet_from_outside_meets_only_ingress_and_one_to_outside_only_egress() -> None:
    firewall = inputs(*gke_and_default())
    inbound = evaluate(firewall, packet("203.0.113.9", B_POD, TCP, 22))
    assert inbound.egress is None and inbound.ingress is not None
    outbound = evaluate(firewall, packet(A_POD, "203.0.113.9", TCP, 443))
    assert outbound.ingress is None and outbound.egress is not None and outbound.allowed


def test_locate_finds_the_instance_of_an_address() -> None:
    model = FirewallModel(inputs())
    assert model.locate("10.52.1.77") == NODE_B
    assert model.locate(NODE_C.ip) == NODE_C
    assert model.locate("10.52.9.1") is None


def test_rule_keys_name_rules_and_parse_back() -> None:
    refs = [
        RuleRef("INGRESS", "fw", "1234567890123456789"),
        RuleRef("EGRESS", "fp", "98765", 2147483647),
        RuleRef("INGRESS", "implied"),
    ]
    assert [r.key for r in refs] == [
        "I:fw:1234567890123456789",
        "E:fp:98765:2147483647",
        "I:implied",
    ]
    assert [parse_ref(r.key) for r in refs] == refs
    for bad in ("X:fw:1", "I:fw:", "I:fp:1:x", "tracked", "I:implied:1"):
        with pytest.raises(ValueError, match="not a firewall rule reference"):
            parse_ref(bad)
