"""Packet Mirroring in the kernel: the plan's table in the lab's VPC router clones real TCP and
UDP traffic between pods to collector namespaces.

Each test loads a table, sends traffic, and compares three captures: what each node's
``eth0`` sent (its EGRESS) and received (its INGRESS), and what each collector received. The
collectors must hold exactly the packets the pure decision (``mirrored_by``) says, each byte
for byte equal to the packet on the node's wire (addresses, ports, TTL, payload: unchanged),
and nothing else. Same-node traffic with intra-node visibility crosses the node's link twice
and so is copied twice with ``direction: BOTH``; cross-node traffic once per mirrored side.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter

import pytest

from intranode.domain.mirroring import (
    MirroringInputs,
    MirrorInstance,
    MirrorPolicy,
    Side,
    mirrored_by,
    mirroring_ruleset,
)
from intranode.domain.netplan import NftRuleset

from .lab import Frame, MirrorLab

NET = "projects/p/global/networks/default"
SUBNET = "projects/p/regions/us-central1/subnetworks/default"
FR1 = "projects/p/regions/us-central1/forwardingRules/col1"
FR2 = "projects/p/regions/us-central1/forwardingRules/col2"
POD_RANGE = "10.52.0.0/14"

pytestmark = pytest.mark.kernel


def instances(lab: MirrorLab) -> tuple[MirrorInstance, ...]:
    nodes = tuple(
        MirrorInstance(
            f"projects/p/zones/us-central1-a/instances/node-{n.short_id}", n.router_link, SUBNET
        )
        for n in lab.nodes
    )
    backends = tuple(
        MirrorInstance(
            f"projects/p/zones/us-central1-a/instances/col-{c.short_id}", c.router_link, SUBNET
        )
        for c in lab.collectors
    )
    return nodes + backends


def policy(name: str, **fields: object) -> MirrorPolicy:
    base: dict[str, object] = {
        "key": f"projects/p/regions/us-central1/packetMirrorings/{name}",
        "name": name,
        "priority": 1000,
        "network": NET,
        "collector": FR1,
        "subnetworks": (SUBNET,),
    }
    return MirrorPolicy(**{**base, **fields})  # type: ignore[arg-type]


def inputs(lab: MirrorLab, *policies: MirrorPolicy, spread: bool = False) -> MirroringInputs:
    c1, c2 = (c.router_link for c in lab.collectors)
    collectors = {FR1: (c1, c2)} if spread else {FR1: (c1,), FR2: (c2,)}
    return MirroringInputs(NET, policies, instances(lab), collectors)


def load(lab: MirrorLab, mirroring: MirroringInputs) -> NftRuleset:
    op = mirroring_ruleset(mirroring, lab.router.netns)
    lab.load(op)
    return op


def marker() -> bytes:
    return b"intranode-mirror-" + secrets.token_hex(8).encode()


def node_wire(lab: MirrorLab, captured: dict[str, list[Frame]]) -> list[tuple[str, Side, Frame]]:
    """(router link, the node's side, frame) of every IPv4 frame that crossed a node's eth0."""
    out: list[tuple[str, Side, Frame]] = []
    for node in lab.nodes:
        for frame in captured[node.netns]:
            out.append((node.router_link, "EGRESS" if frame.outgoing else "INGRESS", frame))
    return out


def expected(
    lab: MirrorLab, mirroring: MirroringInputs, captured: dict[str, list[Frame]]
) -> dict[str, Counter[bytes]]:
    """What each collector must hold, by the pure decision, for the frames the nodes saw."""
    by_link = {c.router_link: c.netns for c in lab.collectors}
    out: dict[str, Counter[bytes]] = {c.netns: Counter() for c in lab.collectors}
    for link, side, frame in node_wire(lab, captured):
        found = mirrored_by(mirroring, link, side, frame.src, frame.dst, frame.protocol)
        if found is None:
            continue
        backends = mirroring.collectors.get(found.collector, ())
        if len(backends) == 1:
            out[by_link[backends[0]]][frame.ip] += 1
    return out


def received(lab: MirrorLab, captured: dict[str, list[Frame]]) -> dict[str, Counter[bytes]]:
    return {c.netns: Counter(f.ip for f in captured[c.netns]) for c in lab.collectors}


def carrying(frames: list[Frame], payload: bytes) -> list[Frame]:
    return [f for f in frames if f.payload == payload]


def test_same_node_tcp_is_copied_out_and_back_unchanged(lab: MirrorLab) -> None:
    """The issue's policy: subnet, tcp, the pod range, both directions."""
    mirroring = inputs(lab, policy("mirror-pods", cidr_ranges=(POD_RANGE,), protocols=(6,)))
    load(lab, mirroring)
    lab.drain()
    data = marker()
    lab.tcp("a1", "a2", data)
    captured = lab.captured()
    assert received(lab, captured) == expected(lab, mirroring, captured)
    n1, c1 = lab.nodes[0].netns, lab.collectors[0].netns
    wire = carrying(captured[n1], data)
    copies = carrying(captured[c1], data)
    assert [f.outgoing for f in wire] == [True, False]  # out to the VPC and back
    assert len(copies) == 2
    a1, a2 = lab.pod_ip("a1"), lab.pod_ip("a2")
    for copy, original in zip(copies, wire, strict=True):
        assert copy.raw == original.raw  # the whole frame, link-layer header included
        assert (copy.src, copy.dst, copy.ports[1], copy.payload) == (a1, a2, 8080, data)
    assert [c.ttl for c in copies] == [63, 62]  # as the node sent it, as it came back
    assert captured[lab.collectors[1].netns] == []


@pytest.mark.parametrize("direction", ["INGRESS", "EGRESS", "BOTH"])
def test_each_direction_filter(lab: MirrorLab, direction: str) -> None:
    mirroring = inputs(lab, policy("pm", direction=direction))
    load(lab, mirroring)
    lab.drain()
    data = marker()
    lab.tcp("a1", "a2", data)
    captured = lab.captured()
    assert received(lab, captured) == expected(lab, mirroring, captured)
    copies = carrying(captured[lab.collectors[0].netns], data)
    ttls = {"INGRESS": [62], "EGRESS": [63], "BOTH": [63, 62]}[direction]
    assert [c.ttl for c in copies] == ttls


def test_cross_node_traffic_is_copied_once_per_mirrored_side(lab: MirrorLab) -> None:
    node_a = instances(lab)[0].key
    both = inputs(lab, policy("pm"))
    load(lab, both)
    lab.drain()
    data = marker()
    lab.tcp("a1", "b1", data)
    captured = lab.captured()
    assert received(lab, captured) == expected(lab, both, captured)
    assert [c.ttl for c in carrying(captured[lab.collectors[0].netns], data)] == [63, 62]

    only_a = inputs(lab, policy("pm", subnetworks=(), instances=(node_a,)))
    load(lab, only_a)
    lab.drain()
    data = marker()
    lab.tcp("a1", "b1", data)
    captured = lab.captured()
    assert received(lab, captured) == expected(lab, only_a, captured)
    assert [c.ttl for c in carrying(captured[lab.collectors[0].netns], data)] == [63]


def test_the_protocol_filter(lab: MirrorLab) -> None:
    mirroring = inputs(lab, policy("udp-only", protocols=(17,)))
    load(lab, mirroring)
    lab.drain()
    tcp_data, udp_data = marker(), marker()
    lab.tcp("a1", "a2", tcp_data)
    lab.udp("a1", "a2", udp_data)
    captured = lab.captured()
    assert received(lab, captured) == expected(lab, mirroring, captured)
    collected = captured[lab.collectors[0].netns]
    assert carrying(collected, tcp_data) == []
    assert {f.protocol for f in collected} == {17}
    assert [(f.ttl, f.ports[1]) for f in carrying(collected, udp_data)] == [(63, 5353), (62, 5353)]


def test_the_cidr_filter_matches_the_remote_end(lab: MirrorLab) -> None:
    """Only traffic whose other end is pod b1: a1's packets to it (a1's EGRESS, by
    destination) and its answers (a1's INGRESS, by source); a1-a2 not at all."""
    node_a = instances(lab)[0].key
    b1 = lab.pod_ip("b1")
    mirroring = inputs(
        lab, policy("to-b1", subnetworks=(), instances=(node_a,), cidr_ranges=(f"{b1}/32",))
    )
    load(lab, mirroring)
    lab.drain()
    to_a2, to_b1 = marker(), marker()
    lab.tcp("a1", "a2", to_a2)
    lab.tcp("a1", "b1", to_b1)
    captured = lab.captured()
    assert received(lab, captured) == expected(lab, mirroring, captured)
    collected = captured[lab.collectors[0].netns]
    assert carrying(collected, to_a2) == []
    assert [f.dst for f in carrying(collected, to_b1)] == [b1]
    assert {f.src for f in collected if f.payload == b""} >= {b1}  # b1's SYN-ACK came in


def test_the_first_matching_policy_wins(lab: MirrorLab) -> None:
    mirroring = inputs(
        lab,
        policy("tcp-first", priority=100, protocols=(6,)),
        policy("the-rest", priority=200, collector=FR2),
    )
    load(lab, mirroring)
    lab.drain()
    tcp_data, udp_data = marker(), marker()
    lab.tcp("a1", "a2", tcp_data)
    lab.udp("a1", "a2", udp_data)
    captured = lab.captured()
    assert received(lab, captured) == expected(lab, mirroring, captured)
    c1, c2 = (captured[c.netns] for c in lab.collectors)
    assert len(carrying(c1, tcp_data)) == 2 and carrying(c2, tcp_data) == []
    assert len(carrying(c2, udp_data)) == 2 and carrying(c1, udp_data) == []


def test_no_policy_no_copies_and_changes_take_effect_at_once(lab: MirrorLab) -> None:
    start = time.monotonic()
    load(lab, inputs(lab))
    assert time.monotonic() - start < 1.0
    lab.drain()
    lab.tcp("a1", "a2", marker())
    captured = lab.captured()
    assert all(captured[c.netns] == [] for c in lab.collectors)
    assert len(captured[lab.nodes[0].netns]) > 0
    start = time.monotonic()
    load(lab, inputs(lab, policy("pm")))
    assert time.monotonic() - start < 1.0
    data = marker()
    lab.tcp("a1", "a2", data)  # right after the swap: already copied
    assert len(carrying(lab.captured()[lab.collectors[0].netns], data)) == 2


def test_flows_spread_over_two_backends_symmetrically(lab: MirrorLab) -> None:
    """An ILB with two backends: each connection's copies, both directions, on one backend;
    16 connections use both backends (all on one: odds 1 in 32768)."""
    load(lab, inputs(lab, policy("pm"), spread=True))
    lab.drain()
    for port in range(9100, 9116):
        lab.tcp("a1", "a2", marker(), port=port)
    captured = lab.captured()
    wire = Counter(f.ip for f in captured[lab.nodes[0].netns])
    got = [Counter(f.ip for f in captured[c.netns]) for c in lab.collectors]
    assert got[0] + got[1] == wire  # every packet copied once, unchanged
    flows = [{tuple(sorted(f.ports)) for f in captured[c.netns]} for c in lab.collectors]
    assert flows[0] and flows[1]
    assert not flows[0] & flows[1]  # a connection's packets never split
