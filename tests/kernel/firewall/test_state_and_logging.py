"""What the differential test cannot show because it only sends first packets: replies of an
allowed connection pass whatever the rules say (and keep passing after a deny is added, as on
Google Cloud), while a new connection the other way is judged; denied packets reach nflog group
5 and allowed connections of logging rules group 6, each with the rule's key as prefix."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from intranode.domain.firewall.compile_nft import (
    ALLOWED_LOG_GROUP,
    DENIED_LOG_GROUP,
    TRACKED_COUNTER,
    compile_router_ruleset,
    counter_hits,
)
from intranode.domain.firewall.inputs import FirewallInputs, Instance, VpcRule
from intranode.domain.firewall.model import FirewallModel, Packet, RuleRef, parse_ref
from intranode.domain.firewalls import firewall_document

from .lab import NODE_SPECS, FirewallLab, in_ns

PROJECT = "fw-state"
NETWORK = f"projects/{PROJECT}/global/networks/default"
A_POD, B_POD = "10.52.0.2", "10.52.1.2"
NFULA_PREFIX = 10
LINKTYPE_NFLOG = 239


def instances() -> tuple[Instance, ...]:
    return tuple(
        Instance(f"node-{i}", i, ip, (pods,), ("gke-c1-node",)) for i, ip, pods in NODE_SPECS
    )


def rule(rule_id: str, **body: Any) -> VpcRule:
    doc = firewall_document(PROJECT, body, now=0)
    doc["id"] = rule_id
    return VpcRule.from_document(doc, PROJECT)


ALLOW_A_TO_B = rule(
    "11",
    name="allow-a-to-b",
    sourceRanges=["10.52.0.0/24"],
    allowed=[{"IPProtocol": "udp"}],
    logConfig={"enable": True},
)
DENY_TCP = rule(
    "13",
    name="deny-a-tcp",
    priority=0,
    sourceRanges=["10.52.0.0/24"],
    denied=[{"IPProtocol": "tcp"}],
)
DENY_A_TO_B = rule(
    "12", name="deny-a", priority=0, sourceRanges=["10.52.0.0/24"], denied=[{"IPProtocol": "all"}]
)


def udp(src: str, dst: str, port: int, src_node: str, dst_node: str) -> Packet:
    return Packet(src, dst, 17, port, f"node-{src_node}", f"node-{dst_node}")


def load(lab: FirewallLab, *rules: VpcRule) -> FirewallInputs:
    inputs = FirewallInputs(NETWORK, rules, instances=instances())
    lab.flush_conntrack()
    lab.load(compile_router_ruleset(inputs, lab.router.netns))
    return inputs


def test_replies_pass_and_new_connections_back_are_judged(lab: FirewallLab) -> None:
    inputs = load(lab, ALLOW_A_TO_B)
    request = ("0a01", udp(A_POD, B_POD, 53, "0a01", "0a02"))
    reply = ("0a02", udp(B_POD, A_POD, 40000, "0a02", "0a01"))
    new_back = ("0a02", udp(B_POD, A_POD, 40001, "0a02", "0a01"))
    model = FirewallModel(inputs)
    # As a new connection the reply would be denied at A (implied ingress deny).
    assert not model.evaluate(reply[1]).allowed
    assert model.evaluate(request[1]).allowed

    assert lab.send([request], {0}, sports=[40000]) == {0}
    assert lab.send([reply, new_back], {0}, sports=[53, 53]) == {0}
    hits = {k: c.packets for k, c in counter_hits(lab.counters()).items() if c.packets}
    assert hits == {
        "I:fw:11": 1,
        TRACKED_COUNTER: 1,
        "E:implied": 2,  # the request and the new connection back; the reply was tracked
        "I:implied": 1,
    }


def test_established_connections_outlive_a_new_deny(lab: FirewallLab) -> None:
    load(lab, ALLOW_A_TO_B)
    request = ("0a01", udp(A_POD, B_POD, 53, "0a01", "0a02"))
    reply = ("0a02", udp(B_POD, A_POD, 40000, "0a02", "0a01"))
    assert lab.send([request], {0}, sports=[40000]) == {0}
    assert lab.send([reply], {0}, sports=[53]) == {0}

    # The deny comes in one transaction; the tracked connection keeps going, a new one stops.
    inputs = FirewallInputs(NETWORK, (ALLOW_A_TO_B, DENY_A_TO_B), instances=instances())
    lab.load(compile_router_ruleset(inputs, lab.router.netns))
    again = ("0a01", udp(A_POD, B_POD, 53, "0a01", "0a02"))
    fresh = ("0a01", udp(A_POD, B_POD, 53, "0a01", "0a02"))
    assert lab.send([again, fresh], {0}, sports=[40000, 40003]) == {0}
    hits = {k: c.packets for k, c in counter_hits(lab.counters()).items() if c.packets}
    assert hits == {TRACKED_COUNTER: 1, "E:implied": 1, "I:fw:12": 1}


def _nflog_prefixes(path: Path) -> list[str]:
    """The NFULA_PREFIX of each packet of a pcap file tcpdump wrote from an nflog group."""
    data = path.read_bytes()
    assert struct.unpack("<I", data[20:24])[0] == LINKTYPE_NFLOG
    out, offset = [], 24
    while offset + 16 <= len(data):
        caplen = struct.unpack("<I", data[offset + 8 : offset + 12])[0]
        record = data[offset + 16 : offset + 16 + caplen]
        offset += 16 + caplen
        pos = 4  # family, version, resource id (the group)
        while pos + 4 <= len(record):
            length, kind = struct.unpack("<HH", record[pos : pos + 4])
            if kind == NFULA_PREFIX:
                out.append(record[pos + 4 : pos + length].rstrip(b"\0").decode())
            pos += (length + 3) & ~3
    return out


def test_denied_and_logged_packets_reach_nflog_with_the_rule_key(
    lab: FirewallLab, tmp_path: Path
) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("needs tcpdump")
    inputs = load(lab, ALLOW_A_TO_B, DENY_TCP)
    tcp_denied = ("0a01", Packet(A_POD, B_POD, 6, 80, "node-0a01", "node-0a02"))
    implied = ("0a02", udp(B_POD, A_POD, 9, "0a02", "0a01"))
    allowed = ("0a01", udp(A_POD, B_POD, 53, "0a01", "0a02"))
    model = FirewallModel(inputs)
    keys = [model.evaluate(p).met[-1].ref.key for _, p in (tcp_denied, implied, allowed)]
    assert keys == ["I:fw:13", "I:implied", "I:fw:11"]

    captures = {DENIED_LOG_GROUP: 2, ALLOWED_LOG_GROUP: 1}  # group -> packets to capture
    procs: dict[int, subprocess.Popen[str]] = {}
    try:
        for group, count in captures.items():
            argv = ["tcpdump", "-i", f"nflog:{group}", "-U", "-c", str(count)]
            argv += ["-w", str(tmp_path / f"{group}.pcap")]
            proc = subprocess.Popen(
                in_ns(lab.router.netns, *argv), stderr=subprocess.PIPE, text=True
            )
            procs[group] = proc
            assert proc.stderr is not None and "listening on" in proc.stderr.readline()
        assert lab.send([tcp_denied, implied, allowed], {2}) == {2}
        for proc in procs.values():
            proc.wait(timeout=5)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=5)
    assert _nflog_prefixes(tmp_path / f"{DENIED_LOG_GROUP}.pcap") == ["I:fw:13", "I:implied"]
    assert _nflog_prefixes(tmp_path / f"{ALLOWED_LOG_GROUP}.pcap") == ["I:fw:11"]
    assert parse_ref("I:fw:13") == RuleRef("INGRESS", "fw", "13")
