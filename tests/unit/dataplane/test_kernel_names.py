"""Kernel names (docs/naming.md): readable, within Linux's 15 characters, refused when not."""

from __future__ import annotations

import pytest

from intranode.domain.topology import IFNAMSIZ, KernelNames, pick_short_id

NAMES = KernelNames("in-")
NODE = NAMES.node("3f2a", ip="10.128.0.2", gateway="10.128.0.1", pod_cidr="10.52.0.0/24")


def test_names_say_what_each_object_is() -> None:
    assert NAMES.router_netns("default") == "in-v-default"
    assert NODE.netns == "in-n-3f2a"
    assert NODE.router_link == "n-3f2a"
    assert NODE.pod_gateway == "10.52.0.1"
    pod = NAMES.pod("91c0", ip="10.52.0.7", node=NODE)
    assert (pod.netns, pod.node_link, pod.node_id) == ("in-p-91c0", "p-91c0", "3f2a")


def test_a_long_network_name_becomes_a_stable_hash_that_fits() -> None:
    long = KernelNames("t3f2a-").router_netns("my-production-network")
    assert long == KernelNames("t3f2a-").router_netns("my-production-network")
    assert long.startswith("t3f2a-v-") and len(long) == len("t3f2a-v-") + 6 <= IFNAMSIZ
    assert long != KernelNames("t3f2a-").router_netns("my-production-network2")
    assert KernelNames("t3f2a-").router_netns("vpc-1") == "t3f2a-v-vpc-1"


@pytest.mark.parametrize("prefix", ["", "in", "IN-", "1n-", "in_", "toolong-"])
def test_a_prefix_that_could_not_make_valid_names_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        KernelNames(prefix)


@pytest.mark.parametrize("short_id", ["3F2A", "3f2", "3f2a1", "zzzz", ""])
def test_a_malformed_short_id_is_refused(short_id: str) -> None:
    with pytest.raises(ValueError, match="4 lowercase hex"):
        NAMES.node_netns(short_id)


@pytest.mark.parametrize(
    ("ip", "why"),
    [
        ("10.52.1.2", "not a usable address"),
        ("10.52.0.0", "not a usable address"),
        ("10.52.0.1", "not a usable address"),  # the pod range's gateway
        ("10.52.0.255", "not a usable address"),
        ("10.52.0.300", "invalid pod IP"),
    ],
)
def test_a_pod_address_outside_its_nodes_usable_range_is_refused(ip: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        NAMES.pod("91c0", ip=ip, node=NODE)


def test_a_node_must_not_be_its_gateway_or_inside_its_pod_range() -> None:
    with pytest.raises(ValueError, match="is the subnet gateway"):
        NAMES.node("3f2a", ip="10.128.0.1", gateway="10.128.0.1", pod_cidr="10.52.0.0/24")
    with pytest.raises(ValueError, match="inside its own pod range"):
        NAMES.node("3f2a", ip="10.52.0.9", gateway="10.128.0.1", pod_cidr="10.52.0.0/24")
    with pytest.raises(ValueError, match="invalid pod range"):
        NAMES.node("3f2a", ip="10.128.0.2", gateway="10.128.0.1", pod_cidr="10.52.0.1/24")


def test_short_ids_avoid_those_taken() -> None:
    draws = iter([0x3F2A, 0x3F2A, 0x0001])
    assert pick_short_id({"3f2a"}, lambda _: next(draws)) == "0001"
    with pytest.raises(ValueError, match="taken"):
        pick_short_id({f"{i:04x}" for i in range(0x10000)})
