"""The mirroring plan: each scenario's table ``netdev vpc_mirror`` is held to a reviewed golden
file (``nft`` text, then the JSON commands); the pure decision (``mirrored_by``) is checked
packet by packet; and the collector namespace plan is checked op by op.

After an intended change, regenerate with
``INTRANODE_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/mirroring/test_plan.py`` and review the
diff. The kernel test (``tests/kernel/mirroring``) holds the tables to real packets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from intranode.domain import netplan
from intranode.domain.mirroring import (
    FAMILY,
    TABLE,
    MirroringInputs,
    MirrorInstance,
    MirrorPolicy,
    collector,
    collector_ops,
    mirrored_by,
    mirroring_ruleset,
    render,
)
from intranode.domain.topology import KernelNames

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("INTRANODE_REGEN_GOLDEN") == "1"
ROUTER = "in-v-default"
NET = "projects/p/global/networks/default"
OTHER_NET = "projects/p/global/networks/other"
SUBNET = "projects/p/regions/us-central1/subnetworks/default"
FR = "projects/p/regions/us-central1/forwardingRules/col"
FR2 = "projects/p/regions/us-central1/forwardingRules/col2"
A = MirrorInstance("projects/p/zones/us-central1-a/instances/node-a", "n-0a01", SUBNET, ("web",))
B = MirrorInstance("projects/p/zones/us-central1-a/instances/node-b", "n-0a02", SUBNET, ())
C = MirrorInstance("projects/p/zones/us-central1-a/instances/col-collector", "c-0c01", SUBNET)
D = MirrorInstance("projects/p/zones/us-central1-a/instances/col-collector2", "c-0c02", SUBNET)
POD_A, POD_A2, POD_B = "10.4.1.2", "10.4.1.3", "10.4.2.2"


def policy(name: str, **fields: object) -> MirrorPolicy:
    base: dict[str, object] = {
        "key": f"projects/p/regions/us-central1/packetMirrorings/{name}",
        "name": name,
        "priority": 1000,
        "network": NET,
        "collector": FR,
    }
    return MirrorPolicy(**{**base, **fields})  # type: ignore[arg-type]


def the_guides_policy() -> MirroringInputs:
    """``--mirrored-subnets=default --filter-cidr-ranges=<pod range> --filter-protocols=tcp
    --filter-direction=both`` with intranode's collector."""
    pm = policy("mirror-pods", subnetworks=(SUBNET,), cidr_ranges=("10.4.0.0/14",), protocols=(6,))
    return MirroringInputs(NET, (pm,), (A, B, C), {FR: ("c-0c01",)})


def priorities_and_directions() -> MirroringInputs:
    """Node A meets three policies (first match in priority order), node B one ingress-only
    policy by instance; disabled policies and other networks' are left out."""
    return MirroringInputs(
        NET,
        (
            policy("all-of-subnet", subnetworks=(SUBNET,), priority=1000),
            policy("web-udp-out", tags=("web",), priority=100, protocols=(17,), direction="EGRESS"),
            policy(
                "web-hosts",
                tags=("web",),
                priority=100,
                cidr_ranges=("10.4.2.2/32", "10.4.2.0/24", "10.128.0.9"),
            ),
            policy("b-in", instances=(B.key,), priority=900, direction="INGRESS", protocols=(1, 6)),
            policy("off", subnetworks=(SUBNET,), priority=0, enabled=False),
            policy("elsewhere", subnetworks=(SUBNET,), priority=0, network=OTHER_NET),
        ),
        (A, B, C),
        {FR: ("c-0c01",)},
    )


def two_backends_and_none() -> MirroringInputs:
    """A collector with two backends (flows spread by symhash), one with none (matched, not
    copied); the backends themselves are never mirrored, even when a policy selects them;
    an IPv6-only filter matches no IPv4 packet."""
    return MirroringInputs(
        NET,
        (
            policy("spread", subnetworks=(SUBNET,), direction="EGRESS"),
            policy("void", subnetworks=(SUBNET,), priority=5, collector=FR2, protocols=(132,)),
            policy("v6", subnetworks=(SUBNET,), priority=1, cidr_ranges=("::/0",)),
        ),
        (A, B, C, D),
        {FR: ("c-0c01", "c-0c02")},
    )


def nothing() -> MirroringInputs:
    return MirroringInputs(NET, (), (A, B), {})


SCENARIOS: dict[str, Callable[[], MirroringInputs]] = {
    "guide": the_guides_policy,
    "priorities": priorities_and_directions,
    "backends": two_backends_and_none,
    "nothing": nothing,
}


def _render(inputs: MirroringInputs) -> str:
    op = mirroring_ruleset(inputs, ROUTER)
    assert (op.ns, op.family, op.table) == (ROUTER, FAMILY, TABLE)
    doc = {"nft": render(op).splitlines(), "commands": op.commands()}
    return json.dumps(doc, indent=1) + "\n"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_ruleset_matches_its_golden_file(name: str) -> None:
    path = GOLDEN / f"{name}.json"
    text = _render(SCENARIOS[name]())
    if REGEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; regenerate with INTRANODE_REGEN_GOLDEN=1"
    assert text == path.read_text(), f"{name} ruleset changed; review and regenerate"


def test_every_golden_file_belongs_to_a_scenario() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(SCENARIOS)


def test_the_guides_same_node_packet_is_copied_out_and_back() -> None:
    inputs = the_guides_policy()
    out = mirrored_by(inputs, A.link, "EGRESS", POD_A, POD_A2, 6)
    back = mirrored_by(inputs, A.link, "INGRESS", POD_A, POD_A2, 6)
    assert (out and out.name, back and back.name) == ("mirror-pods", "mirror-pods")
    # Not TCP, or the remote end outside the pod range: not mirrored.
    assert mirrored_by(inputs, A.link, "EGRESS", POD_A, POD_A2, 17) is None
    assert mirrored_by(inputs, A.link, "EGRESS", POD_A, "10.128.0.3", 6) is None
    # The remote end is the destination going out and the source coming in.
    assert mirrored_by(inputs, A.link, "INGRESS", "10.128.0.3", POD_A, 6) is None
    assert mirrored_by(inputs, A.link, "INGRESS", POD_B, "10.128.0.3", 6) is not None
    # The collector's own link is never mirrored.
    assert mirrored_by(inputs, C.link, "EGRESS", POD_A, POD_A2, 6) is None


@pytest.mark.parametrize(
    ("link", "side", "src", "dst", "proto", "expected"),
    [
        ("n-0a01", "EGRESS", POD_A, POD_B, 17, "web-hosts"),  # tie at 100: the name decides
        ("n-0a01", "EGRESS", POD_A, "10.4.9.9", 17, "web-udp-out"),  # web-hosts' ranges miss
        ("n-0a01", "INGRESS", "10.4.9.9", POD_A, 17, "all-of-subnet"),  # udp-out is egress only
        ("n-0a01", "INGRESS", "10.128.0.9", POD_A, 6, "web-hosts"),  # a bare address is a /32
        ("n-0a02", "INGRESS", POD_A, POD_B, 6, "b-in"),
        ("n-0a02", "INGRESS", POD_A, POD_B, 17, "all-of-subnet"),
        ("n-0a02", "EGRESS", POD_B, POD_A, 6, "all-of-subnet"),
        ("c-0c01", "INGRESS", POD_A, "10.128.0.100", 6, None),
    ],
)
def test_the_first_matching_policy_in_priority_order_copies(
    link: str, side: str, src: str, dst: str, proto: int, expected: str | None
) -> None:
    found = mirrored_by(priorities_and_directions(), link, side, src, dst, proto)  # type: ignore[arg-type]
    assert (found.name if found else None) == expected


def test_backends_are_never_mirrored_and_ipv6_ranges_match_nothing() -> None:
    inputs = two_backends_and_none()
    commands = mirroring_ruleset(inputs, ROUTER).commands()
    chains = [c["add"]["chain"] for c in commands if "chain" in c["add"]]
    hooked = sorted((c["name"], c["hook"], c["dev"]) for c in chains if "hook" in c)
    assert hooked == [
        ("egress_n-0a01", "ingress", "n-0a01"),
        ("egress_n-0a02", "ingress", "n-0a02"),
        ("ingress_n-0a01", "egress", "n-0a01"),
        ("ingress_n-0a02", "egress", "n-0a02"),
    ]
    comments = [c["add"]["rule"]["comment"] for c in commands if "rule" in c["add"]]
    assert not any(comment.startswith("v6 ") for comment in comments)
    assert mirrored_by(inputs, A.link, "EGRESS", POD_A, POD_B, 6).name == "spread"  # type: ignore[union-attr]
    assert mirrored_by(inputs, A.link, "INGRESS", POD_B, POD_A, 132).name == "void"  # type: ignore[union-attr]


def test_nothing_to_mirror_is_an_empty_table() -> None:
    op = mirroring_ruleset(nothing(), ROUTER)
    assert op.commands() == []
    assert isinstance(op, netplan.NftRuleset)


def test_a_collector_namespace_is_wired_like_a_node() -> None:
    names = KernelNames("in-")
    router = names.router("default")
    backend = collector(names, "0c01", ip="10.128.0.4", gateway="10.128.0.1")
    assert (backend.netns, backend.router_link) == ("in-c-0c01", "c-0c01")
    assert [op.describe() for op in collector_ops(backend, router)] == [
        "ip netns add in-c-0c01",
        "ip -n in-c-0c01 link set lo up",
        "ip netns exec in-c-0c01 sysctl -w net.ipv6.conf.all.disable_ipv6=1",
        "ip netns exec in-c-0c01 sysctl -w net.ipv6.conf.default.disable_ipv6=1",
        "ip -n in-v-default link add c-0c01 mtu 1460 type veth peer name eth0 mtu 1460 netns "
        "in-c-0c01",
        "ip -n in-c-0c01 address add 10.128.0.4/32 dev eth0",
        "ip -n in-c-0c01 link set eth0 up",
        "ip -n in-c-0c01 route replace 10.128.0.1/32 dev eth0 scope link",
        "ip -n in-c-0c01 route replace 0.0.0.0/0 via 10.128.0.1 dev eth0",
        "ip netns exec in-v-default sysctl -w net.ipv4.conf.c-0c01.send_redirects=0",
        "ip -n in-v-default address add 10.128.0.1/32 dev c-0c01",
        "ip -n in-v-default link set c-0c01 up",
        "ip -n in-v-default route replace 10.128.0.4/32 dev c-0c01 scope link",
    ]


@pytest.mark.parametrize(
    ("short_id", "ip", "gateway", "message"),
    [
        ("zz01", "10.128.0.4", "10.128.0.1", "short id 'zz01' must be 4 lowercase hex digits"),
        ("0c01", "10.128.0.1", "10.128.0.1", "collector IP 10.128.0.1 is the subnet gateway"),
    ],
)
def test_bad_collectors_are_bugs_to_surface(
    short_id: str, ip: str, gateway: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        collector(KernelNames("in-"), short_id, ip=ip, gateway=gateway)
