"""The small topology the dataplane unit tests and golden files use: one router, two nodes on
one subnet, two pods on the first node and one on the second."""

from __future__ import annotations

from dataclasses import dataclass

from intranode.domain.topology import KernelNames, Node, Pod, VpcRouter


@dataclass(frozen=True)
class Topo:
    router: VpcRouter
    nodes: tuple[Node, Node]
    pods: tuple[Pod, ...]


def topo(prefix: str = "in-") -> Topo:
    names = KernelNames(prefix)
    n1 = names.node("0a01", ip="10.128.0.2", gateway="10.128.0.1", pod_cidr="10.52.0.0/24")
    n2 = names.node("0a02", ip="10.128.0.3", gateway="10.128.0.1", pod_cidr="10.52.1.0/24")
    return Topo(
        router=names.router("default"),
        nodes=(n1, n2),
        pods=(
            names.pod("b001", ip="10.52.0.2", node=n1),
            names.pod("b002", ip="10.52.0.3", node=n1),
            names.pod("b003", ip="10.52.1.2", node=n2),
        ),
    )
