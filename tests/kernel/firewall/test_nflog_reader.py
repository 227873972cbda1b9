"""The nflog reader on the real kernel (root): with a compiled ruleset in the lab's router,
denied packets come back from group 5 to both consumers and allowed connections of a logging
rule from group 6, each with its 5-tuple, IP length, rule key, direction and time; a reader
that dies is restarted without losing what it read; a reader a crashed run left is stopped by
exact PID and start time (until then it holds the groups); closing leaves no process; and the
firewall log writer turns what the kernel logged into stored entries.

The parsing itself (torn streams, short or foreign records) is checked on bytes, without the
lab."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from intranode.config import Settings
from intranode.controllers.bootstrap import bootstrap
from intranode.controllers.context import Context
from intranode.controllers.firewall_logs import FirewallLogWriter
from intranode.controllers.logs import ListRequest, list_entries
from intranode.dataplane.linux.conntrack import proc_start_time
from intranode.dataplane.linux.nflog import (
    Feed,
    LinuxNflogSource,
    NflogRecord,
    PcapStream,
    StreamError,
    parse_ipv4,
    parse_nflog,
)
from intranode.domain import resources as R
from intranode.domain.firewall.compile_nft import compile_router_ruleset
from intranode.domain.firewall.inputs import FirewallInputs, Instance, VpcRule
from intranode.domain.firewall.logging import LoggedPacket
from intranode.domain.firewall.model import Packet
from intranode.domain.firewalls import firewall_document
from intranode.domain.flowlogs.observations import DeniedPacket, FiveTuple, ReaderProcess
from intranode.errors import DataplaneError

from .lab import NODE_SPECS, FirewallLab

PROJECT = "fw-nflog"
NETWORK = f"projects/{PROJECT}/global/networks/default"
A_POD, B_POD, C_POD = "10.52.0.2", "10.52.1.2", "10.52.2.2"
T = TypeVar("T")


def rule(rule_id: str, **body: Any) -> VpcRule:
    doc = firewall_document(PROJECT, body, now=0)
    doc["id"] = rule_id
    return VpcRule.from_document(doc, PROJECT)


INSTANCES = tuple(Instance(f"node-{i}", i, ip, (pods,)) for i, ip, pods in NODE_SPECS)
ALLOW_UDP_LOGGED = rule(
    "21",
    name="allow-udp",
    sourceRanges=["10.52.0.0/24"],
    allowed=[{"IPProtocol": "udp"}],
    logConfig={"enable": True},
)
DENY_TCP = rule(
    "22",
    name="deny-tcp",
    priority=10,
    sourceRanges=["10.52.0.0/24"],
    denied=[{"IPProtocol": "tcp"}],
)
DENY_EGRESS_TO_C = rule(
    "23",
    name="deny-to-c",
    direction="EGRESS",
    priority=10,
    destinationRanges=["10.52.2.0/24"],
    denied=[{"IPProtocol": "udp", "ports": ["9"]}],
    logConfig={"enable": True},
)
FIREWALL = FirewallInputs(
    NETWORK, (ALLOW_UDP_LOGGED, DENY_TCP, DENY_EGRESS_TO_C), instances=INSTANCES
)


def packet(src: str, dst: str, proto: int, port: int | None, nodes: str) -> Packet:
    """``nodes``: ``"<sending node id>><receiving node id>"``."""
    sender, receiver = nodes.split(">")
    return Packet(src, dst, proto, port, f"node-{sender}", f"node-{receiver}")


@pytest.fixture
def router(lab: FirewallLab) -> str:
    if shutil.which("tcpdump") is None:
        pytest.skip("needs tcpdump")
    lab.flush_conntrack()
    lab.load(compile_router_ruleset(FIREWALL, lab.router.netns))
    return lab.router.netns


@pytest.fixture
def source() -> Iterator[LinuxNflogSource]:
    made = LinuxNflogSource()
    try:
        yield made
    finally:
        pids = [r.pid for r in made.readers().values()]
        made.close()
        assert [pid for pid in pids if proc_start_time(pid) is not None] == []


def collect(drain: Callable[[], list[T]], count: int, timeout: float = 5.0) -> list[T]:
    """Drain until ``count`` items came (the kernel hands nflog messages over in batches, at
    the latest after a second) or ``timeout`` passed; then once more for stragglers."""
    got: list[T] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += drain()
        time.sleep(0.05)
    return got + drain()


def timeless(items: list[T]) -> list[T]:
    return [dataclasses.replace(item, time=0.0) for item in items]  # type: ignore[type-var]


# -- the kernel ------------------------------------------------------------------------------------
def test_denied_and_allowed_packets_come_back_with_tuple_length_rule_and_direction(
    lab: FirewallLab, router: str, source: LinuxNflogSource
) -> None:
    source.watch(router)
    began = time.time()
    sent = [
        ("0a01", packet(A_POD, B_POD, 6, 80, "0a01>0a02")),  # ingress deny at B
        ("0a01", packet(A_POD, B_POD, 17, 53, "0a01>0a02")),  # allowed, logging on
        ("0a01", packet(A_POD, C_POD, 17, 9, "0a01>0a03")),  # egress deny at A
        ("0a02", packet(B_POD, A_POD, 1, None, "0a02>0a01")),  # implied ingress deny at A
    ]
    assert lab.send(sent, {1}, sports=[41000, 41001, 41002, 7]) == {1}
    denied = collect(lambda: source.denied(router), 3)
    for_logging = collect(lambda: source.denied_for_logging(router), 2)
    allowed = collect(lambda: source.allowed(router), 1)
    ended = time.time()
    tcp_denied = FiveTuple(6, A_POD, B_POD, 41000, 80)
    udp_denied = FiveTuple(17, A_POD, C_POD, 41002, 9)

    assert timeless(denied) == [
        DeniedPacket(0.0, tcp_denied, 40, "I:fw:22", "INGRESS"),
        DeniedPacket(0.0, udp_denied, 36, "E:fw:23", "EGRESS"),
        DeniedPacket(0.0, FiveTuple(1, B_POD, A_POD), 40, "I:implied", "INGRESS"),
    ]
    # The same packets for Firewall Rules Logging, less the implied rule's (it never logs).
    assert timeless(for_logging) == [
        LoggedPacket(
            0.0, FiveTuple(6, A_POD, B_POD, 41000, 80), 40, "I:fw:22", "INGRESS", "DENIED"
        ),
        LoggedPacket(0.0, FiveTuple(17, A_POD, C_POD, 41002, 9), 36, "E:fw:23", "EGRESS", "DENIED"),
    ]
    assert [p.time for p in for_logging] == [p.time for p in denied[:2]]
    assert timeless(allowed) == [
        LoggedPacket(0.0, FiveTuple(17, A_POD, B_POD, 41001, 53), 36, "I:fw:21", "INGRESS")
    ]
    for when in [p.time for p in denied] + [p.time for p in allowed]:
        assert began - 0.01 <= when <= ended
    feed = source.feed(router)
    assert feed is not None and feed.bad_records == 0 and feed.dropped == 0


def test_a_reader_that_dies_is_restarted_and_keeps_what_it_read(
    lab: FirewallLab, router: str, source: LinuxNflogSource
) -> None:
    source.watch(router)
    first = source.readers()[router]
    denied_tcp = ("0a01", packet(A_POD, B_POD, 6, 80, "0a01>0a02"))
    lab.send([denied_tcp], set(), sports=[42000])
    got = collect(lambda: source.denied(router), 1)
    assert [p.tuple.src_port for p in got] == [42000]

    os.kill(first.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while proc_start_time(first.pid) == first.start_time and time.monotonic() < deadline:
        time.sleep(0.01)
    assert source.denied(router) == []  # restarts it
    second = source.readers()[router]
    assert second.pid != first.pid and source.restarts == 1
    lab.send([denied_tcp], set(), sports=[42001])
    got = collect(lambda: source.denied(router), 1)
    assert [p.tuple.src_port for p in got] == [42001]


def test_a_stale_reader_holds_the_groups_until_stopped_by_exact_pid(
    router: str, source: LinuxNflogSource
) -> None:
    # ``crashed`` stands for a daemon killed while its reader ran.
    crashed = LinuxNflogSource()
    try:
        crashed.watch(router)
        stale = crashed.readers()[router]
        with pytest.raises(DataplaneError):
            source.watch(router)  # the kernel lets one listener have a group
        assert not source.stop_stale(ReaderProcess(router, stale.pid, stale.start_time + 1))
        assert proc_start_time(stale.pid) == stale.start_time  # a near miss stops nothing
        assert source.stop_stale(stale)
        deadline = time.monotonic() + 5
        while crashed.readers() and time.monotonic() < deadline:  # (reaps it: our child)
            time.sleep(0.01)
        assert proc_start_time(stale.pid) is None
        source.watch(router)
        ours = source.readers()[router]
        assert not source.stop_stale(ours)  # never our own
        assert proc_start_time(ours.pid) == ours.start_time
    finally:
        crashed.close()


def test_the_writer_turns_what_the_kernel_logged_into_entries(
    lab: FirewallLab, router: str, source: LinuxNflogSource, tmp_path: Path
) -> None:
    ctx = Context.open(Settings(state_dir=tmp_path, port=0, project=PROJECT), "token")
    try:
        bootstrap(ctx)
        subnet = R.subnetwork_key(PROJECT, "us-central1", "default")
        for inst in INSTANCES:
            nic = {
                "network": R.compute_link(NETWORK),
                "subnetwork": R.compute_link(subnet),
                "networkIP": inst.ip,
                "aliasIpRanges": [{"ipCidrRange": r} for r in inst.alias_ranges],
            }
            doc = {"name": inst.name, "networkInterfaces": [nic]}
            zone = f"projects/{PROJECT}/zones/us-central1-a"
            ctx.resources.put(R.INSTANCE, f"{zone}/instances/{inst.name}", zone, doc)
        writer = FirewallLogWriter(ctx, source)
        source.watch(router)
        sent = [
            ("0a01", packet(A_POD, B_POD, 17, 53, "0a01>0a02")),  # allowed, logging on
            ("0a01", packet(A_POD, C_POD, 17, 9, "0a01>0a03")),  # denied, logging on
            ("0a01", packet(A_POD, B_POD, 6, 80, "0a01>0a02")),  # denied, logging off
        ]
        assert lab.send(sent, {0}, sports=[43000, 43001, 43002]) == {0}
        # The flow-log collector's queue still gets every denied packet.
        denied = collect(lambda: source.denied(router), 2)
        assert [p.rule for p in denied] == ["E:fw:23", "I:fw:22"]
        written = 0
        deadline = time.monotonic() + 5
        while written < 2 and time.monotonic() < deadline:
            written += writer.tick({router: FIREWALL})
            time.sleep(0.05)
        request = ListRequest([f"projects/{PROJECT}"], filter='logName:"firewall"')
        entries = [json.loads(text) for text in list_entries(ctx, request).entries]
        summary = [
            (
                e["jsonPayload"]["disposition"],
                e["jsonPayload"]["rule_details"]["reference"],
                e["jsonPayload"]["connection"]["src_port"],
                e["jsonPayload"]["instance"]["vm_name"],
            )
            for e in entries
        ]
        assert sorted(summary) == [
            ("ALLOWED", "network:default/firewall:allow-udp", 43000, "node-0a02"),
            ("DENIED", "network:default/firewall:deny-to-c", 43001, "node-0a01"),
        ]
        writer.close()
        assert source.readers() == {}
    finally:
        ctx.db.close()


def test_a_namespace_that_does_not_exist_is_enoent(source: LinuxNflogSource) -> None:
    with pytest.raises(DataplaneError) as caught:
        source.denied("t0000-no-such-netns")
    assert caught.value.errno == 2
    assert source.readers() == {}


# -- the bytes -------------------------------------------------------------------------------------
def pcap_header(linktype: int = 239, magic: bytes = b"\xd4\xc3\xb2\xa1") -> bytes:
    return magic + struct.pack("<HHiIII", 2, 4, 0, 0, 256, linktype)


def pcap_record(data: bytes, sec: int = 1795000000, usec: int = 250000) -> bytes:
    return struct.pack("<IIII", sec, usec, len(data), len(data)) + data


def tlv(kind: int, value: bytes) -> bytes:
    body = struct.pack("<HH", 4 + len(value), kind) + value
    return body + b"\0" * (-len(body) % 4)


def nflog(group: int, prefix: bytes, payload: bytes, family: int = 2) -> bytes:
    return struct.pack(">BBH", family, 0, group) + tlv(10, prefix + b"\0") + tlv(9, payload)


def ipv4(proto: int, body: bytes, total: int | None = None) -> bytes:
    length = total if total is not None else 20 + len(body)
    return (
        struct.pack(">BBHHHBBH", 0x45, 0, length, 1, 0, 63, proto, 0)
        + bytes([10, 52, 0, 2, 10, 52, 1, 2])
        + body
    )


def test_a_stream_fed_in_pieces_gives_whole_records() -> None:
    data = pcap_header() + pcap_record(b"abc") + pcap_record(b"defgh", usec=500000)
    stream = PcapStream()
    out = []
    for i in range(len(data)):
        out += stream.feed(data[i : i + 1])
    assert out == [(1795000000.25, b"abc"), (1795000000.5, b"defgh")]


def test_a_stream_that_is_not_nflog_or_is_torn_is_refused() -> None:
    with pytest.raises(StreamError, match="link type 1"):
        PcapStream().feed(pcap_header(linktype=1))
    with pytest.raises(StreamError, match="not a pcap stream"):
        PcapStream().feed(b"\0" * 24)
    torn = pcap_header() + struct.pack("<IIII", 0, 0, 1 << 21, 1 << 21)
    with pytest.raises(StreamError, match="torn"):
        PcapStream().feed(torn)


def test_records_are_read_and_bad_ones_are_counted_not_fatal() -> None:
    udp = ipv4(17, struct.pack(">HHHH", 5000, 53, 16, 0) + b"x" * 8)
    good = parse_nflog(nflog(5, b"I:fw:7", udp))
    assert good == NflogRecord(5, 2, "I:fw:7", udp, None)
    assert parse_ipv4(udp) == (FiveTuple(17, "10.52.0.2", "10.52.1.2", 5000, 53), 36)
    # Cut by the snapshot length: the header's total length still counts.
    assert parse_ipv4(ipv4(6, struct.pack(">HH", 1, 2), total=1500)) == (
        FiveTuple(6, "10.52.0.2", "10.52.1.2", 1, 2),
        1500,
    )
    assert parse_ipv4(ipv4(6, b"\0\1")) is None  # no room for the ports
    assert parse_ipv4(b"\x60" + b"\0" * 39) is None  # IPv6
    assert parse_nflog(b"\2\0") is None
    assert parse_nflog(struct.pack(">BBH", 2, 0, 5) + struct.pack("<HH", 2, 10)) is None

    feed = Feed(limit=2)
    feed.add(good, 1.0)  # denied: both queues
    assert good is not None
    for bad in (
        dataclasses.replace(good, prefix="not-a-key"),
        dataclasses.replace(good, family=10),
        dataclasses.replace(good, group=7),
        dataclasses.replace(good, payload=b"\x45"),
    ):
        feed.add(bad, 1.0)
    assert feed.bad_records == 4
    assert timeless(feed.denied.drain()) == [
        DeniedPacket(
            0.0, FiveTuple(17, "10.52.0.2", "10.52.1.2", 5000, 53), 36, "I:fw:7", "INGRESS"
        )
    ]
    assert len(feed.denied_for_logging.drain()) == 1


def test_full_queues_drop_their_oldest_and_count_it() -> None:
    icmp = ipv4(1, b"\x08\0\0\0\0\1\0\1")
    feed = Feed(limit=2)
    for i in range(3):
        record = parse_nflog(nflog(6, b"E:fw:1", icmp))
        assert record is not None
        feed.add(record, float(i))
    assert [p.time for p in feed.allowed.drain()] == [1.0, 2.0]
    assert feed.dropped == 1
