"""What the kernel tells the flow-log collector, as plain values.

* :class:`ConntrackEntry` is one connection as the VPC router's conntrack sees it: the ORIGINAL
  and REPLY tuples with their packet and byte counters (``nf_conntrack_acct``; bytes are whole
  IP packets, headers included), the conntrack id, and the flow's age. A snapshot is a list of
  them; a destroy event is one with ``time`` set (when the kernel removed it) and its final
  counters.
* :class:`DeniedPacket` is one packet the firewall dropped, reported through nflog (``log group
  N prefix "<rule id>"``): denied packets never enter conntrack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

TCP, UDP, ICMP, ESP, GRE = 6, 17, 1, 50, 47
# Protocols whose flows are keyed by ports; the others' records carry no ports.
PORT_PROTOCOLS = frozenset({TCP, UDP, 132})  # 132: SCTP


# The values the collector keeps by the hundred thousand are named tuples: cheap to make
# and hash, and untracked by the cycle collector once it has seen them.
class FiveTuple(NamedTuple):
    """One direction of a connection; ports are ``None`` for protocols without them."""

    protocol: int
    src_ip: str
    dest_ip: str
    src_port: int | None = None
    dest_port: int | None = None

    def __str__(self) -> str:
        src = self.src_ip if self.src_port is None else f"{self.src_ip}:{self.src_port}"
        dst = self.dest_ip if self.dest_port is None else f"{self.dest_ip}:{self.dest_port}"
        return f"{self.protocol} {src} > {dst}"

    def encode(self) -> str:
        """``6|10.0.0.1|40000|10.0.0.2|80``: how the flow state is persisted."""
        sport = "" if self.src_port is None else str(self.src_port)
        dport = "" if self.dest_port is None else str(self.dest_port)
        return f"{self.protocol}|{self.src_ip}|{sport}|{self.dest_ip}|{dport}"

    @classmethod
    def decode(cls, text: str) -> FiveTuple:
        proto, sip, sport, dip, dport = text.split("|")
        return cls(
            int(proto), sip, dip, int(sport) if sport else None, int(dport) if dport else None
        )


class Counters(NamedTuple):
    packets: int = 0
    bytes: int = 0

    def __add__(self, other: Counters) -> Counters:  # type: ignore[override]  # not concat
        return Counters(self.packets + other.packets, self.bytes + other.bytes)

    def __sub__(self, other: Counters) -> Counters:
        return Counters(self.packets - other.packets, self.bytes - other.bytes)

    def __bool__(self) -> bool:
        return self.packets != 0 or self.bytes != 0

    def covers(self, other: Counters) -> bool:
        """Whether counters can have grown from ``other`` to ``self``."""
        return self.packets >= other.packets and self.bytes >= other.bytes


ZERO = Counters()


class ConntrackEntry(NamedTuple):
    ct_id: int
    original: FiveTuple
    reply: FiveTuple
    orig_counters: Counters
    reply_counters: Counters
    age: int | None = None  # whole seconds since the flow started (conntrack ``delta-time``)
    time: float | None = None  # destroy events: when the kernel removed the entry
    start: int | None = None  # when it started, ns since the epoch (kernel timestamp)


Direction = Literal["EGRESS", "INGRESS"]


@dataclass(frozen=True, slots=True)
class DeniedPacket:
    """A packet the firewall dropped, as nflog reports it: ``rule`` is the log prefix (the
    rule's id) and ``direction`` the direction of the rule that denied it."""

    time: float
    tuple: FiveTuple
    length: int  # the IP packet's length, as conntrack counts bytes
    rule: str = ""
    direction: Direction = "EGRESS"


@dataclass(frozen=True)
class ReaderProcess:
    """A helper process a flow source keeps running (a destroy-event reader): its PID and its
    start time in clock ticks since boot (``/proc/PID/stat`` field 22), which together name it
    even after the PID is reused."""

    netns: str
    pid: int
    start_time: int
