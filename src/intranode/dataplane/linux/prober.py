"""Live probes sent from inside a Pod's (or node's) network namespace (root).

Sockets are opened on a short-lived thread that enters the namespace
(:func:`intranode.dataplane.runtime.linux.in_new_thread`); a socket stays in the namespace it
was made in, so the probing itself runs on the caller's thread. Probes are sent
``interval`` apart, then answers and arrivals are collected until ``timeout`` after the last
one: a probe the network drops costs one timeout for the whole batch, not one each, and a
TCP SYN is never retransmitted within it.

- TCP: a non-blocking ``connect`` per probe (its own source port); a SYN-ACK or a RST is an
  answer; the socket is closed with a RST (``SO_LINGER`` 0) so nothing lingers.
- UDP: a connected datagram socket per probe; a reply or an ICMP port unreachable (which
  the kernel reports as ``ECONNREFUSED``) is an answer.
- ICMP: echo requests on a raw socket, one identifier per batch, one sequence number per
  probe; an echo reply is an answer.

With the destination's namespace known, a packet socket in it (``AF_PACKET``, kernel receive
timestamps) sees each probe arrive: that counts as delivered, whether anything listens or
not, and its one-way latency is the arrival time minus the send time (one clock: the same
machine). Without it, an answer counts and the latency is half the round trip.

Nothing here changes kernel state: sockets only, closed before ``probe`` returns.
"""

from __future__ import annotations

import contextlib
import errno
import secrets
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from intranode.dataplane.linux.nsthread import netns_exists
from intranode.dataplane.prober import PROTOCOLS, ProbeEndpoint
from intranode.dataplane.runtime import linux
from intranode.dataplane.runtime.sandbox import netns_path
from intranode.domain.connectivity.probing import ProbeResult

T = TypeVar("T")
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35  # SOL_SOCKET option and SCM type on Linux
_PAYLOAD = b"intranode-probe"
_NO_ANSWER = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT, errno.EACCES, errno.EPERM}


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _echo_request(ident: int, seq: int) -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + _PAYLOAD
    return body[:2] + struct.pack("!H", _checksum(body)) + body[4:]


def _in_netns(netns: str, make: Callable[[], T]) -> T:
    path = netns_path(netns)

    def run() -> T:
        linux.enter_namespaces(net=path)
        return make()

    return linux.in_new_thread(run)


@dataclass
class _Probe:
    key: int  # TCP/UDP: the source port; ICMP: the sequence number
    sent_ns: int
    sock: socket.socket | None = None
    answered_ns: int | None = None
    arrived_ns: int | None = None


class _Arrivals:
    """A packet socket in the destination's namespace: when each probe came in, by key."""

    def __init__(self, netns: str, dst_ip: str, proto: int, port: int | None) -> None:
        self.dst = socket.inet_aton(dst_ip)
        self.proto, self.port = proto, port
        self.sock = _in_netns(
            netns,
            lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)),
        )
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setblocking(False)
        self.ident = 0  # the ICMP identifier to match

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self, probes: dict[int, _Probe]) -> None:
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(256, 64)
            except BlockingIOError:
                return
            if addr[2] == PACKET_OUTGOING or len(data) < 20:
                continue
            key = self._key(data)
            probe = probes.get(key) if key is not None else None
            if probe is None or probe.arrived_ns is not None:
                continue
            probe.arrived_ns = _stamp(anc)

    def _key(self, data: bytes) -> int | None:
        ihl = (data[0] & 0x0F) * 4
        if data[9] != self.proto or data[16:20] != self.dst or len(data) < ihl + 8:
            return None
        l4 = data[ihl : ihl + 8]
        if self.proto == 1:
            kind, _code, _sum, ident, seq = struct.unpack("!BBHHH", l4)
            return seq if kind == 8 and ident == self.ident else None
        sport, dport = struct.unpack("!HH", l4[:4])
        return sport if dport == self.port else None

    def close(self) -> None:
        self.sock.close()


def _stamp(anc: list[tuple[int, int, bytes]]) -> int:
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
            sec, nsec = struct.unpack("qq", raw[:16])
            return int(sec) * 1_000_000_000 + int(nsec)
    return time.time_ns()


@dataclass
class LinuxProber:
    """:class:`~intranode.dataplane.prober.Prober` on the kernel (see the module docstring)."""

    timeout: float = 1.0
    interval: float = 0.005
    _rng: Callable[[int], int] = field(default=secrets.randbelow, repr=False)

    def probe(
        self,
        src: ProbeEndpoint,
        dst: ProbeEndpoint,
        protocol: str,
        port: int | None,
        count: int,
    ) -> ProbeResult:
        if protocol not in PROTOCOLS:
            return ProbeResult(0, 0, error=f"no probe for {protocol}", error_status="UNIMPLEMENTED")
        for ns in (src.netns, dst.netns):
            if ns and not netns_exists(ns):
                return ProbeResult(
                    0, 0, error=f"network namespace {ns} does not exist", error_status="NOT_FOUND"
                )
        if not src.netns:
            return ProbeResult(0, 0, error="no source namespace", error_status="NOT_FOUND")
        proto = {"TCP": 6, "UDP": 17, "ICMP": 1}[protocol]
        if proto != 1 and port is None:
            return ProbeResult(
                0, 0, error=f"{protocol} probes need a port", error_status="INTERNAL"
            )
        arrivals = _Arrivals(dst.netns, dst.ip, proto, port) if dst.netns else None
        try:
            if proto == 6:
                probes = self._tcp(src, dst, port or 0, count, arrivals)
            elif proto == 17:
                probes = self._udp(src, dst, port or 0, count, arrivals)
            else:
                probes = self._icmp(src, dst, count, arrivals)
        except OSError as exc:
            return ProbeResult(0, 0, error=f"probing from {src.netns}: {exc.strerror or exc}")
        finally:
            if arrivals is not None:
                arrivals.close()
        return _result(list(probes.values()), seen_at_destination=arrivals is not None)

    # -- protocols ----------------------------------------------------------------------------
    def _tcp(
        self,
        src: ProbeEndpoint,
        dst: ProbeEndpoint,
        port: int,
        count: int,
        arrivals: _Arrivals | None,
    ) -> dict[int, _Probe]:
        probes: dict[int, _Probe] = {}
        try:
            for _ in range(count):
                sock = _in_netns(
                    src.netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                )
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.setblocking(False)
                sock.bind(("0.0.0.0", 0))
                sent = time.time_ns()
                code = sock.connect_ex((dst.ip, port))
                probe = _Probe(sock.getsockname()[1], sent, sock)
                probes[probe.key] = probe
                if code not in (0, errno.EINPROGRESS) and code not in _NO_ANSWER:
                    probe.answered_ns = time.time_ns()  # refused at once: an answer
                self._pause(arrivals, probes)

            def answered(probe: _Probe) -> None:
                assert probe.sock is not None
                code = probe.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code == 0 or code == errno.ECONNREFUSED:
                    probe.answered_ns = time.time_ns()

            self._collect(probes, arrivals, answered, writable=True)
        finally:
            for p in probes.values():
                if p.sock is not None:
                    p.sock.close()
        return probes

    def _udp(
        self,
        src: ProbeEndpoint,
        dst: ProbeEndpoint,
        port: int,
        count: int,
        arrivals: _Arrivals | None,
    ) -> dict[int, _Probe]:
        probes: dict[int, _Probe] = {}
        try:
            for _ in range(count):
                sock = _in_netns(
                    src.netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                )
                sock.setblocking(False)
                sock.connect((dst.ip, port))
                probe = _Probe(sock.getsockname()[1], time.time_ns(), sock)
                probes[probe.key] = probe
                with contextlib.suppress(OSError):  # an earlier ICMP error shows here
                    sock.send(_PAYLOAD)
                self._pause(arrivals, probes)

            def answered(probe: _Probe) -> None:
                assert probe.sock is not None
                try:
                    probe.sock.recv(2048)
                except ConnectionRefusedError:
                    pass  # ICMP port unreachable: the destination answered
                except OSError:
                    return
                probe.answered_ns = time.time_ns()

            self._collect(probes, arrivals, answered, writable=False)
        finally:
            for p in probes.values():
                if p.sock is not None:
                    p.sock.close()
        return probes

    def _icmp(
        self, src: ProbeEndpoint, dst: ProbeEndpoint, count: int, arrivals: _Arrivals | None
    ) -> dict[int, _Probe]:
        ident = 1 + self._rng(0xFFFE)
        if arrivals is not None:
            arrivals.ident = ident
        sock = _in_netns(
            src.netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        )
        probes: dict[int, _Probe] = {}
        try:
            sock.setblocking(False)
            for seq in range(1, count + 1):
                probes[seq] = _Probe(seq, time.time_ns())
                with contextlib.suppress(OSError):
                    sock.sendto(_echo_request(ident, seq), (dst.ip, 0))
                self._pause(arrivals, probes)
            deadline = time.monotonic() + self.timeout
            dst_raw = socket.inet_aton(dst.ip)
            while time.monotonic() < deadline and not _all_done(probes, arrivals):
                waiting: list[socket.socket | _Arrivals] = [sock]
                if arrivals is not None:
                    waiting.append(arrivals)
                ready, _, _ = select.select(waiting, [], [], max(0.0, deadline - time.monotonic()))
                if arrivals is not None and arrivals in ready:
                    arrivals.drain(probes)
                if sock in ready:
                    _drain_echo(sock, ident, dst_raw, probes)
        finally:
            sock.close()
        return probes

    # -- waiting ------------------------------------------------------------------------------
    def _pause(self, arrivals: _Arrivals | None, probes: dict[int, _Probe]) -> None:
        time.sleep(self.interval)
        if arrivals is not None:
            arrivals.drain(probes)

    def _collect(
        self,
        probes: dict[int, _Probe],
        arrivals: _Arrivals | None,
        answered: Callable[[_Probe], None],
        *,
        writable: bool,
    ) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and not _all_done(probes, arrivals):
            pending = {p.sock: p for p in probes.values() if p.answered_ns is None and p.sock}
            readers: list[socket.socket | _Arrivals] = [] if writable else list(pending)
            if arrivals is not None:
                readers.append(arrivals)
            writers = list(pending) if writable else []
            left = max(0.0, deadline - time.monotonic())
            ready_r, ready_w, _ = select.select(readers, writers, [], left)
            if arrivals is not None and arrivals in ready_r:
                arrivals.drain(probes)
            for sock in ready_w if writable else ready_r:
                if isinstance(sock, socket.socket) and sock in pending:
                    answered(pending[sock])


def _all_done(probes: dict[int, _Probe], arrivals: _Arrivals | None) -> bool:
    if arrivals is not None:
        return all(p.arrived_ns is not None for p in probes.values())
    return all(p.answered_ns is not None for p in probes.values())


def _drain_echo(sock: socket.socket, ident: int, dst: bytes, probes: dict[int, _Probe]) -> None:
    while True:
        try:
            data = sock.recv(2048)
        except BlockingIOError:
            return
        ihl = (data[0] & 0x0F) * 4
        if len(data) < ihl + 8 or data[12:16] != dst:
            continue
        kind, _code, _sum, got_id, seq = struct.unpack("!BBHHH", data[ihl : ihl + 8])
        probe = probes.get(seq)
        if kind == 0 and got_id == ident and probe is not None and probe.answered_ns is None:
            probe.answered_ns = time.time_ns()


def _result(probes: list[_Probe], *, seen_at_destination: bool) -> ProbeResult:
    latencies: list[int] = []
    for p in probes:
        if seen_at_destination:
            if p.arrived_ns is not None:
                latencies.append(max(0, p.arrived_ns - p.sent_ns) // 1000)
        elif p.answered_ns is not None:
            latencies.append(max(0, p.answered_ns - p.sent_ns) // 2000)
    return ProbeResult(len(probes), len(latencies), tuple(latencies))


__all__ = ["LinuxProber"]
