"""A VPC router, two GKE-like nodes with intra-node visibility on, three pods and two collector
backends, wired by the production plans (``netplan.network_ops`` and
``mirroring.collector_ops``) through the real ``LinuxDataplane`` (root only).

Names start with the lab's own ``t<4 hex>-`` prefix; everything is recorded in a ledger of its
own and ``close()`` removes it by exact name (``teardown``), whatever happened. Traffic is real
TCP and UDP between sockets opened inside the pod namespaces; what the collectors receive and
what the nodes' ``eth0`` sent and received are read with ``AF_PACKET`` sockets opened inside
those namespaces. Nothing touches the host's own namespace.
"""

from __future__ import annotations

import secrets
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from intranode.dataplane.linux import LinuxDataplane
from intranode.dataplane.linux.nsthread import NamespaceThread
from intranode.dataplane.teardown import teardown
from intranode.domain import netplan
from intranode.domain.mirroring import Collector, collector, collector_ops
from intranode.domain.netplan import NftRuleset, NodeNetworking
from intranode.domain.topology import KernelNames, Node, Pod, VpcRouter
from intranode.store.db import Database
from intranode.store.ledger import SqliteLedger

GATEWAY = "10.128.0.1"
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
OWNER = "mirror-lab"
T = TypeVar("T")


@dataclass(frozen=True)
class Frame:
    """One captured Ethernet frame carrying IPv4, and the fields a test looks at."""

    raw: bytes
    outgoing: bool

    @property
    def ip(self) -> bytes:
        return self.raw[14:]

    @property
    def src(self) -> str:
        return socket.inet_ntoa(self.ip[12:16])

    @property
    def dst(self) -> str:
        return socket.inet_ntoa(self.ip[16:20])

    @property
    def protocol(self) -> int:
        return self.ip[9]

    @property
    def ttl(self) -> int:
        return self.ip[8]

    @property
    def ports(self) -> tuple[int, int]:
        ihl = (self.ip[0] & 0x0F) * 4
        sport, dport = struct.unpack("!HH", self.ip[ihl : ihl + 4])
        return sport, dport

    @property
    def payload(self) -> bytes:
        ihl = (self.ip[0] & 0x0F) * 4
        total = struct.unpack("!H", self.ip[2:4])[0]
        if self.protocol == 6:
            start = ihl + (self.ip[ihl + 12] >> 4) * 4
        elif self.protocol == 17:
            start = ihl + 8
        else:
            start = ihl
        return self.ip[start:total]


@dataclass
class MirrorLab:
    prefix: str
    state_dir: Path
    names: KernelNames = field(init=False)
    router: VpcRouter = field(init=False)
    nodes: tuple[Node, Node] = field(init=False)
    pods: dict[str, Pod] = field(init=False)
    collectors: tuple[Collector, Collector] = field(init=False)
    db: Database = field(init=False)
    ledger: SqliteLedger = field(init=False)
    dp: LinuxDataplane = field(init=False)
    thread: NamespaceThread = field(init=False)
    taps: dict[str, socket.socket] = field(default_factory=dict)  # by namespace

    @classmethod
    def create(cls, state_dir: Path) -> MirrorLab:
        lab = cls(f"t{secrets.token_hex(2)}-", state_dir)
        lab.names = KernelNames(lab.prefix)
        lab.router = lab.names.router("default")
        n1 = lab.names.node("0a01", ip="10.128.0.2", gateway=GATEWAY, pod_cidr="10.52.0.0/24")
        n2 = lab.names.node("0a02", ip="10.128.0.3", gateway=GATEWAY, pod_cidr="10.52.1.0/24")
        lab.nodes = (n1, n2)
        lab.pods = {
            "a1": lab.names.pod("b001", ip="10.52.0.2", node=n1),
            "a2": lab.names.pod("b002", ip="10.52.0.3", node=n1),
            "b1": lab.names.pod("b003", ip="10.52.1.2", node=n2),
        }
        lab.collectors = (
            collector(lab.names, "0c01", ip="10.128.0.100", gateway=GATEWAY),
            collector(lab.names, "0c02", ip="10.128.0.101", gateway=GATEWAY),
        )
        lab.db = Database(state_dir / "lab.db")
        lab.ledger = SqliteLedger(lab.db)
        lab.dp = LinuxDataplane(lab.ledger)
        lab.thread = NamespaceThread()
        try:
            lab._build()
        except BaseException:
            lab.close()
            raise
        return lab

    def _build(self) -> None:
        inv = {n.short_id: NodeNetworking(intra_node_visibility=True) for n in self.nodes}
        ops = list(netplan.network_ops(self.router, self.nodes, tuple(self.pods.values()), inv))
        for backend in self.collectors:
            ops += collector_ops(backend, self.router)
        self.dp.apply(ops, owner=OWNER)
        for ns in [n.netns for n in self.nodes] + [c.netns for c in self.collectors]:
            self.taps[ns] = self._in(ns, _tap)

    def _in(self, ns: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` inside namespace ``ns`` (sockets it opens stay in it)."""
        return self.thread.run(lambda: self.thread.in_netns(ns, fn))

    def close(self) -> None:
        for sock in self.taps.values():
            sock.close()
        self.taps.clear()
        try:
            teardown(self.ledger, self.dp)
        finally:
            self.dp.close()
            self.thread.close()
            self.db.close()

    def load(self, op: NftRuleset) -> None:
        self.dp.apply([op], owner=OWNER)

    # -- traffic ----------------------------------------------------------------------------
    def _socket(self, pod: str, kind: int) -> socket.socket:
        return self._in(self.pods[pod].netns, lambda: socket.socket(socket.AF_INET, kind))

    def tcp(self, src: str, dst: str, payload: bytes, port: int = 8080) -> None:
        """A real TCP connection from pod ``src`` to pod ``dst``: handshake, ``payload`` in one
        segment (delivered, checked), close."""
        server = self._socket(dst, socket.SOCK_STREAM)
        client = self._socket(src, socket.SOCK_STREAM)
        with server, client:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((self.pods[dst].ip, port))
            server.listen(1)
            client.settimeout(3)
            client.connect((self.pods[dst].ip, port))
            conn, _ = server.accept()
            with conn:
                client.sendall(payload)
                conn.settimeout(3)
                got = b""
                while len(got) < len(payload):
                    chunk = conn.recv(65536)
                    assert chunk, "the connection closed early"
                    got += chunk
                assert got == payload

    def udp(self, src: str, dst: str, payload: bytes, port: int = 5353) -> None:
        server = self._socket(dst, socket.SOCK_DGRAM)
        client = self._socket(src, socket.SOCK_DGRAM)
        with server, client:
            server.bind((self.pods[dst].ip, port))
            server.settimeout(3)
            client.sendto(payload, (self.pods[dst].ip, port))
            assert server.recvfrom(65536)[0] == payload

    # -- captures ---------------------------------------------------------------------------
    def drain(self) -> None:
        for sock in self.taps.values():
            _read(sock)

    def captured(self, settle: float = 0.2) -> dict[str, list[Frame]]:
        """Every IPv4 frame each tap saw since the last drain, by namespace."""
        time.sleep(settle)
        out: dict[str, list[Frame]] = {ns: [] for ns in self.taps}
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:
            ready, _, _ = select.select(list(self.taps.values()), [], [], 0.01)
            for ns, sock in self.taps.items():
                if sock in ready:
                    out[ns] += _read(sock)
        return out

    def pod_ip(self, pod: str) -> str:
        return self.pods[pod].ip


def _tap() -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind(("eth0", ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.setblocking(False)
    return sock


def _read(sock: socket.socket) -> list[Frame]:
    frames: list[Frame] = []
    while True:
        try:
            data, addr = sock.recvfrom(65535)
        except BlockingIOError:
            return frames
        if len(data) >= 34 and data[12:14] == b"\x08\x00":
            frames.append(Frame(data, addr[2] == PACKET_OUTGOING))
