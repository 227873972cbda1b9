"""Firewall Rules Logging entries as Google writes them (gcp_vpc_specs §B6, §C6): exact entries
for an allowed and a denied connection, what metadata modes leave out, which packets make no
entry (logging off, implied rules, VPC rules and ICMP, a rule gone), the VM an entry is
written for, and one entry per connection (allowed) or per 5 seconds (denied)."""

from __future__ import annotations

from typing import Any

from intranode.domain.firewall.inputs import Direction, FirewallInputs, Instance, VpcRule
from intranode.domain.firewall.logging import (
    Deduplicator,
    LoggedPacket,
    RuleBook,
    build_entries,
)
from intranode.domain.flowlogs.inventory import (
    InstanceInfo,
    Inventory,
    InventoryInput,
    SubnetInfo,
)
from intranode.domain.flowlogs.observations import FiveTuple

from .scenarios import (
    FOLDER,
    NETWORK,
    NODE_A,
    NODE_B,
    ORG,
    PROJECT,
    TAG,
    inputs,
    policy,
    policy_rule,
    vpc_rule,
)

A_POD, B_POD = "10.52.0.5", "10.52.1.7"
OUTSIDE = "203.0.113.9"
T0 = 1795000000.25  # 2026-11-18T11:06:40.25Z
SUBNET = SubnetInfo(
    key=f"projects/{PROJECT}/regions/us-central1/subnetworks/default",
    id="6153790126547066372",
    name="default",
    project=PROJECT,
    region="us-central1",
    network="default",
)


def node(inst: Instance, zone: str = "us-central1-a") -> InstanceInfo:
    return InstanceInfo(
        key=f"projects/{PROJECT}/zones/{zone}/instances/{inst.name}",
        name=inst.name,
        project=PROJECT,
        zone=zone,
        network="default",
        subnet_key=SUBNET.key,
        ip=inst.ip,
        alias_ranges=inst.alias_ranges,
        instance_group="gke-c1-default-pool-1a2b3c4d-grp",
    )


INVENTORY = Inventory(InventoryInput([SUBNET], [node(NODE_A), node(NODE_B, "us-central1-b")]))

ALLOW_WEB = vpc_rule(
    1001,
    name="allow-web",
    sourceRanges=["10.52.0.0/14"],
    targetTags=[TAG],
    allowed=[{"IPProtocol": "tcp", "ports": ["8080", "8000-8010"]}, {"IPProtocol": "udp"}],
    logConfig={"enable": True},
)
DENY_SMTP = vpc_rule(
    1002,
    name="deny-smtp",
    direction="EGRESS",
    priority=10,
    destinationRanges=["203.0.113.0/24"],
    denied=[{"IPProtocol": "tcp", "ports": ["25"]}, {"IPProtocol": "icmp"}],
    logConfig={"enable": True, "metadata": "EXCLUDE_ALL_METADATA"},
)
DENY_QUIET = vpc_rule(
    1003, name="deny-quiet", sourceRanges=["10.52.0.0/24"], denied=[{"IPProtocol": "all"}]
)
DENY_ALL_LOGGED = vpc_rule(
    1004,
    name="deny-all-logged",
    priority=5,
    sourceRanges=["10.52.2.0/24"],
    denied=[{"IPProtocol": "all"}],
    logConfig={"enable": True},
)

NODE_A_DETAILS = {
    "project_id": PROJECT,
    "region": "us-central1",
    "zone": "us-central1-a",
    "vm_name": NODE_A.name,
    "managed_instance_group": {
        "name": "gke-c1-default-pool-1a2b3c4d-grp",
        "zone": "us-central1-a",
    },
}
NODE_B_DETAILS = {
    "project_id": PROJECT,
    "region": "us-central1",
    "zone": "us-central1-b",
    "vm_name": NODE_B.name,
    "managed_instance_group": {
        "name": "gke-c1-default-pool-1a2b3c4d-grp",
        "zone": "us-central1-b",
    },
}
VPC = {
    "project_id": PROJECT,
    "vpc_name": "default",
    "subnetwork_name": "default",
    "subnetwork_region": "us-central1",
}
LOG_NAME = f"projects/{PROJECT}/logs/compute.googleapis.com%2Ffirewall"


def resource(zone: str) -> dict[str, Any]:
    return {
        "type": "gce_subnetwork",
        "labels": {
            "project_id": PROJECT,
            "subnetwork_id": "6153790126547066372",
            "subnetwork_name": "default",
            "location": zone,
        },
    }


def tcp(src: str, dst: str, dport: int = 8080, sport: int = 40000) -> FiveTuple:
    return FiveTuple(6, src, dst, sport, dport)


def allowed(
    key: str, five: FiveTuple, t: float = T0, direction: Direction = "INGRESS"
) -> LoggedPacket:
    return LoggedPacket(t, five, 60, key, direction)


def denied(
    key: str, five: FiveTuple, t: float = T0, direction: Direction = "INGRESS"
) -> LoggedPacket:
    return LoggedPacket(t, five, 60, key, direction, "DENIED")


def entries(
    firewall: FirewallInputs, *packets: LoggedPacket, dedup: Deduplicator | None = None
) -> list[dict[str, Any]]:
    return build_entries(packets, RuleBook(firewall), INVENTORY, dedup)


def rules(*vpc: VpcRule) -> FirewallInputs:
    return inputs(*vpc)


# -- exact entries ------------------------------------------------------------------------------
def test_an_allowed_connection_is_logged_for_the_destination_vm() -> None:
    got = entries(rules(ALLOW_WEB), allowed("I:fw:1001", tcp(A_POD, B_POD)))
    assert got == [
        {
            "logName": LOG_NAME,
            "resource": resource("us-central1-b"),
            "timestamp": "2026-11-18T11:06:40.250000000Z",
            "jsonPayload": {
                "connection": {
                    "src_ip": A_POD,
                    "src_port": 40000,
                    "dest_ip": B_POD,
                    "dest_port": 8080,
                    "protocol": 6,
                },
                "disposition": "ALLOWED",
                "rule_details": {
                    "reference": "network:default/firewall:allow-web",
                    "priority": 1000,
                    "action": "ALLOW",
                    "direction": "INGRESS",
                    "ip_port_info": [
                        {"ip_protocol": "TCP", "port_range": ["8080", "8000-8010"]},
                        {"ip_protocol": "UDP"},
                    ],
                    "source_range": ["10.52.0.0/14"],
                    "target_tag": [TAG],
                },
                "instance": NODE_B_DETAILS,
                "vpc": VPC,
                "remote_instance": NODE_A_DETAILS,
                "remote_vpc": VPC,
            },
        }
    ]


def test_an_egress_deny_without_metadata_is_logged_for_the_source_vm() -> None:
    # EXCLUDE_ALL_METADATA keeps the base fields only; the remote end is outside the VPC.
    packet = denied("E:fw:1002", tcp(A_POD, OUTSIDE, 25), direction="EGRESS")
    assert entries(rules(DENY_SMTP), packet) == [
        {
            "logName": LOG_NAME,
            "resource": resource("us-central1-a"),
            "timestamp": "2026-11-18T11:06:40.250000000Z",
            "jsonPayload": {
                "connection": {
                    "src_ip": A_POD,
                    "src_port": 40000,
                    "dest_ip": OUTSIDE,
                    "dest_port": 25,
                    "protocol": 6,
                },
                "disposition": "DENIED",
                "rule_details": {
                    "reference": "network:default/firewall:deny-smtp",
                    "priority": 10,
                    "action": "DENY",
                    "direction": "EGRESS",
                    "ip_port_info": [
                        {"ip_protocol": "TCP", "port_range": ["25"]},
                        {"ip_protocol": "ICMP"},
                    ],
                },
            },
        }
    ]


def test_a_remote_end_outside_the_vpc_is_left_out_not_null() -> None:
    logged = vpc_rule(
        1005,
        name="allow-outside",
        sourceRanges=["0.0.0.0/0"],
        allowed=[{"IPProtocol": "tcp"}],
        logConfig={"enable": True, "metadata": "INCLUDE_ALL_METADATA"},
    )
    [entry] = entries(rules(logged), allowed("I:fw:1005", tcp(OUTSIDE, B_POD, 443)))
    payload = entry["jsonPayload"]
    assert list(payload) == ["connection", "disposition", "rule_details", "instance", "vpc"]
    assert payload["instance"] == NODE_B_DETAILS
    assert payload["rule_details"]["ip_port_info"] == [{"ip_protocol": "TCP"}]
    assert payload["rule_details"]["source_range"] == ["0.0.0.0/0"]


def test_policy_rules_name_their_policy_and_carry_no_tags() -> None:
    org = policy(
        "400",
        ORG,
        policy_rule(
            100,
            "deny",
            match={"srcIpRanges": ["10.52.0.0/24"], "layer4Configs": [{"ipProtocol": "icmp"}]},
            enableLogging=True,
        ),
    )
    net = policy(
        "500",
        NETWORK,
        policy_rule(
            200,
            "allow",
            match={"srcIpRanges": ["10.52.0.0/24"], "layer4Configs": [{"ipProtocol": "all"}]},
            enableLogging=True,
            targetServiceAccounts=["x@y"],
        ),
        hierarchical=False,
    )
    firewall = inputs(policies=(org, net))
    icmp = FiveTuple(1, A_POD, B_POD)
    got = entries(
        firewall, denied("I:fp:400:100", icmp), allowed("I:fp:500:200", FiveTuple(47, A_POD, B_POD))
    )
    assert [e["jsonPayload"]["connection"] for e in got] == [
        {"src_ip": A_POD, "dest_ip": B_POD, "protocol": 1},  # policies log ICMP, no ports
        {"src_ip": A_POD, "dest_ip": B_POD, "protocol": 47},
    ]
    assert [e["jsonPayload"]["rule_details"] for e in got] == [
        {
            "reference": f"{ORG}/firewallPolicy:400",
            "priority": 100,
            "action": "DENY",
            "direction": "INGRESS",
            "ip_port_info": [{"ip_protocol": "ICMP"}],
            "source_range": ["10.52.0.0/24"],
        },
        {
            "reference": "network:default/firewallPolicy:pol-500",
            "priority": 200,
            "action": "ALLOW",
            "direction": "INGRESS",
            "ip_port_info": [{"ip_protocol": "ALL"}],
            "source_range": ["10.52.0.0/24"],
        },
    ]
    assert got[1]["jsonPayload"]["instance"] == NODE_B_DETAILS


def test_a_policy_on_a_folder_names_the_folder() -> None:
    folder = policy(
        "401",
        FOLDER,
        policy_rule(
            7, "deny", "EGRESS", match={"destIpRanges": ["203.0.113.0/24"]}, enableLogging=True
        ),
    )
    [entry] = entries(
        inputs(policies=(folder,)),
        denied("E:fp:401:7", tcp(A_POD, OUTSIDE, 443), direction="EGRESS"),
    )
    assert entry["jsonPayload"]["rule_details"] == {
        "reference": f"{FOLDER}/firewallPolicy:401",
        "priority": 7,
        "action": "DENY",
        "direction": "EGRESS",
        "ip_port_info": [{"ip_protocol": "ALL"}],
        "destination_range": ["203.0.113.0/24"],
    }
    assert entry["jsonPayload"]["instance"] == NODE_A_DETAILS


# -- which packets make no entry ----------------------------------------------------------------
def test_rules_with_logging_off_and_implied_rules_write_nothing() -> None:
    firewall = rules(ALLOW_WEB, DENY_QUIET)
    quiet = denied("I:fw:1003", tcp(A_POD, B_POD, 22))
    implied_in = denied("I:implied", tcp(OUTSIDE, B_POD, 22))
    implied_out = allowed("E:implied", tcp(A_POD, OUTSIDE, 22), direction="EGRESS")
    assert entries(firewall, quiet, implied_in, implied_out) == []
    assert RuleBook(firewall).get("I:fw:1003") is not None  # known, but it does not log
    assert RuleBook(firewall).get("I:implied") is None


def test_vpc_rules_log_tcp_and_udp_only() -> None:
    firewall = rules(DENY_ALL_LOGGED)
    c_pod = "10.52.2.5"
    packets = [
        denied("I:fw:1004", FiveTuple(1, c_pod, B_POD)),
        denied("I:fw:1004", FiveTuple(50, c_pod, B_POD)),
        denied("I:fw:1004", FiveTuple(17, c_pod, B_POD, 5000, 53)),
    ]
    got = entries(firewall, *packets)
    assert [e["jsonPayload"]["connection"]["protocol"] for e in got] == [17]


def test_a_rule_gone_or_turned_around_writes_nothing() -> None:
    firewall = rules(ALLOW_WEB)
    assert entries(firewall, allowed("I:fw:9999", tcp(A_POD, B_POD))) == []
    # A deny reported under a rule that now allows (it was changed since) is not told as
    # the allow rule's.
    assert entries(firewall, denied("I:fw:1001", tcp(A_POD, B_POD))) == []
    assert entries(firewall, allowed("not a key", tcp(A_POD, B_POD))) == []


def test_a_vm_unknown_to_the_inventory_gets_no_entry() -> None:
    # 10.52.9.9 is in no node's range: no VM the rule applied to, so no subnet to log under.
    assert entries(rules(ALLOW_WEB), allowed("I:fw:1001", tcp(A_POD, "10.52.9.9"))) == []


def test_a_same_node_connection_is_logged_at_both_ends_of_the_one_vm() -> None:
    egress = vpc_rule(
        1006,
        name="log-egress",
        direction="EGRESS",
        destinationRanges=["10.52.0.0/24"],
        allowed=[{"IPProtocol": "tcp"}],
        logConfig={"enable": True},
    )
    five = tcp(A_POD, "10.52.0.9")
    got = entries(
        rules(egress, ALLOW_WEB),
        allowed("E:fw:1006", five, direction="EGRESS"),
        allowed("I:fw:1001", five),
    )
    assert [e["jsonPayload"]["rule_details"]["direction"] for e in got] == ["EGRESS", "INGRESS"]
    for e in got:
        assert e["jsonPayload"]["instance"] == NODE_A_DETAILS
        assert e["jsonPayload"]["remote_instance"] == NODE_A_DETAILS


# -- one entry per connection ---------------------------------------------------------------------
def test_allowed_connections_make_one_entry_per_connection() -> None:
    firewall = rules(ALLOW_WEB)
    dedup = Deduplicator()
    five = tcp(A_POD, B_POD)
    # SYN sent again at 1, 3, 7, 15, 31, 63 s: one connection; quiet for 60 s, then a new one.
    times = [T0 + s for s in (0, 1, 3, 7, 15, 31, 63)] + [T0 + 123]
    got = entries(firewall, *[allowed("I:fw:1001", five, t) for t in times], dedup=dedup)
    assert [e["timestamp"] for e in got] == [
        "2026-11-18T11:06:40.250000000Z",
        "2026-11-18T11:08:43.250000000Z",
    ]
    other = tcp(A_POD, B_POD, sport=40001)
    assert len(entries(firewall, allowed("I:fw:1001", other, T0 + 1), dedup=dedup)) == 1


def test_denied_packets_are_logged_once_per_five_seconds_per_tuple() -> None:
    firewall = rules(DENY_ALL_LOGGED)
    dedup = Deduplicator()
    five = tcp("10.52.2.5", B_POD, 22)
    times = [T0 + s for s in (0, 1, 4.9, 5.0, 6, 10.5)]
    got = entries(firewall, *[denied("I:fw:1004", five, t) for t in times], dedup=dedup)
    assert [e["timestamp"] for e in got] == [
        "2026-11-18T11:06:40.250000000Z",
        "2026-11-18T11:06:45.250000000Z",
        "2026-11-18T11:06:50.750000000Z",
    ]
    # Across calls too, until the window has passed.
    assert entries(firewall, denied("I:fw:1004", five, T0 + 12), dedup=dedup) == []
    dedup.expire(T0 + 15.5)
    assert len(dedup) == 0
    assert len(entries(firewall, denied("I:fw:1004", five, T0 + 15.6), dedup=dedup)) == 1


def test_expiry_keeps_what_still_holds_packets_back() -> None:
    dedup = Deduplicator()
    five = tcp(A_POD, B_POD)
    assert dedup.admit(allowed("I:fw:1001", five, T0))
    assert dedup.admit(denied("I:fw:1004", five, T0))
    dedup.expire(T0 + 4)
    assert len(dedup) == 2
    assert not dedup.admit(allowed("I:fw:1001", five, T0 + 50))
    dedup.expire(T0 + 6)
    assert len(dedup) == 1  # the denied one's window has passed
    assert dedup.admit(denied("I:fw:1004", five, T0 + 6))
