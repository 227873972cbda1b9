"""Reading collector captures (:mod:`intranode.domain.pcap`): the pcap format in both byte
orders and time resolutions, read piecewise as tcpdump writes it, and what each packet is.

Two kinds of evidence: captures built here byte by byte (every field spelled out), and a
capture tcpdump 4.99.3 recorded once between two namespaces (ARP, ping, a TCP exchange, UDP
with a fragmented datagram, IPv6 neighbour discovery), with the production options
``tcpdump -i eth0 -n -U -s 0 -Z root -C 16 -W 8 -w capture.pcap`` (so the file is
``capture.pcap0``), once more with ``--time-stamp-precision=nano``. Next to each file is
tcpdump's own reading of it (``tcpdump -r FILE -nn -tt -e``), and the reader must agree with
it on every packet.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from intranode.domain import pcap
from intranode.domain.pcap import PacketFilter, PacketSummary, PcapFormatError, PcapReader, Record

GOLDEN = Path(__file__).parent / "golden"
T0 = 1_795_696_865  # seconds
MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


# -- hand-built packets ------------------------------------------------------------------------
def ether(payload: bytes, ethertype: int = 0x0800) -> bytes:
    return MAC_B + MAC_A + struct.pack(">H", ethertype) + payload


def ipv4(
    proto: int,
    body: bytes,
    *,
    src: str = "10.52.0.2",
    dst: str = "10.52.1.2",
    ttl: int = 63,
    frag: int = 0,
    options: bytes = b"",
) -> bytes:
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(body)
    head = struct.pack(
        ">BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        total,
        1,
        frag,
        ttl,
        proto,
        0,
        bytes(map(int, src.split("."))),
        bytes(map(int, dst.split("."))),
    )
    return head + options + body


def tcp(sport: int, dport: int, flags: int, data: bytes = b"") -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 64240, 0, 0) + data


def udp(sport: int, dport: int, data: bytes) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data


SYN_ACK = ether(ipv4(6, tcp(8080, 40000, 0x12)))
DATA = ether(ipv4(6, tcp(40000, 8080, 0x18, b"GET / HTTP/1.1\r\nHost: x\r\n")))

# The same capture, header and one record, spelled out for each of the four magics.
LE_MICRO = (
    b"\xd4\xc3\xb2\xa1"
    b"\x02\x00\x04\x00"
    b"\x00\x00\x00\x00"
    b"\x00\x00\x00\x00"
    b"\x00\x00\x04\x00"
    b"\x01\x00\x00\x00"
)  # snaplen 262144, Ethernet
BE_MICRO = (
    b"\xa1\xb2\xc3\xd4"
    b"\x00\x02\x00\x04"
    b"\x00\x00\x00\x00"
    b"\x00\x00\x00\x00"
    b"\x00\x04\x00\x00"
    b"\x00\x00\x00\x01"
)
LE_NANO = b"\x4d\x3c\xb2\xa1" + LE_MICRO[4:]
BE_NANO = b"\xa1\xb2\x3c\x4d" + BE_MICRO[4:]


def le_record(sec: int, frac: int, data: bytes, wire: int | None = None) -> bytes:
    return struct.pack("<IIII", sec, frac, len(data), len(data) if wire is None else wire) + data


def be_record(sec: int, frac: int, data: bytes, wire: int | None = None) -> bytes:
    return struct.pack(">IIII", sec, frac, len(data), len(data) if wire is None else wire) + data


def summary(data: bytes, linktype: int = pcap.LINKTYPE_ETHERNET) -> PacketSummary:
    return pcap.summarize(Record(T0 * 10**9, data, len(data)), linktype)


# -- the file format ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("head", "record", "little", "nano", "time_ns"),
    [
        (LE_MICRO, le_record(T0, 123456, SYN_ACK), True, False, T0 * 10**9 + 123_456_000),
        (BE_MICRO, be_record(T0, 123456, SYN_ACK), False, False, T0 * 10**9 + 123_456_000),
        (LE_NANO, le_record(T0, 123456789, SYN_ACK), True, True, T0 * 10**9 + 123_456_789),
        (BE_NANO, be_record(T0, 123456789, SYN_ACK), False, True, T0 * 10**9 + 123_456_789),
    ],
    ids=["little-micro", "big-micro", "little-nano", "big-nano"],
)
def test_both_byte_orders_and_resolutions_are_read(
    head: bytes, record: bytes, little: bool, nano: bool, time_ns: int
) -> None:
    reader = PcapReader()
    assert reader.feed(head + record) == [Record(time_ns, SYN_ACK, len(SYN_ACK))]
    assert reader.header == pcap.FileHeader(little, nano, (2, 4), 262144, 1)
    assert (reader.pending, reader.offset) == (0, len(head) + len(record))


def test_the_writer_writes_what_the_reader_reads() -> None:
    assert pcap.file_header() == LE_MICRO
    assert pcap.file_header(nanoseconds=True, little_endian=False) == BE_NANO
    ns = T0 * 10**9 + 123_456_789
    assert pcap.record_bytes(ns, SYN_ACK) == le_record(T0, 123456, SYN_ACK)
    assert pcap.record_bytes(
        ns, SYN_ACK, nanoseconds=True, little_endian=False, wire_length=99
    ) == (be_record(T0, 123456789, SYN_ACK, wire=99))


def test_a_capture_fed_byte_by_byte_gives_the_same_records() -> None:
    data = LE_MICRO + le_record(T0, 1, SYN_ACK) + le_record(T0, 2, DATA, wire=1514)
    reader = PcapReader()
    got: list[Record] = []
    for i in range(len(data)):
        got += reader.feed(data[i : i + 1])
    assert got == [
        Record(T0 * 10**9 + 1000, SYN_ACK, len(SYN_ACK)),
        Record(T0 * 10**9 + 2000, DATA, 1514),
    ]
    assert reader.pending == 0


def test_a_record_not_yet_written_waits_for_its_bytes() -> None:
    first, second = le_record(T0, 1, SYN_ACK), le_record(T0, 2, DATA)
    reader = PcapReader()
    assert reader.feed(LE_MICRO[:10]) == []  # not even the header yet: no error
    assert reader.header is None
    cut = len(second) - 5
    assert len(reader.feed(LE_MICRO[10:] + first + second[:cut])) == 1
    assert (reader.pending, reader.offset) == (cut, len(LE_MICRO) + len(first))
    assert [r.data for r in reader.feed(second[cut:])] == [DATA]
    assert reader.pending == 0


def test_bytes_that_are_not_a_capture_are_refused() -> None:
    with pytest.raises(PcapFormatError, match=r"not a pcap capture \(it starts with 504b0304\)"):
        PcapReader().feed(b"PK\x03\x04 a zip file, not a capture")
    with pytest.raises(PcapFormatError, match="not a pcap capture"):
        PcapReader().feed(b"\x0a\x0d\x0d\x0a")  # pcapng is another format


def test_a_torn_capture_keeps_the_records_before_the_tear() -> None:
    torn = struct.pack("<IIII", T0, 3, 5_000_000, 5_000_000) + b"junk"
    reader = PcapReader()
    records = reader.feed(LE_MICRO + le_record(T0, 1, SYN_ACK) + torn)
    assert [r.data for r in records] == [SYN_ACK]
    assert reader.torn == f"a record of 5000000 bytes at byte {24 + 16 + len(SYN_ACK)}"
    assert reader.feed(le_record(T0, 4, DATA)) == []  # nothing after a tear can be trusted


# -- what a packet is --------------------------------------------------------------------------
def test_a_tcp_segment() -> None:
    p = summary(DATA)
    assert (p.network, p.src, p.sport, p.dst, p.dport) == (
        "IPv4",
        "10.52.0.2",
        40000,
        "10.52.1.2",
        8080,
    )
    assert (p.protocol, p.protocol_name, p.ttl, p.length) == (6, "TCP", 63, len(DATA))
    assert (p.flag_names, p.flag_letters) == (("PSH", "ACK"), "P.")
    assert p.payload == b"GET / HTTP/1.1\r\n"  # the first 16 bytes
    assert (p.fragment, p.truncated, p.icmp_type) == (False, False, None)
    assert summary(SYN_ACK).flag_letters == "S."
    assert summary(ether(ipv4(6, tcp(1, 2, 0x00)))).flag_letters == "none"


def test_ethernet_padding_is_not_payload() -> None:
    frame = ether(ipv4(17, udp(5353, 53, b"hi")))
    padded = frame + b"\x00" * (60 - len(frame))
    p = summary(padded)
    assert (p.sport, p.dport, p.payload, p.length) == (5353, 53, b"hi", 60)


def test_ip_options_and_vlan_tags_are_stepped_over() -> None:
    inner = ipv4(17, udp(1, 2, b"after options"), options=b"\x01\x01\x01\x00")
    tagged = MAC_B + MAC_A + b"\x81\x00\x00\x64" + b"\x08\x00" + inner
    p = summary(tagged)
    assert (p.src, p.sport, p.dport, p.payload) == ("10.52.0.2", 1, 2, b"after options")


def test_fragments_after_the_first_have_no_ports() -> None:
    first = summary(ether(ipv4(17, udp(7, 9, b"x" * 40), frag=0x2000)))  # MF, offset 0
    later = summary(ether(ipv4(17, b"rest of it", frag=185)))  # offset 1480
    assert (first.sport, first.dport, first.fragment) == (7, 9, False)
    assert (later.sport, later.dport, later.fragment, later.payload) == (
        None,
        None,
        True,
        b"rest of it",
    )
    assert (later.protocol_name, later.src) == ("UDP", "10.52.0.2")


def test_headers_a_snapshot_cut_short_are_marked_truncated() -> None:
    whole = ether(ipv4(6, tcp(40000, 8080, 0x10)))
    p = pcap.summarize(Record(0, whole[:40], len(whole)), pcap.LINKTYPE_ETHERNET)
    assert (p.src, p.dst, p.sport, p.truncated, p.length) == (
        "10.52.0.2",
        "10.52.1.2",
        None,
        True,
        54,
    )
    assert summary(whole[:20]).truncated
    assert summary(whole[:10]).truncated


def test_icmp_sctp_and_other_protocols() -> None:
    echo = summary(ether(ipv4(1, b"\x08\x00\x00\x00\x00\x01\x00\x01" + b"ping-data")))
    assert (echo.icmp_type, echo.icmp_code, echo.sport, echo.payload) == (8, 0, None, b"ping-data")
    sctp = summary(ether(ipv4(132, struct.pack(">HHII", 36412, 38412, 0, 0) + b"INIT")))
    assert (sctp.protocol_name, sctp.sport, sctp.dport, sctp.payload) == (
        "SCTP",
        36412,
        38412,
        b"INIT",
    )
    esp = summary(ether(ipv4(50, b"\x00\x00\x10\x00spi")))
    assert (esp.protocol_name, esp.sport, esp.payload) == ("ESP", None, b"\x00\x00\x10\x00spi")
    assert summary(ether(ipv4(253, b""))).protocol_name == "253"


def test_arp_and_other_ethertypes() -> None:
    arp = (
        bytes.fromhex("0001080006040001")
        + MAC_A
        + bytes([10, 128, 0, 2])
        + bytes(6)
        + bytes([10, 128, 0, 1])
    )
    p = summary(ether(arp, 0x0806))
    assert (p.network, p.src, p.dst, p.protocol, p.protocol_name) == (
        "ARP",
        "10.128.0.2",
        "10.128.0.1",
        None,
        "ARP",
    )
    lldp = summary(ether(b"\x02\x07\x04", 0x88CC))
    assert (lldp.network, lldp.src, lldp.dst) == (
        "0x88cc",
        "02:00:00:00:00:01",
        "02:00:00:00:00:02",
    )


def test_raw_ip_link_types() -> None:
    packet = ipv4(17, udp(1, 2, b"raw"))
    for linktype in (pcap.LINKTYPE_RAW, pcap.LINKTYPE_IPV4):
        p = summary(packet, linktype)
        assert (p.network, p.sport, p.payload) == ("IPv4", 1, b"raw")
    unknown = summary(packet, 239)  # NFLOG: not decoded here
    assert (unknown.network, unknown.src, unknown.payload) == ("", None, packet[:16])


# -- choosing packets --------------------------------------------------------------------------
def test_a_filter_matches_either_end() -> None:
    p = summary(DATA)  # 10.52.0.2:40000 -> 10.52.1.2:8080
    assert PacketFilter.parse("10.52.1.2", None).matches(p)
    assert PacketFilter.parse("10.52.0.2", 40000).matches(p)
    assert PacketFilter.parse("10.52.0.0/14", 8080).matches(p)
    assert PacketFilter.parse(None, None).matches(p)
    assert not PacketFilter.parse("10.52.0.3", None).matches(p)
    assert not PacketFilter.parse(None, 443).matches(p)
    assert not PacketFilter.parse("10.52.1.2", 443).matches(p)
    assert not PacketFilter.parse("fe80::/10", None).matches(p)
    lldp = summary(ether(b"\x02", 0x88CC))  # MAC addresses only: no host matches them
    assert not PacketFilter.parse("::/0", None).matches(lldp)
    assert not PacketFilter.parse("0.0.0.0/0", None).matches(lldp)


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        ("10.52.0", None, "'10.52.0' is not an IP address or CIDR range"),
        ("pod-1", None, "'pod-1' is not an IP address or CIDR range"),
        (None, 65536, "65536 is not a port: use 0-65535"),
        (None, -1, "-1 is not a port: use 0-65535"),
    ],
)
def test_a_bad_filter_is_refused_with_a_sentence(
    host: str | None, port: int | None, message: str
) -> None:
    with pytest.raises(ValueError) as err:
        PacketFilter.parse(host, port)
    assert str(err.value) == message


def test_capture_file_names() -> None:
    assert [pcap.capture_file_index(n) for n in ("capture.pcap0", "capture.pcap7")] == [0, 7]
    for other in ("capture.pcap", "capture.pcap8", "capture.pcapx", "tcpdump.log", "capture.pcap٣"):
        assert pcap.capture_file_index(other) is None
    assert pcap.capture_dir(Path("/s"), "col-collector") == Path("/s/mirror/col-collector")


# -- a capture tcpdump wrote ---------------------------------------------------------------------
_LINE = re.compile(
    r"^(?P<time>\d+\.\d+) \S+ > \S+, ethertype (?P<net>\w+) \(0x[0-9a-f]{4}\), "
    r"length (?P<length>\d+): (?P<rest>.*)$"
)
_V4 = re.compile(r"^(\d+\.\d+\.\d+\.\d+)(?:\.(\d+))? > (\d+\.\d+\.\d+\.\d+)(?:\.(\d+))?: (.*)$")
_V6 = re.compile(r"^([0-9a-f:]+) > ([0-9a-f:]+): (.*)$")
_ICMP = {
    "ICMP echo request": 8,
    "ICMP echo reply": 0,
    "ICMP6, neighbor solicitation": 135,
    "ICMP6, router solicitation": 133,
    "HBH ICMP6, multicast listener report v2": 143,
}


def tcpdump_view(line: str) -> dict[str, object]:
    """What tcpdump's line says of a packet, in the summary's terms."""
    m = _LINE.match(line)
    assert m, line
    sec, frac = m["time"].split(".")
    view: dict[str, object] = {
        "time_ns": int(sec) * 10**9 + int(frac.ljust(9, "0")),
        "network": m["net"],
        "length": int(m["length"]),
    }
    rest = m["rest"]
    if m["net"] == "ARP":
        arp = re.match(r"Request who-has (\S+) tell (\S+),|Reply (\S+) is-at", rest)
        assert arp, rest
        view["src"] = arp[2] or arp[3]
        if arp[1]:
            view["dst"] = arp[1]
        return view
    ip = _V4.match(rest) if m["net"] == "IPv4" else _V6.match(rest)
    assert ip, rest
    if m["net"] == "IPv4":
        view.update(src=ip[1], dst=ip[3], sport=_int(ip[2]), dport=_int(ip[4]))
        what = ip[5]
    else:
        view.update(src=ip[1], dst=ip[2], sport=None, dport=None)
        what = ip[3]
    flags = re.match(r"Flags \[([^\]]+)\]", what)
    if flags:
        view["flag_letters"] = flags[1]
    for text, icmp_type in _ICMP.items():
        if what.startswith(text):
            view["icmp_type"] = icmp_type
    if what.startswith("ip-proto-"):
        view.update(fragment=True, protocol=int(what.removeprefix("ip-proto-")))
    return view


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def golden(name: str) -> tuple[pcap.FileHeader | None, list[PacketSummary], list[str]]:
    reader = PcapReader()
    records = reader.feed((GOLDEN / name).read_bytes())
    assert reader.header is not None and reader.pending == 0 and reader.torn is None
    lines = (GOLDEN / f"{name}.tcpdump.txt").read_text().splitlines()
    return reader.header, [pcap.summarize(r, reader.header.linktype) for r in records], lines


@pytest.mark.parametrize("name", ["capture.pcap0", "capture-nano.pcap"])
def test_the_reader_agrees_with_tcpdump_on_every_packet(name: str) -> None:
    header, packets, lines = golden(name)
    assert header is not None and header.nanoseconds == ("nano" in name)
    assert len(packets) == len(lines) == 33
    for packet, line in zip(packets, lines, strict=True):
        view = tcpdump_view(line)
        assert {k: getattr(packet, k) for k in view} == view, line


def test_what_the_recorded_exchange_carried() -> None:
    _, packets, _ = golden("capture.pcap0")
    ipv4_packets = [p for p in packets if p.network == "IPv4"]
    assert {p.ttl for p in ipv4_packets} == {64}  # one hop: sent as received
    data = [p.payload for p in ipv4_packets if p.protocol == 6 and p.payload]
    assert data == [b"hello mirror", b"HELLO MIRROR"]
    udp_payloads = [p.payload for p in ipv4_packets if p.protocol == 17 and not p.fragment]
    assert udp_payloads == [b"udp-datagram", bytes(range(16))]
    fragments = [p for p in ipv4_packets if p.fragment]
    assert [(p.sport, p.length) for p in fragments] == [(None, 1514), (None, 154)]
    assert {p.ttl for p in packets if p.icmp_type in (133, 135)} == {255}  # neighbour discovery
    assert [p.ttl for p in packets if p.icmp_type == 143][:1] == [1]  # MLD, after hop-by-hop
