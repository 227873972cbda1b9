"""Classic pcap (libpcap) captures: reading them as they are written, and what each packet is.

A Packet Mirroring collector's capture (``tcpdump -w``, see :data:`CAPTURE_NAME`) is read
while tcpdump still writes it, so the reader is fed bytes piecewise and returns only complete
records: a header or record cut short at the end is "not yet written" and waits in the reader
for more bytes, never an error. Both byte orders and both time resolutions (the microsecond
magic ``a1b2c3d4`` and the nanosecond ``a1b23c4d``) are read. A record longer than
:data:`MAX_RECORD` cannot be one tcpdump wrote (its largest snapshot is 262,144 bytes): the
file is torn there, and the reader keeps the records before the tear and says where. No
dependency: the format is a 24-byte header and a 16-byte header per record (dpkt would add a
package to decode what fits in a page here).

:func:`summarize` decodes Ethernet (with up to two VLAN tags), raw IPv4 and raw IP link types,
IPv4 and IPv6 (fixed and the common extension headers), TCP, UDP, SCTP, ICMP and ICMPv6, and
ARP, into one :class:`PacketSummary`: time, addresses, ports, protocol, length on the wire,
TTL, TCP flags and the first :data:`PAYLOAD_BYTES` of the payload. Headers a snapshot cut
short leave their fields ``None`` and set ``truncated``; Ethernet padding is never taken for
payload (the IP total length bounds it).

Public API:

- :class:`PcapReader` ``.feed(bytes) -> [Record]``, ``.header``, ``.pending``, ``.offset``,
  ``.torn``.
- :func:`file_header`, :func:`record_bytes`: the same format written (tests, tools).
- :func:`summarize` ``(record, linktype) -> PacketSummary``; :class:`PacketFilter` (``hosts``:
  an address or CIDR as :data:`Hosts`, ``port``), ``PacketFilter.parse`` (ValueError with a
  sentence) and ``.matches``.
- The node agent's capture layout: :data:`CAPTURE_SUBDIR`, :data:`CAPTURE_NAME`,
  :data:`CAPTURE_FILES`, :data:`CAPTURE_FILE_MB`, :func:`capture_dir`,
  :func:`capture_file_index`.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from dataclasses import dataclass
from pathlib import Path

# -- the capture layout (tcpdump -C CAPTURE_FILE_MB -W CAPTURE_FILES -w <dir>/CAPTURE_NAME) ------
CAPTURE_SUBDIR = "mirror"  # <state dir>/mirror/<collector backend instance name>/
CAPTURE_NAME = "capture.pcap"  # tcpdump appends the file's number: capture.pcap0 ... pcap7
CAPTURE_FILES = 8
CAPTURE_FILE_MB = 16  # tcpdump's -C unit is 1,000,000 bytes


def capture_dir(state_dir: Path, instance: str) -> Path:
    """Where the captures of the collector backend ``instance`` (its instance name) go."""
    return state_dir / CAPTURE_SUBDIR / instance


def capture_file_index(name: str) -> int | None:
    """The number of a rotating capture file (``capture.pcap3`` → 3); None for other names."""
    digits = name.removeprefix(CAPTURE_NAME)
    if digits == name or not digits.isascii() or not digits.isdigit():
        return None
    index = int(digits)
    return index if index < CAPTURE_FILES else None


# -- the file format -------------------------------------------------------------------------
HEADER_LEN = 24
RECORD_HEADER_LEN = 16
MAX_RECORD = 1 << 20
DEFAULT_SNAPLEN = 262144  # tcpdump's -s 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # raw IP, version from the first nibble
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
_MAGIC = {  # the first four bytes as written: (little endian, nanoseconds)
    b"\xd4\xc3\xb2\xa1": (True, False),
    b"\xa1\xb2\xc3\xd4": (False, False),
    b"\x4d\x3c\xb2\xa1": (True, True),
    b"\xa1\xb2\x3c\x4d": (False, True),
}


class PcapFormatError(ValueError):
    """The bytes are not a pcap capture."""


@dataclass(frozen=True, slots=True)
class FileHeader:
    little_endian: bool
    nanoseconds: bool
    version: tuple[int, int]
    snaplen: int
    linktype: int


@dataclass(frozen=True, slots=True)
class Record:
    time_ns: int  # since the epoch, UTC
    data: bytes  # as captured (at most the snapshot length)
    wire_length: int  # the packet's length on the wire


def _parse_header(head: bytes) -> FileHeader:
    found = _MAGIC.get(head[:4])
    if found is None:
        raise PcapFormatError(f"not a pcap capture (it starts with {head[:4].hex()})")
    little, nano = found
    major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(
        "<HHiIII" if little else ">HHiIII", head, 4
    )
    # The top bits of the link type field carry FCS flags (pcap-savefile(5)).
    return FileHeader(little, nano, (major, minor), snaplen, linktype & 0x0FFFFFFF)


class PcapReader:
    """A capture read piecewise: :meth:`feed` takes the bytes that came and returns the
    records they completed. Bytes of a record not yet wholly written wait for the next feed.

    Bytes that are not a capture raise :class:`PcapFormatError`; a capture torn after some
    records (a length no writer makes) keeps them: ``feed`` returns the records before the
    tear, :attr:`torn` says where, and later feeds return nothing."""

    def __init__(self) -> None:
        self.header: FileHeader | None = None
        self.torn: str | None = None
        self.offset = 0  # bytes of the capture consumed: its header and complete records
        self._buf = bytearray()
        self._record = struct.Struct("<IIII")
        self._scale = 1000

    @property
    def pending(self) -> int:
        """Bytes held back: the start of a header or record not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Record]:
        if self.torn is not None:
            return []
        buf = self._buf
        buf += data
        pos = 0
        if self.header is None:
            if len(buf) >= 4 and bytes(buf[:4]) not in _MAGIC:
                raise PcapFormatError(f"not a pcap capture (it starts with {buf[:4].hex()})")
            if len(buf) < HEADER_LEN:
                return []
            self.header = _parse_header(bytes(buf[:HEADER_LEN]))
            self._record = struct.Struct("<IIII" if self.header.little_endian else ">IIII")
            self._scale = 1 if self.header.nanoseconds else 1000
            pos = HEADER_LEN
        out: list[Record] = []
        unpack, scale, size = self._record.unpack_from, self._scale, len(buf)
        while size - pos >= RECORD_HEADER_LEN:
            sec, frac, caplen, wire = unpack(buf, pos)
            if caplen > MAX_RECORD:
                self.torn = f"a record of {caplen} bytes at byte {self.offset + pos}"
                buf.clear()
                self.offset += pos
                return out
            end = pos + RECORD_HEADER_LEN + caplen
            if end > size:
                break
            out.append(Record(sec * 1_000_000_000 + frac * scale, bytes(buf[pos + 16 : end]), wire))
            pos = end
        del buf[:pos]
        self.offset += pos
        return out


def file_header(
    linktype: int = LINKTYPE_ETHERNET,
    *,
    nanoseconds: bool = False,
    little_endian: bool = True,
    snaplen: int = DEFAULT_SNAPLEN,
) -> bytes:
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    return struct.pack(
        "<IHHiIII" if little_endian else ">IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype
    )


def record_bytes(
    time_ns: int,
    data: bytes,
    *,
    wire_length: int | None = None,
    nanoseconds: bool = False,
    little_endian: bool = True,
) -> bytes:
    sec, ns = divmod(time_ns, 1_000_000_000)
    frac = ns if nanoseconds else ns // 1000
    wire = len(data) if wire_length is None else wire_length
    head = struct.pack("<IIII" if little_endian else ">IIII", sec, frac, len(data), wire)
    return head + data


# -- what a packet is ------------------------------------------------------------------------
PAYLOAD_BYTES = 16
ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_IPV6 = 0x0800, 0x0806, 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8)
PROTOCOL_NAMES = {
    1: "ICMP",
    2: "IGMP",
    4: "IPIP",
    6: "TCP",
    17: "UDP",
    41: "IPv6",
    47: "GRE",
    50: "ESP",
    51: "AH",
    58: "ICMPv6",
    132: "SCTP",
}
# (name, bit, tcpdump's letter), in tcpdump's order: SYN+ACK prints as "S.", FIN+PSH+ACK "FP.".
TCP_FLAGS = (
    ("FIN", 0x01, "F"),
    ("SYN", 0x02, "S"),
    ("RST", 0x04, "R"),
    ("PSH", 0x08, "P"),
    ("ACK", 0x10, "."),
    ("URG", 0x20, "U"),
    ("ECE", 0x40, "E"),
    ("CWR", 0x80, "W"),
)
# IPv6 extension headers walked to reach the transport: hop-by-hop, routing, destination.
_IPV6_EXTENSIONS = (0, 43, 60)
_IPV6_FRAGMENT = 44


@dataclass(frozen=True, slots=True)
class PacketSummary:
    """One captured packet as a person reads it. Fields a packet does not have (ports of
    ICMP) or a capture cut short (``truncated``) are None."""

    time_ns: int
    length: int  # the frame's length on the wire
    network: str  # "IPv4", "IPv6", "ARP", the EtherType in hex, or "" (link type not decoded)
    src: str | None = None  # IP address (ARP: the sender's); MAC for other EtherTypes
    dst: str | None = None
    protocol: int | None = None  # IP protocol number
    sport: int | None = None
    dport: int | None = None
    ttl: int | None = None  # IPv6: the hop limit
    tcp_flags: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    payload: bytes = b""  # the first PAYLOAD_BYTES after the last header decoded
    fragment: bool = False  # an IP fragment after the first: no transport header
    truncated: bool = False

    @property
    def protocol_name(self) -> str:
        if self.protocol is None:
            return self.network
        return PROTOCOL_NAMES.get(self.protocol, str(self.protocol))

    @property
    def flag_names(self) -> tuple[str, ...]:
        flags = self.tcp_flags or 0
        return tuple(name for name, bit, _ in TCP_FLAGS if flags & bit)

    @property
    def flag_letters(self) -> str:
        """TCP flags as tcpdump prints them between brackets (``S.``; ``none`` for none)."""
        flags = self.tcp_flags or 0
        return "".join(letter for _, bit, letter in TCP_FLAGS if flags & bit) or "none"


def summarize(record: Record, linktype: int = LINKTYPE_ETHERNET) -> PacketSummary:
    """What ``record`` of a capture of ``linktype`` carries."""
    data = record.data
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return PacketSummary(record.time_ns, record.wire_length, "", truncated=True)
        ethertype = int.from_bytes(data[12:14])
        pos = 14
        while ethertype in _VLAN_TAGS and len(data) >= pos + 4:
            ethertype = int.from_bytes(data[pos + 2 : pos + 4])
            pos += 4
        payload = data[pos:]
        if ethertype == ETHERTYPE_IPV4:
            return _ipv4(record, payload)
        if ethertype == ETHERTYPE_IPV6:
            return _ipv6(record, payload)
        if ethertype == ETHERTYPE_ARP:
            return _arp(record, payload)
        return PacketSummary(
            record.time_ns,
            record.wire_length,
            f"0x{ethertype:04x}",
            src=_mac(data[6:12]),
            dst=_mac(data[0:6]),
            payload=payload[:PAYLOAD_BYTES],
        )
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) and data:
        return _ipv6(record, data) if data[0] >> 4 == 6 else _ipv4(record, data)
    return PacketSummary(record.time_ns, record.wire_length, "", payload=data[:PAYLOAD_BYTES])


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _ipv4(record: Record, ip: bytes) -> PacketSummary:
    if len(ip) < 20 or ip[0] >> 4 != 4 or (ip[0] & 0x0F) < 5:
        return PacketSummary(record.time_ns, record.wire_length, "IPv4", truncated=True)
    ihl = (ip[0] & 0x0F) * 4
    total = int.from_bytes(ip[2:4])
    src = ".".join(map(str, ip[12:16]))
    dst = ".".join(map(str, ip[16:20]))
    later_fragment = int.from_bytes(ip[6:8]) & 0x1FFF != 0
    # The total length bounds the packet: what follows it in a frame is Ethernet padding.
    body = ip[ihl : max(total, ihl)] if total else ip[ihl:]
    return _transport(record, "IPv4", src, dst, ip[9], ip[8], body, later_fragment, len(ip) < ihl)


def _ipv6(record: Record, ip: bytes) -> PacketSummary:
    if len(ip) < 40 or ip[0] >> 4 != 6:
        return PacketSummary(record.time_ns, record.wire_length, "IPv6", truncated=True)
    src = ipaddress.IPv6Address(ip[8:24]).compressed
    dst = ipaddress.IPv6Address(ip[24:40]).compressed
    body = ip[40 : 40 + int.from_bytes(ip[4:6])]
    nxt, later_fragment, cut = ip[6], False, False
    while nxt in _IPV6_EXTENSIONS or nxt == _IPV6_FRAGMENT:
        if len(body) < 8:
            cut = True
            break
        if nxt == _IPV6_FRAGMENT:
            later_fragment = int.from_bytes(body[2:4]) >> 3 != 0
            size = 8
        else:
            size = (body[1] + 1) * 8
        nxt, body = body[0], body[size:]
    return _transport(record, "IPv6", src, dst, nxt, ip[7], body, later_fragment, cut)


def _transport(
    record: Record,
    network: str,
    src: str,
    dst: str,
    proto: int,
    ttl: int,
    body: bytes,
    later_fragment: bool,
    cut: bool,
) -> PacketSummary:
    sport = dport = flags = icmp_type = icmp_code = None
    payload, truncated = b"", cut
    if later_fragment or cut:
        payload = body[:PAYLOAD_BYTES]
    elif proto == 6:
        if len(body) < 20:
            truncated = True
        else:
            sport, dport = struct.unpack_from(">HH", body)
            flags = body[13]
            start = max((body[12] >> 4) * 4, 20)
            payload, truncated = body[start : start + PAYLOAD_BYTES], len(body) < start
    elif proto in (17, 132):  # UDP, SCTP: ports first; SCTP's common header is 12 bytes
        header = 8 if proto == 17 else 12
        if len(body) < header:
            truncated = True
        else:
            sport, dport = struct.unpack_from(">HH", body)
            payload = body[header : header + PAYLOAD_BYTES]
    elif proto in (1, 58):  # ICMP, ICMPv6: type, code, checksum, 4 bytes of the message
        if len(body) < 8:
            truncated = True
        else:
            icmp_type, icmp_code, payload = body[0], body[1], body[8 : 8 + PAYLOAD_BYTES]
    else:
        payload = body[:PAYLOAD_BYTES]
    return PacketSummary(
        record.time_ns,
        record.wire_length,
        network,
        src,
        dst,
        proto,
        sport,
        dport,
        ttl,
        flags,
        icmp_type,
        icmp_code,
        payload,
        later_fragment,
        truncated,
    )


def _arp(record: Record, arp: bytes) -> PacketSummary:
    # Ethernet/IPv4 ARP only (hardware 1, protocol 0x0800, sizes 6 and 4).
    if len(arp) < 28 or arp[:6] != b"\x00\x01\x08\x00\x06\x04":
        return PacketSummary(record.time_ns, record.wire_length, "ARP", truncated=len(arp) < 28)
    return PacketSummary(
        record.time_ns,
        record.wire_length,
        "ARP",
        src=".".join(map(str, arp[14:18])),
        dst=".".join(map(str, arp[24:28])),
    )


# -- choosing packets ------------------------------------------------------------------------
Hosts = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class PacketFilter:
    """Packets from or to ``hosts`` (an address is a /32 or /128) and with ``port`` as source
    or destination port; a field left None matches every packet."""

    hosts: Hosts | None = None
    port: int | None = None

    @classmethod
    def parse(cls, host: str | None, port: int | None) -> PacketFilter:
        """ValueError with a sentence for a host that is neither an address nor a CIDR, or a
        port outside 0-65535."""
        hosts = None
        if host is not None:
            try:
                hosts = ipaddress.ip_network(host.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{host!r} is not an IP address or CIDR range") from None
        if port is not None and not 0 <= port <= 65535:
            raise ValueError(f"{port} is not a port: use 0-65535")
        return cls(hosts, port)

    def matches(self, packet: PacketSummary) -> bool:
        if self.port is not None and self.port not in (packet.sport, packet.dport):
            return False
        if self.hosts is None:
            return True
        return any(_within(a, self.hosts) for a in (packet.src, packet.dst))


@functools.lru_cache(maxsize=4096)  # a capture repeats few addresses; parsing them is the cost
def _within(address: str | None, hosts: Hosts) -> bool:
    if address is None:
        return False
    try:
        return ipaddress.ip_address(address) in hosts
    except ValueError:  # a MAC address of a frame that is not IP
        return False
