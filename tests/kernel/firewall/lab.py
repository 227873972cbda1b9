"""A VPC router and three node namespaces wired by the production plans, for firewall tests and
``bench/firewall.py`` (root only).

``FirewallLab.create(prefix)`` builds ``<prefix>v-default`` and ``<prefix>n-0a01..0a03`` with
:func:`intranode.domain.netplan.router_ops` / :func:`~intranode.domain.netplan.node_ops` (so
the router's links are ``n-<id>``, reverse-path filtering is strict, routes to each pod range go
via the node's IP), recorded in a ledger of its own and removed by exact name by ``close()``.

Nodes have no pods: packets "from a pod" are written with a raw socket (``IP_HDRINCL``) in the
node namespace with the pod's address as source, which the router accepts as the node's alias
range. What reaches a node is read by an ``AF_PACKET`` socket on its ``eth0``; an nftables
``prerouting`` drop behind it (``inet lab``) keeps the node from answering or forwarding, so
no reply ever makes a connection ``established`` and every packet sent is the first of its
connection. Sockets are opened inside the namespaces on a thread that enters them and comes
back; traffic stays between addresses of these namespaces.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intranode.dataplane.linux import LinuxDataplane
from intranode.dataplane.linux.nsthread import NamespaceThread
from intranode.dataplane.teardown import teardown
from intranode.domain import netplan
from intranode.domain.firewall.model import Packet
from intranode.domain.netplan import NftRuleset
from intranode.domain.topology import KernelNames, Node, VpcRouter
from intranode.store.db import Database
from intranode.store.ledger import SqliteLedger

NODE_SPECS = (
    ("0a01", "10.128.0.2", "10.52.0.0/24"),
    ("0a02", "10.128.0.3", "10.52.1.0/24"),
    ("0a03", "10.128.0.4", "10.52.2.0/24"),
)
GATEWAY = "10.128.0.1"
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4

NODE_DROP = """
table inet lab {
  chain prerouting {
    type filter hook prerouting priority -300; policy accept;
    iifname "eth0" drop
  }
}
"""


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def run(argv: Sequence[str], stdin: str | None = None) -> str:
    proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


# -- packets ----------------------------------------------------------------------------------
def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _transport(proto: int, src: bytes, dst: bytes, sport: int, dport: int) -> bytes:
    """The first packet of a connection: TCP SYN, UDP datagram, ICMP echo request, SCTP INIT;
    16 bytes of payload for any other protocol."""
    if proto == 6:
        header = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(header))
        return header[:16] + struct.pack("!H", _checksum(pseudo + header)) + header[18:]
    if proto == 17:
        return struct.pack("!HHHH", sport, dport, 16, 0) + b"intranode"[:8]
    if proto == 1:
        body = struct.pack("!BBHHH", 8, 0, 0, sport, 1) + b"intranode-fw"
        return body[:2] + struct.pack("!H", _checksum(body)) + body[4:]
    if proto == 132:
        init = struct.pack("!BBHIIHHI", 1, 0, 20, 0x1234, 65535, 1, 1, 1)
        packet = struct.pack("!HHII", sport, dport, 0, 0) + init
        crc = _crc32c(packet)
        return packet[:8] + struct.pack("<I", crc) + packet[12:]
    return b"intranode-payload"[:16]


def ip_packet(packet: Packet, ident: int, sport: int) -> bytes:
    src, dst = socket.inet_aton(packet.src), socket.inet_aton(packet.dst)
    body = _transport(packet.protocol, src, dst, sport, packet.dst_port or 0)
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, 0, 64, packet.protocol, 0, src, dst
    )
    return header[:10] + struct.pack("!H", _checksum(header)) + header[12:] + body


# -- the lab ---------------------------------------------------------------------------------------
@dataclass
class FirewallLab:
    prefix: str
    state_dir: Path
    names: KernelNames = field(init=False)
    router: VpcRouter = field(init=False)
    nodes: tuple[Node, ...] = field(init=False)
    db: Database = field(init=False)
    ledger: SqliteLedger = field(init=False)
    dp: LinuxDataplane = field(init=False)
    thread: NamespaceThread = field(init=False)
    senders: dict[str, socket.socket] = field(default_factory=dict)  # by node id
    receivers: dict[str, socket.socket] = field(default_factory=dict)
    _ident: int = 0

    @classmethod
    def create(cls, prefix: str, state_dir: Path, *, taps: bool = True) -> FirewallLab:
        """Build the lab; without ``taps`` the nodes keep their normal stack (no raw sockets,
        no prerouting drop), for real connections such as iperf3's."""
        lab = cls(prefix, state_dir)
        lab.names = KernelNames(prefix)
        lab.router = lab.names.router("default")
        lab.nodes = tuple(
            lab.names.node(i, ip=ip, gateway=GATEWAY, pod_cidr=pods) for i, ip, pods in NODE_SPECS
        )
        lab.db = Database(state_dir / "lab.db")
        lab.ledger = SqliteLedger(lab.db)
        lab.dp = LinuxDataplane(lab.ledger)
        lab.thread = NamespaceThread()
        try:
            lab._build(taps)
        except BaseException:
            lab.close()
            raise
        return lab

    def _build(self, taps: bool) -> None:
        ops: list[netplan.Op] = list(netplan.router_ops(self.router, ()))
        for node in self.nodes:
            ops += netplan.node_ops(node, self.router)
        self.dp.apply(ops, owner="firewall-lab")
        for node in self.nodes if taps else ():
            run(in_ns(node.netns, "nft", "-f", "-"), NODE_DROP)
            self.senders[node.short_id] = self.thread.run(
                lambda ns=node.netns: self.thread.in_netns(ns, _raw_sender)
            )
            self.receivers[node.short_id] = self.thread.run(
                lambda ns=node.netns: self.thread.in_netns(ns, _tap)
            )

    def close(self) -> None:
        for sock in [*self.senders.values(), *self.receivers.values()]:
            sock.close()
        self.senders.clear()
        self.receivers.clear()
        try:
            teardown(self.ledger, self.dp)
        finally:
            self.dp.close()
            self.thread.close()
            self.db.close()

    def node(self, short_id: str) -> Node:
        return next(n for n in self.nodes if n.short_id == short_id)

    # -- firewall -------------------------------------------------------------------------------
    def load(self, op: NftRuleset) -> float:
        """Apply the ruleset through the data plane; the seconds it took."""
        start = time.perf_counter()
        self.dp.apply([op], owner="firewall-lab")
        return time.perf_counter() - start

    def flush_conntrack(self) -> None:
        subprocess.run(
            in_ns(self.router.netns, "conntrack", "-F"), capture_output=True, check=False
        )

    def counters(self) -> dict[str, Any]:
        listing: dict[str, Any] = json.loads(
            run(in_ns(self.router.netns, "nft", "-j", "list", "counters"))
        )
        return listing

    # -- traffic --------------------------------------------------------------------------------
    def send(
        self,
        sent: Sequence[tuple[str, Packet]],
        wait_for: set[int],
        *,
        sports: Sequence[int] | None = None,
        timeout: float = 0.5,
    ) -> set[int]:
        """Send each (source node id, packet); return the indexes of those that reached their
        destination node. Source ports are fresh (each packet opens a new connection) unless
        ``sports`` gives them. Waits until every index in ``wait_for`` arrived or ``timeout``
        passed, then a short grace for stragglers."""
        for sock in self.receivers.values():
            _drain(sock)
        expected: dict[tuple[str, str, int, int], int] = {}
        for index, (node_id, packet) in enumerate(sent):
            self._ident = (self._ident + 1) % 65536
            sport = sports[index] if sports is not None else 20000 + self._ident % 10000
            expected[(packet.src, packet.dst, packet.protocol, self._ident)] = index
            self.senders[node_id].sendto(ip_packet(packet, self._ident, sport), (packet.dst, 0))
        arrived: set[int] = set()
        deadline = time.monotonic() + timeout
        grace_until: float | None = None
        while True:
            now = time.monotonic()
            if grace_until is None and (wait_for <= arrived or now >= deadline):
                grace_until = now + 0.03
            if grace_until is not None and now >= grace_until:
                return arrived
            ready, _, _ = select.select(list(self.receivers.values()), [], [], 0.01)
            for sock in ready:
                for key in _drain(sock):
                    if key in expected:
                        arrived.add(expected[key])


def _raw_sender() -> socket.socket:
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


def _tap() -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    sock.bind(("eth0", ETH_P_IP))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> list[tuple[str, str, int, int]]:
    """(src, dst, protocol, IP id) of every IPv4 packet the node received since last time."""
    seen = []
    while True:
        try:
            data, addr = sock.recvfrom(65535)
        except BlockingIOError:
            return seen
        if addr[2] == PACKET_OUTGOING or len(data) < 20:
            continue
        ident, proto = struct.unpack("!H", data[4:6])[0], data[9]
        seen.append((socket.inet_ntoa(data[12:16]), socket.inet_ntoa(data[16:20]), proto, ident))
