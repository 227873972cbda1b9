"""Kernel fixtures for the data plane (root only).

Every test gets its own prefix ``t<4 hex>-``, so runs never touch each other or a user's daemon
(``in-``). Whatever the test does, its finalizer stops the processes it started (by PID),
tears down everything the ledger lists (by exact name), and then checks that no namespace of
that prefix is left, that the host's own links, routes, rules, nftables tables and sysctls are
exactly as before and that the test's thread is still in the namespace it started in.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from intranode.dataplane.linux import LinuxDataplane
from intranode.dataplane.teardown import teardown
from intranode.domain import netplan
from intranode.domain.netplan import NodeNetworking, Op
from intranode.domain.topology import KernelNames, Node, Pod, VpcRouter
from intranode.store.db import Database
from intranode.store.ledger import SqliteLedger

from .traffic import Processes


def netns_list() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def host_links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return sorted(line.split(":")[1].strip() for line in out.stdout.splitlines())


# Every all/default sysctl a plan sets in its namespaces: the host's must never move.
HOST_SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/rp_filter",
    "net/ipv4/conf/default/rp_filter",
    "net/ipv4/conf/all/src_valid_mark",
    "net/ipv4/conf/all/send_redirects",
    "net/ipv4/conf/default/send_redirects",
    "net/ipv6/conf/all/disable_ipv6",
    "net/ipv6/conf/default/disable_ipv6",
)


def host_state() -> dict[str, str]:
    """The host namespace's links, routes, rules, nftables tables and the sysctls above."""
    state = {"links": "\n".join(host_links())}
    for name, argv in {
        "routes": ["ip", "route", "show", "table", "all"],
        "rules": ["ip", "rule"],
        "nft": ["nft", "list", "tables"],
    }.items():
        state[name] = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    for key in HOST_SYSCTLS:
        state[key] = Path("/proc/sys", key).read_text()
    return state


@dataclass
class Kernel:
    prefix: str
    names: KernelNames
    ledger: SqliteLedger
    dp: LinuxDataplane
    procs: Processes


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces")
    for tool in ("ip", "nft", "ping"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    prefix = f"t{secrets.token_hex(2)}-"
    host_before = host_state()
    own_netns = os.readlink("/proc/thread-self/ns/net")
    db = Database(tmp_path / "state.db")
    ledger = SqliteLedger(db)
    dp = LinuxDataplane(ledger)
    procs = Processes()
    try:
        yield Kernel(prefix, KernelNames(prefix), ledger, dp, procs)
    finally:
        procs.stop_all()
        try:
            teardown(ledger, dp)
        finally:
            dp.close()
            db.close()
        assert [n for n in netns_list() if n.startswith(prefix)] == []
        assert host_state() == host_before
        assert os.readlink("/proc/thread-self/ns/net") == own_netns


@dataclass(frozen=True)
class Network:
    """One VPC router, two nodes on 10.128.0.0/20 (gateway 10.128.0.1), two pods each."""

    router: VpcRouter
    n1: Node
    n2: Node
    pods: tuple[Pod, Pod, Pod, Pod]

    @property
    def nodes(self) -> tuple[Node, Node]:
        return (self.n1, self.n2)

    def ops(self, inv: bool = False) -> tuple[Op, ...]:
        conf = {n.short_id: NodeNetworking(intra_node_visibility=inv) for n in self.nodes}
        return netplan.network_ops(self.router, self.nodes, self.pods, conf)


def make_network(names: KernelNames) -> Network:
    n1 = names.node("0a01", ip="10.128.0.2", gateway="10.128.0.1", pod_cidr="10.52.0.0/24")
    n2 = names.node("0a02", ip="10.128.0.3", gateway="10.128.0.1", pod_cidr="10.52.1.0/24")
    pods = (
        names.pod("b001", ip="10.52.0.2", node=n1),
        names.pod("b002", ip="10.52.0.3", node=n1),
        names.pod("b003", ip="10.52.1.2", node=n2),
        names.pod("b004", ip="10.52.1.3", node=n2),
    )
    return Network(names.router("default"), n1, n2, pods)


@pytest.fixture
def net(kernel: Kernel) -> Network:
    """The network built in the kernel with intra-node visibility off and ip-masq-agent's
    default list on both nodes."""
    network = make_network(kernel.names)
    kernel.dp.apply(network.ops(inv=False), owner="test-network")
    return network
