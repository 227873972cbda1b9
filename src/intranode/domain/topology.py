"""The kernel topology intranode wants, as pure data: one VPC router per network, one node
namespace per GKE node, one pod namespace per pod, and the names they carry in the kernel.

Names follow ``docs/naming.md``: every namespace is ``<prefix><kind letter>-<id>`` and fits
Linux's 15 characters, links are named for what is at their other end. A prefix is the daemon's
(``in-``) or a test run's own (``t3f2a-``), so runs never see each other's objects.

Public API:

- :class:`KernelNames` ``(prefix)``: ``router_netns(network)``, ``node_netns(id)``,
  ``pod_netns(id)``, and the factories ``router(network)``, ``node(id, ip, gateway,
  pod_cidr, mtu=)``, ``pod(id, ip, node)`` that validate and build the objects below.
- :class:`VpcRouter`, :class:`Node`, :class:`Pod`: frozen descriptions the plan functions in
  :mod:`intranode.domain.netplan` turn into kernel operations.
- :func:`pick_short_id` ``(taken)``: a fresh 4-hex id for a node or pod (the store keeps it).
- :data:`NIC` (``eth0``), :func:`node_link` (``n-<id>``, in the router), :func:`pod_link`
  (``p-<id>``, in the node), :data:`GCE_MTU` (1460).

Bad input (a malformed id, an address outside its range, a prefix that would make a name longer
than 15 characters) raises ``ValueError``: these values come from the store, never from a user,
so a bad one is a bug to surface, not a request to refuse.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass

from intranode.domain.ipam import gateway_of

IFNAMSIZ = 15  # usable characters of a Linux interface name
NIC = "eth0"  # a node's NIC and a pod's interface, as on GKE
GCE_MTU = 1460  # a VPC network's default MTU; ptp takes the pod MTU from the node's NIC

_PREFIX = re.compile(r"^[a-z][a-z0-9]*-$")
_SHORT_ID = re.compile(r"^[0-9a-f]{4}$")
_NETWORK = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# The longest name built from a prefix is a router's hashed form: <prefix>v-<6 hex>.
_MAX_PREFIX = IFNAMSIZ - len("v-") - 6


def node_link(short_id: str) -> str:
    """The router's link to a node: ``n-<id>`` (in the router namespace)."""
    return f"n-{short_id}"


def pod_link(short_id: str) -> str:
    """The node's link to a pod: ``p-<id>`` (in the node namespace)."""
    return f"p-{short_id}"


def pick_short_id(
    taken: Collection[str], randbelow: Callable[[int], int] = secrets.randbelow
) -> str:
    """A 4-hex id not in ``taken``; ids of nodes and pods share one space per prefix."""
    if len(taken) >= 0x10000:
        raise ValueError("every 4-hex id is taken")
    while True:
        candidate = f"{randbelow(0x10000):04x}"
        if candidate not in taken:
            return candidate


@dataclass(frozen=True)
class VpcRouter:
    """A VPC network's router namespace: Andromeda's stand-in, a veth to every node."""

    network: str
    netns: str


@dataclass(frozen=True)
class Node:
    """A GKE node (a GCE VM): ``eth0`` holds ``ip``/32 and reaches ``gateway`` on-link, as GCE
    gives VMs a /32 and an on-link gateway; pods get addresses from ``pod_cidr``. ``mtu`` is the
    VPC network's: the node's link to the router and its pod links use it, as netd's CNI config
    takes the pod MTU from the node's NIC."""

    short_id: str
    netns: str
    ip: str
    gateway: str
    pod_cidr: str
    mtu: int

    @property
    def router_link(self) -> str:
        return node_link(self.short_id)

    @property
    def pod_gateway(self) -> str:
        """The first address of the pod range; every pod-side veth of the node holds it (ptp)."""
        return gateway_of(self.pod_cidr)

    @property
    def pod_prefixlen(self) -> int:
        return ipaddress.ip_network(self.pod_cidr).prefixlen


@dataclass(frozen=True)
class Pod:
    """A pod's namespace: ``eth0`` with ``ip``, linked to its node by ``p-<id>``."""

    short_id: str
    netns: str
    ip: str
    node_id: str

    @property
    def node_link(self) -> str:
        return pod_link(self.short_id)


@dataclass(frozen=True)
class KernelNames:
    """Names of kernel objects under one prefix, and validated factories for the topology."""

    prefix: str

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix) or len(self.prefix) > _MAX_PREFIX:
            raise ValueError(
                f"kernel name prefix {self.prefix!r} must be a lowercase letter, then letters or "
                f"digits, then '-', at most {_MAX_PREFIX} characters"
            )

    def router_netns(self, network: str) -> str:
        """``<prefix>v-<network>`` when it fits 15 characters, else ``<prefix>v-<6 hex>`` with
        the hex taken from a hash of the network name, so the name is stable without storage."""
        if not _NETWORK.match(network):
            raise ValueError(f"invalid network name {network!r}")
        name = f"{self.prefix}v-{network}"
        if len(name) <= IFNAMSIZ:
            return name
        return f"{self.prefix}v-{hashlib.sha256(network.encode()).hexdigest()[:6]}"

    def node_netns(self, short_id: str) -> str:
        return f"{self.prefix}n-{_checked_id(short_id)}"

    def pod_netns(self, short_id: str) -> str:
        return f"{self.prefix}p-{_checked_id(short_id)}"

    def owns(self, netns: str) -> bool:
        """Whether a namespace name is one this prefix would make (for checks, never cleanup:
        cleanup acts on the ledger's exact names)."""
        return netns.startswith(self.prefix)

    # -- factories -------------------------------------------------------------------------
    def router(self, network: str) -> VpcRouter:
        return VpcRouter(network=network, netns=self.router_netns(network))

    def node(
        self, short_id: str, *, ip: str, gateway: str, pod_cidr: str, mtu: int = GCE_MTU
    ) -> Node:
        node_ip = _ipv4(ip, "node IP")
        gw = _ipv4(gateway, "gateway")
        if node_ip == gw:
            raise ValueError(f"node IP {ip} is the subnet gateway")
        try:
            pods = ipaddress.IPv4Network(pod_cidr)
        except ValueError as exc:
            raise ValueError(f"invalid pod range {pod_cidr!r}: {exc}") from exc
        if pods.prefixlen > 30:
            raise ValueError(f"pod range {pod_cidr} is too small for a gateway and a pod")
        if node_ip in pods:
            raise ValueError(f"node IP {ip} lies inside its own pod range {pod_cidr}")
        return Node(
            short_id=short_id,
            netns=self.node_netns(short_id),
            ip=str(node_ip),
            gateway=str(gw),
            pod_cidr=str(pods),
            mtu=_checked_mtu(mtu),
        )

    def pod(self, short_id: str, *, ip: str, node: Node) -> Pod:
        addr = _ipv4(ip, "pod IP")
        pods = ipaddress.IPv4Network(node.pod_cidr)
        reserved = {pods.network_address, pods.broadcast_address, pods.network_address + 1}
        if addr not in pods or addr in reserved:
            raise ValueError(f"pod IP {ip} is not a usable address of {node.pod_cidr}")
        return Pod(
            short_id=short_id, netns=self.pod_netns(short_id), ip=str(addr), node_id=node.short_id
        )


def _checked_id(short_id: str) -> str:
    if not _SHORT_ID.match(short_id):
        raise ValueError(f"short id {short_id!r} must be 4 lowercase hex digits")
    return short_id


def _checked_mtu(mtu: int) -> int:
    if not 576 <= mtu <= 9000:
        raise ValueError(f"MTU {mtu} is outside 576..9000")
    return mtu


def _ipv4(value: str, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise ValueError(f"invalid {what} {value!r}: {exc}") from exc
