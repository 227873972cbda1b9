"""The model's fast path (rules split by protocol, long stages indexed by address, verdicts made
once) gives exactly what a plain reading of the plan gives: each stage's rules in order, the
first whose :class:`Match` holds decides, ``goto_next`` moves on. Random firewalls with enough
rules per stage to be indexed, overlapping ranges, ports and every action."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from intranode.domain.firewall import model as model_module
from intranode.domain.firewall.inputs import (
    Direction,
    FirewallInputs,
    FirewallPolicy,
    PolicyRule,
    VpcRule,
)
from intranode.domain.firewall.model import FirewallModel, Match, Packet, Stage, plan
from intranode.domain.firewalls import FirewallRule, ProtocolMatch

from .scenarios import ANCESTRY, NETWORK, NODES

RANGES = (
    "10.0.0.0/8",
    "10.52.0.0/14",
    "10.52.0.0/24",
    "10.52.0.128/25",
    "10.52.1.0/24",
    "10.52.1.7",
    "10.52.2.0/23",
    "10.128.0.0/20",
    "10.128.0.2",
    "10.128.0.4/30",
    "172.16.0.0/12",
    "0.0.0.0/0",
    "::/0",
)
PROTOCOLS = (6, 17, 1, 132, 50)
# Inside ranges, and on their first and last addresses (where an index is easy to get wrong).
ADDRESSES = ("10.52.0.5", "10.52.0.200", "10.52.1.9", "10.52.2.3", "172.20.1.1", "8.8.8.8",
             "10.52.0.0", "10.52.0.127", "10.52.0.128", "10.52.0.255", "10.52.1.0", "10.52.1.7",
             "10.52.1.8", "10.52.3.255", "10.128.0.2", "10.128.0.3", "10.128.0.4", "10.128.0.7",
             "10.128.0.8", "10.128.15.255", "10.255.255.255")  # fmt: skip

protocol_matches = st.lists(
    st.builds(
        ProtocolMatch,
        st.one_of(st.none(), st.sampled_from(PROTOCOLS)),
        st.lists(
            st.tuples(st.integers(0, 100), st.integers(0, 100)).map(lambda t: (min(t), max(t))),
            max_size=2,
        ).map(tuple),
    ),
    min_size=1,
    max_size=3,
).map(lambda ms: tuple(m if m.protocol in (6, 17, 132) else ProtocolMatch(m.protocol) for m in ms))
range_lists = st.lists(st.sampled_from(RANGES), max_size=3, unique=True).map(tuple)


@st.composite
def vpc_rules(draw: st.DrawFn, index: int) -> VpcRule:
    direction = draw(st.sampled_from(("INGRESS", "EGRESS")))
    tags = draw(st.lists(st.sampled_from(("web", "gke-c1-1a2b3c4d-node")), max_size=1))
    rule = FirewallRule(
        name=f"r{index}",
        network=NETWORK,
        priority=draw(st.integers(0, 20)),
        direction=direction,
        action=draw(st.sampled_from(("ALLOW", "DENY"))),
        matches=draw(protocol_matches),
        source_ranges=draw(range_lists),
        destination_ranges=draw(range_lists),
        source_tags=tuple(draw(st.lists(st.just("web"), max_size=1)))
        if direction == "INGRESS"
        else (),
        target_tags=tuple(tags),
        disabled=draw(st.integers(0, 9)) == 0,
    )
    return VpcRule(str(index), rule)


@st.composite
def firewalls(draw: st.DrawFn) -> FirewallInputs:
    rules = tuple(draw(vpc_rules(i)) for i in range(draw(st.integers(0, 60))))
    policy_rules = tuple(
        PolicyRule(
            priority=p,
            direction=draw(st.sampled_from(("INGRESS", "EGRESS"))),
            action=draw(st.sampled_from(("allow", "deny", "goto_next"))),
            layer4=draw(protocol_matches),
            src_ranges=draw(range_lists),
            dest_ranges=draw(range_lists),
        )
        for p in draw(st.lists(st.integers(0, 100), max_size=30, unique=True))
    )
    org = FirewallPolicy("1", "org", policy_rules, (ANCESTRY[0],))
    return FirewallInputs(NETWORK, rules, (org,), ANCESTRY, instances=NODES)


def _holds(match: Match, p: Packet) -> bool:
    src, dst = ipaddress.IPv4Address(p.src), ipaddress.IPv4Address(p.dst)
    if match.sources is not None and not any(src in n for n in match.sources):
        return False
    if match.destinations is not None and not any(dst in n for n in match.destinations):
        return False
    if match.protocols is None:
        return True
    ports = dict(match.protocols).get(p.protocol)
    if ports is None:
        return False
    port = p.dst_port if p.dst_port is not None else -1
    return not ports or any(lo <= port <= hi for lo, hi in ports)


def _plain(
    stages: Mapping[tuple[str, Direction], tuple[Stage, ...]], p: Packet
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    sides: tuple[tuple[Direction, str | None], ...] = (
        ("EGRESS", p.src_instance),
        ("INGRESS", p.dst_instance),
    )
    for direction, instance in sides:
        assert instance is not None
        for stage in stages[(instance, direction)]:
            hit = next((r.hit for r in stage if _holds(r.match, p)), None)
            if hit is None:
                continue
            out.append((hit.ref.key, hit.action))
            if hit.action != "GOTO_NEXT":
                break
        if out[-1][1] == "DENY":
            break
    return out


packets = st.builds(
    Packet,
    st.sampled_from(ADDRESSES),
    st.sampled_from(ADDRESSES),
    st.sampled_from(PROTOCOLS),
    st.integers(0, 100),
    st.sampled_from([n.name for n in NODES]),
    st.sampled_from([n.name for n in NODES]),
)


@settings(max_examples=50, deadline=None)
@given(firewalls(), st.lists(packets, min_size=1, max_size=40))
def test_the_fast_model_equals_a_plain_reading_of_the_plan(
    firewall: FirewallInputs, sample: list[Packet]
) -> None:
    stages = plan(firewall).stages
    # Index every stage (threshold 0) as well as only long ones (the default).
    for threshold in (0, model_module._INDEX_FROM):
        with patch.object(model_module, "_INDEX_FROM", threshold):
            model = FirewallModel(firewall)
            for p in sample:
                trace = model.evaluate(p)
                plain = _plain(stages, p)
                assert [(h.ref.key, h.action) for h in trace.met] == plain
                assert trace.allowed == (plain[-1][1] == "ALLOW")
