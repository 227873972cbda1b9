"""Parsing what conntrack-tools 1.4.7 prints (lines captured from a router namespace)."""

from __future__ import annotations

import pytest

from intranode.dataplane.linux.conntrack import ParseError, parse_line, parse_output
from intranode.domain.flowlogs.observations import ConntrackEntry, Counters, FiveTuple

TCP_LIST = (
    "ipv4     2 tcp      6 119 TIME_WAIT src=10.251.1.2 dst=10.251.2.2 sport=33948 dport=8080 "
    "packets=6 bytes=325 src=10.251.2.2 dst=10.251.1.2 sport=8080 dport=33948 packets=4 "
    "bytes=1216 [ASSURED] mark=0 delta-time=3 use=1 id=2079284401"
)
ICMP_LIST = (
    "ipv4     2 icmp     1 29 src=10.251.1.2 dst=10.251.2.2 type=8 code=0 id=26652 packets=2 "
    "bytes=168 src=10.251.2.2 dst=10.251.1.2 type=0 code=0 id=26652 packets=2 bytes=168 mark=0 "
    "delta-time=0 use=1 id=172128844"
)
DESTROY_EVENT = (
    "[1795683908.332003]\t[DESTROY] ipv4     2 tcp      6 119 TIME_WAIT src=10.251.1.2 "
    "dst=10.251.2.2 sport=33948 dport=8080 packets=6 bytes=325 src=10.251.2.2 dst=10.251.1.2 "
    "sport=8080 dport=33948 packets=4 bytes=1216 [ASSURED] delta-time=0 id=2079284401 "
    "[USERSPACE] portid=2681804669"
)
UDP_UNREPLIED = (
    "ipv4     2 udp      17 28 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 packets=1 bytes=60 "
    "[UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5353 packets=0 bytes=0 mark=0 "
    "delta-time=2 use=1 id=77"
)
GRE = (
    "ipv4     2 gre      47 179 src=10.0.0.1 dst=10.0.0.2 srckey=0x0 dstkey=0x0 packets=3 "
    "bytes=300 src=10.0.0.2 dst=10.0.0.1 srckey=0x0 dstkey=0x0 packets=0 bytes=0 mark=0 use=1 id=9"
)


def test_a_tcp_entry_with_counters_id_and_age() -> None:
    assert parse_line(TCP_LIST) == ConntrackEntry(
        ct_id=2079284401,
        original=FiveTuple(6, "10.251.1.2", "10.251.2.2", 33948, 8080),
        reply=FiveTuple(6, "10.251.2.2", "10.251.1.2", 8080, 33948),
        orig_counters=Counters(6, 325),
        reply_counters=Counters(4, 1216),
        age=3,
    )


def test_icmp_tuples_keep_their_own_id_apart_from_the_conntrack_id() -> None:
    entry = parse_line(ICMP_LIST)
    assert entry is not None
    assert entry.ct_id == 172128844
    assert entry.original == FiveTuple(1, "10.251.1.2", "10.251.2.2")
    assert (entry.orig_counters, entry.reply_counters) == (Counters(2, 168), Counters(2, 168))


def test_a_destroy_event_carries_its_time_and_final_counters() -> None:
    entry = parse_line(DESTROY_EVENT)
    assert entry is not None
    assert entry.time == pytest.approx(1795683908.332003)
    assert entry.ct_id == 2079284401
    assert entry.reply_counters == Counters(4, 1216)


def test_unreplied_udp_and_portless_gre() -> None:
    udp = parse_line(UDP_UNREPLIED)
    gre = parse_line(GRE)
    assert udp is not None and gre is not None
    assert (udp.ct_id, udp.reply, udp.reply_counters) == (
        77,
        FiveTuple(17, "10.0.0.2", "10.0.0.1", 53, 5353),
        Counters(0, 0),
    )
    assert (gre.ct_id, gre.original, gre.age) == (9, FiveTuple(47, "10.0.0.1", "10.0.0.2"), None)


def test_summary_lines_and_blank_lines_are_not_entries() -> None:
    text = "\n".join(
        [TCP_LIST, "", "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown."]
    )
    assert [e.ct_id for e in parse_output(text)] == [2079284401]


def test_an_entry_without_an_id_is_refused() -> None:
    with pytest.raises(ParseError, match="without an id"):
        parse_line(TCP_LIST.rsplit(" id=", 1)[0])


def test_a_listing_reuses_the_entries_that_did_not_change() -> None:
    cache: dict[int, tuple[str, ConntrackEntry]] = {}
    first = parse_output(TCP_LIST + "\n" + UDP_UNREPLIED, cache)
    # A second later: the timeout and the age moved, the counters did not.
    again = parse_output(
        TCP_LIST.replace(" 119 ", " 118 ").replace("delta-time=3", "delta-time=4")
        + "\n"
        + UDP_UNREPLIED.replace("packets=1 bytes=60", "packets=2 bytes=120"),
        cache,
    )
    assert again[0] is first[0]
    assert again[1] is not first[1] and again[1].orig_counters == Counters(2, 120)
    assert set(cache) == {2079284401, 77}


# -- the XML form, with kernel timestamps (what the collector runs) -------------------------------
def _meta(direction: str, src: str, dst: str, l4: str, packets: int, nbytes: int) -> str:
    return (
        f'<meta direction="{direction}"><layer3 protonum="2" protoname="ipv4"><src>{src}</src>'
        f"<dst>{dst}</dst></layer3>{l4}<counters><packets>{packets}</packets>"
        f"<bytes>{nbytes}</bytes></counters></meta>"
    )


def _tcp4(sport: int, dport: int) -> str:
    return (
        f'<layer4 protonum="6" protoname="tcp"><sport>{sport}</sport><dport>{dport}</dport>'
        "</layer4>"
    )


XML_TCP = (
    "<flow>"
    + _meta("original", "10.251.1.2", "10.251.2.2", _tcp4(44770, 8080), 5, 272)
    + _meta("reply", "10.251.2.2", "10.251.1.2", _tcp4(8080, 44770), 5, 568)
    + '<meta direction="independent"><state>TIME_WAIT</state><timeout>119</timeout><mark>0</mark>'
    "<use>1</use><id>1137367698</id><assured/><timestamp><start>1795688203990254061</start>"
    "</timestamp><deltatime>1</deltatime></meta></flow>"
)
XML_DESTROY = (
    '<flow type="destroy">'
    + _meta("original", "10.251.1.2", "10.251.2.2", _tcp4(37814, 8080), 5, 272)
    + _meta("reply", "10.251.2.2", "10.251.1.2", _tcp4(8080, 37814), 5, 568)
    + '<meta direction="independent"><state>TIME_WAIT</state><timeout>119</timeout>'
    "<id>3447385892</id><assured/><timestamp><start>1795688209107547061</start>"
    "<stop>1795688209136348149</stop></timestamp><deltatime>0</deltatime></meta></flow> "
    "[USERSPACE] portid=19392"
)
XML_ICMP = (
    "<flow>"
    + _meta(
        "original",
        "10.251.1.2",
        "10.251.2.2",
        '<layer4 protonum="1" protoname="icmp"></layer4>',
        1,
        84,
    )
    + _meta(
        "reply",
        "10.251.2.2",
        "10.251.1.2",
        '<layer4 protonum="1" protoname="icmp"></layer4>',
        1,
        84,
    )
    + '<meta direction="independent"><timeout>29</timeout><mark>0</mark><use>1</use>'
    "<id>3759065682</id><timestamp><start>1795689495733638364</start></timestamp>"
    "<deltatime>1</deltatime></meta></flow>"
)


def test_an_xml_entry_carries_its_kernel_start_to_the_nanosecond() -> None:
    assert parse_line(XML_TCP) == ConntrackEntry(
        ct_id=1137367698,
        original=FiveTuple(6, "10.251.1.2", "10.251.2.2", 44770, 8080),
        reply=FiveTuple(6, "10.251.2.2", "10.251.1.2", 8080, 44770),
        orig_counters=Counters(5, 272),
        reply_counters=Counters(5, 568),
        age=1,
        start=1795688203990254061,
    )


def test_an_xml_destroy_event_is_timed_by_its_stop_and_keeps_its_start() -> None:
    entry = parse_line(XML_DESTROY)
    assert entry is not None
    assert entry.time == pytest.approx(1795688209.136348149)
    assert (entry.ct_id, entry.start) == (3447385892, 1795688209107547061)
    assert entry.orig_counters == Counters(5, 272)


def test_xml_icmp_has_no_ports_and_the_conntrack_id_is_the_independent_one() -> None:
    entry = parse_line(XML_ICMP)
    assert entry is not None
    assert (entry.ct_id, entry.original, entry.reply_counters) == (
        3759065682,
        FiveTuple(1, "10.251.1.2", "10.251.2.2"),
        Counters(1, 84),
    )


def test_xml_without_an_id_or_a_reply_is_refused() -> None:
    with pytest.raises(ParseError, match="without an id"):
        parse_line(XML_TCP.replace("<id>1137367698</id>", ""))
    with pytest.raises(ParseError, match="without both tuples"):
        parse_line(XML_TCP.replace('direction="reply"', 'direction="other"'))


def test_an_xml_listing_reuses_unchanged_entries_and_not_a_new_incarnation() -> None:
    cache: dict[int, tuple[str, ConntrackEntry]] = {}
    header = '<?xml version="1.0" encoding="utf-8"?>\n<conntrack>\n'
    first = parse_output(header + XML_TCP + "\n</conntrack>", cache)
    aged = XML_TCP.replace("<timeout>119</timeout>", "<timeout>118</timeout>").replace(
        "<deltatime>1</deltatime>", "<deltatime>2</deltatime>"
    )
    (again,) = parse_output(aged, cache)
    assert again is first[0]
    # The port reused: same tuple, same id and counters, but another start.
    reused = XML_TCP.replace("1795688203990254061", "1795688204500000000")
    (other,) = parse_output(reused, cache)
    assert other is not first[0] and other.start == 1795688204500000000
    grown = XML_TCP.replace(
        "<packets>5</packets><bytes>272</bytes>", "<packets>6</packets><bytes>324</bytes>"
    )
    (more,) = parse_output(grown, cache)
    assert more.orig_counters == Counters(6, 324)
    assert set(cache) == {1137367698}


def test_events_are_parsed_in_bulk_and_bad_lines_counted() -> None:
    from intranode.dataplane.linux.conntrack import parse_events

    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<conntrack>",
        XML_DESTROY,
        XML_DESTROY.replace("<id>3447385892</id>", ""),
        "</conntrack>",
    ]
    events, bad = parse_events(lines)
    assert [e.ct_id for e in events] == [3447385892] and bad == 1
