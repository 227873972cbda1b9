"""What users see of intra-node visibility in the kernel: TTL 63 without it and 61 with it,
the VPC router's counters moving for same-node traffic only with it on, cross-node traffic
always through the router, a live toggle that a TCP conversation survives, and the
ip-masq-agent misconfiguration that really breaks same-node traffic only with it on."""

from __future__ import annotations

import time

import pytest

from intranode.domain import netplan
from intranode.domain.netplan import Route, Rule

from .conftest import Kernel, Network
from .traffic import CONVERSATION, PY, conversation_result, exchange, martian_sources, ping

pytestmark = pytest.mark.kernel


def _router_packets(kernel: Kernel, net: Network, node_link: str) -> tuple[int, int]:
    c = kernel.dp.counters(net.router.netns)[node_link]
    return c.rx_packets, c.tx_packets


def test_the_node_holds_netds_set_exactly_while_inv_is_on(kernel: Kernel, net: Network) -> None:
    keys = ("net.ipv4.conf.eth0.rp_filter", "net.ipv4.conf.all.src_valid_mark")
    off = kernel.dp.read_state(net.n1.netns, keys)
    kernel.dp.apply(netplan.inv_ops(net.n1, True))
    on = kernel.dp.read_state(net.n1.netns, keys)
    assert on.sysctls == {keys[0]: 2, keys[1]: 1}
    assert set(on.rules) - set(off.rules) == {
        Rule(70, 255, dst="127.0.0.0/8"),
        Rule(70, 255, dst="169.254.0.0/16"),
        Rule(70, 255, dst="10.128.0.2/32"),
        Rule(70, 255, dst="10.52.0.1/32"),
        Rule(74, 254, fwmark=0x4000, fwmask=0x4000),
        Rule(75, 254, iif="lo"),
        Rule(76, 1, not_iif="eth0"),
    }
    assert set(on.routes) - set(off.routes) == {Route("0.0.0.0/0", "eth0", "10.128.0.1", 1)}
    assert set(on.nft_tables) - set(off.nft_tables) == {"ip netd"}
    kernel.dp.apply(netplan.inv_ops(net.n1, False))
    assert kernel.dp.read_state(net.n1.netns, keys) == off
    assert off.sysctls == {keys[0]: 1, keys[1]: 0}


@pytest.mark.parametrize(("inv", "ttl"), [(False, 63), (True, 61)])
def test_same_node_ping_ttl_and_router_counters(
    kernel: Kernel, net: Network, inv: bool, ttl: int
) -> None:
    a, b = net.pods[0], net.pods[1]
    kernel.dp.apply(netplan.inv_ops(net.n1, inv))
    ping(a.netns, b.ip)  # warm ARP caches so the count below is only the pings
    rx0, tx0 = _router_packets(kernel, net, net.n1.router_link)
    result = ping(a.netns, b.ip, count=3)
    rx1, tx1 = _router_packets(kernel, net, net.n1.router_link)
    assert result.received == 3, result.output
    assert result.ttl == ttl, result.output
    if inv:  # 3 requests and 3 replies went out to the router and came back
        assert rx1 - rx0 >= 6 and tx1 - tx0 >= 6
    else:
        assert (rx1 - rx0, tx1 - tx0) == (0, 0)


@pytest.mark.parametrize("inv", [False, True])
def test_cross_node_traffic_always_crosses_the_router(
    kernel: Kernel, net: Network, inv: bool
) -> None:
    a, c = net.pods[0], net.pods[2]
    for node in net.nodes:
        kernel.dp.apply(netplan.inv_ops(node, inv))
    kernel.procs.serve(c.netns, "tcp", c.ip, 8080)
    kernel.procs.serve(c.netns, "udp", c.ip, 5353)
    rx0, _ = _router_packets(kernel, net, net.n1.router_link)
    _, tx0 = _router_packets(kernel, net, net.n2.router_link)
    result = ping(a.netns, c.ip, count=2)
    assert (result.received, result.ttl) == (2, 61), result.output
    assert exchange(a.netns, "tcp", c.ip, 8080, "hello over tcp") == "hello over tcp"
    assert exchange(a.netns, "udp", c.ip, 5353, "hello over udp") == "hello over udp"
    rx1, _ = _router_packets(kernel, net, net.n1.router_link)
    _, tx1 = _router_packets(kernel, net, net.n2.router_link)
    assert rx1 - rx0 >= 2 + 3 + 1  # pings, a TCP handshake and data, a datagram from node 1
    assert tx1 - tx0 >= 2 + 3 + 1  # ... all forwarded by the router to node 2


def test_toggling_inv_live_keeps_a_tcp_conversation(kernel: Kernel, net: Network) -> None:
    a, b = net.pods[0], net.pods[1]
    kernel.procs.serve(b.netns, "tcp", b.ip, 9000)
    talk = kernel.procs.start(a.netns, PY, "-c", CONVERSATION, b.ip, "9000", "3", ready="connected")
    moved = []
    for inv in (True, False, True, False):
        time.sleep(0.3)
        kernel.dp.apply(netplan.inv_ops(net.n1, inv))
        before = _router_packets(kernel, net, net.n1.router_link)
        time.sleep(0.3)
        after = _router_packets(kernel, net, net.n1.router_link)
        moved.append(after[0] > before[0])
    result = conversation_result(talk, timeout=15)
    assert result["error"] is None, result
    assert isinstance(result["max_gap"], float) and result["max_gap"] < 1.0, result
    assert isinstance(result["rounds"], int) and result["rounds"] > 100, result
    assert moved == [True, False, True, False]  # the conversation crossed the VPC only with INV


def test_a_masquerade_list_without_the_pod_range_breaks_same_node_traffic_only_with_inv(
    kernel: Kernel, net: Network
) -> None:
    a, b = net.pods[0], net.pods[1]
    kernel.dp.apply(netplan.ip_masq_ops(net.n1, ["10.128.0.0/9"]))
    result = ping(a.netns, b.ip, count=2)
    assert result.received == 2, result.output  # masqueraded to the veth's gw: still works

    kernel.dp.apply(netplan.inv_ops(net.n1, True))
    martians = martian_sources()
    _, tx0 = _router_packets(kernel, net, net.n1.router_link)
    result = ping(a.netns, b.ip, count=3, wait=0.5)
    _, tx1 = _router_packets(kernel, net, net.n1.router_link)
    assert result.received == 0, result.output
    assert tx1 - tx0 >= 3  # the VPC sent them back to the node ...
    assert martian_sources() - martians >= 3  # ... which dropped them: source = its own IP

    kernel.dp.apply(netplan.ip_masq_ops(net.n1))  # the default list covers the pod range
    result = ping(a.netns, b.ip, count=2)
    assert (result.received, result.ttl) == (2, 61), result.output
