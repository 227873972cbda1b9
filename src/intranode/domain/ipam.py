"""Address allocation: cluster ranges inside a network, a /24 alias range per node, pod IPs."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def gateway_of(cidr: str) -> str:
    """The first usable address: the subnet gateway, or a node's pod-range gateway (ptp CNI)."""
    net = ipaddress.ip_network(cidr, strict=False)
    return str(net.network_address + 1)


def allocate_pod_ip(pod_cidr: str, used: Iterable[str]) -> str | None:
    """The lowest free pod address of a node's range: never the network, gateway or broadcast."""
    net = ipaddress.ip_network(pod_cidr, strict=False)
    taken = {ipaddress.ip_address(u) for u in used if u}
    for host in net.hosts():
        if host == net.network_address + 1:
            continue
        if host not in taken:
            return str(host)
    return None


def free_block(container: str, prefixlen: int, taken: Iterable[str]) -> str | None:
    """The first block of ``prefixlen`` inside ``container`` that overlaps nothing in ``taken``."""
    outer = ipaddress.ip_network(container, strict=False)
    if prefixlen < outer.prefixlen:
        return None
    used = [ipaddress.ip_network(t, strict=False) for t in taken]
    for cand in outer.subnets(new_prefix=prefixlen):
        if not any(cand.overlaps(u) for u in used):
            return str(cand)
    return None
