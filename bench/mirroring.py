"""Packet Mirroring figures, measured in one run in namespaces of its own (root only).

The kernel tests' lab (``tests/kernel/mirroring/lab.py``: a VPC router, two nodes with
intra-node visibility, pods ``a1`` on the first node and ``b1`` on the second, a collector
backend), under the benches' own ``b<4 hex>-`` prefix, with the plan's table
(:func:`~intranode.domain.mirroring.mirroring_ruleset`) for one policy: both nodes' subnet,
the pod range, both directions. The collector runs the node agent's own capture
(:func:`~intranode.dataplane.runtime.capture.capture_argv`: tcpdump into rotating files), read
back with ``intranode mirror``'s reader. Prints JSON:

- ``burst``: ``--packets`` UDP datagrams from ``a1`` to ``b1`` across the router, sent by one
  process as fast as it can (the rate the path takes them). Counted: sent; received by ``b1``'s
  socket; copied per mirrored side (the rule counters in the router); received on the
  collector's ``eth0`` (its counter); and recorded in the capture files, per side (a copy taken
  as node 1 sent it has TTL 63, as node 2 received it TTL 62) by sequence number. Target 1.0
  per mirrored side, for the router (``router_ratio``) and the capture (``capture_ratio``);
- ``throughput_gbps``: iperf3 TCP ``a1`` to ``b1`` (through the router) with the mirroring
  table empty, loaded with the capture running, and loaded with no capture (the copies die
  at the collector's NIC: the cost of copying alone), each the median of ``--rounds``
  alternating runs, and the ratios to the empty table.

``--capture-buffer-kib N`` is an experiment: the capture with ``tcpdump -B N`` added (the node
agent runs it without, so libpcap's 2 MiB default applies).

Everything is recorded in the lab's ledger and removed by exact name at the end, whatever
happens; processes are stopped by PID.

    sudo .venv/bin/python bench/mirroring.py [--packets 100000] [--payload 64] [--seconds 3]
        [--rounds 3] [--capture-buffer-kib N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the lab lives with the kernel tests

from tests.kernel.mirroring.lab import MirrorLab  # noqa: E402

from bench.datapath import Processes, in_ns, iperf3_gbps  # noqa: E402
from intranode.cli.mirror import find_captures, records  # noqa: E402
from intranode.dataplane.runtime.capture import capture_argv  # noqa: E402
from intranode.domain import pcap  # noqa: E402
from intranode.domain.mirroring import (  # noqa: E402
    MirroringInputs,
    MirrorInstance,
    MirrorPolicy,
    mirroring_ruleset,
)
from intranode.domain.netplan import NftRuleset  # noqa: E402

NET = "projects/p/global/networks/default"
SUBNET = "projects/p/regions/us-central1/subnetworks/default"
COLLECTOR_RULE = "projects/p/regions/us-central1/forwardingRules/bench"
POD_RANGE = "10.52.0.0/14"
PORT = 7000
SIDES = {63: "egress_of_node_1", 62: "ingress_of_node_2"}  # TTL of the copy -> side

SENDER = textwrap.dedent(
    """
    import json, socket, struct, sys, time
    dst, port, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((dst, port))
    pad = b"m" * (size - 8)
    pack = struct.Struct("!Q").pack
    sent = errors = 0
    start = time.perf_counter()
    for i in range(count):
        try:
            s.send(pack(i) + pad)
            sent += 1
        except OSError:  # ENOBUFS: the path refused it; it was not sent
            errors += 1
    print(json.dumps({"sent": sent, "errors": errors, "seconds": time.perf_counter() - start}))
    """
)
RECEIVER = textwrap.dedent(
    """
    import json, socket, struct, sys
    ip, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root): past rmem_max
    s.bind((ip, port))
    seen = bytearray(count)
    got = 0
    print("ready", flush=True)
    s.settimeout(30)
    try:
        while True:
            data = s.recv(2048)
            got += 1
            seen[struct.unpack_from("!Q", data)[0]] = 1
            s.settimeout(1.0)  # the burst is over once nothing came for a second
    except socket.timeout:
        pass
    print(json.dumps({"received": got, "unique": sum(seen)}))
    """
)


@dataclass
class BenchLab(MirrorLab):
    """The kernel tests' lab under the benches' ``b<4 hex>-`` prefix (docs/naming.md)."""

    def __post_init__(self) -> None:
        self.prefix = "b" + self.prefix[1:]


def mirroring(lab: MirrorLab, enabled: bool) -> NftRuleset:
    """The router's table: one policy (the nodes' subnet, the pod range, both directions) to
    the first collector backend, or, disabled, the empty table the agent loads then."""
    nodes = tuple(
        MirrorInstance(
            f"projects/p/zones/us-central1-a/instances/node-{n.short_id}", n.router_link, SUBNET
        )
        for n in lab.nodes
    )
    backend = lab.collectors[0]
    collector = MirrorInstance(
        "projects/p/zones/us-central1-a/instances/bench-collector", backend.router_link, SUBNET
    )
    policy = MirrorPolicy(
        key="projects/p/regions/us-central1/packetMirrorings/bench",
        name="bench",
        priority=1000,
        network=NET,
        collector=COLLECTOR_RULE,
        subnetworks=(SUBNET,),
        cidr_ranges=(POD_RANGE,),
    )
    inputs = MirroringInputs(
        NET,
        (policy,) if enabled else (),
        (*nodes, collector),
        {COLLECTOR_RULE: (backend.router_link,)},
    )
    return mirroring_ruleset(inputs, lab.router.netns)


# -- counters -----------------------------------------------------------------------------------
def _out(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def link_rx(ns: str) -> dict[str, int]:
    doc = json.loads(_out(["ip", "-n", ns, "-s", "-j", "link", "show", "eth0"]))[0]
    rx = doc["stats64"]["rx"]
    return {"packets": int(rx["packets"]), "dropped": int(rx["dropped"])}


def udp_stats(ns: str) -> dict[str, int]:
    lines = [line.split() for line in _out(in_ns(ns, "cat", "/proc/net/snmp")).splitlines()]
    names, values = [line for line in lines if line[0] == "Udp:"][:2]
    return dict(zip(names[1:], map(int, values[1:]), strict=True))


def rule_counters(lab: MirrorLab) -> dict[str, int]:
    """Packets each chain's rule copied, by chain (``egress_n-<id>``, ``ingress_n-<id>``)."""
    doc = json.loads(
        _out(in_ns(lab.router.netns, "nft", "-j", "list", "table", "netdev", "vpc_mirror"))
    )
    out: dict[str, int] = {}
    for item in doc["nftables"]:
        rule = item.get("rule")
        if rule is None:
            continue
        for expr in rule["expr"]:
            if "counter" in expr:
                out[rule["chain"]] = out.get(rule["chain"], 0) + int(expr["counter"]["packets"])
    return out


# -- the node agent's capture -------------------------------------------------------------------
class Capture:
    """The production capture (``capture_argv``) in the collector's namespace, writing to
    ``<state>/mirror/<name>-collector`` as the node agent does; stopped with SIGINT so that
    tcpdump reports what it captured and what the kernel dropped."""

    def __init__(
        self, netns: str, state: Path, name: str, running: list[Capture], buffer_kib: int | None
    ) -> None:
        self.state, self.name = state, name
        self.directory = pcap.capture_dir(state, f"{name}-collector")
        self.directory.mkdir(parents=True)
        self.log = self.directory / "tcpdump.log"
        argv = capture_argv(netns, self.directory)
        if buffer_kib is not None:  # an experiment: the production capture has no -B
            argv += ["-B", str(buffer_kib)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
        running.append(self)  # so that it is stopped (by PID) whatever happens
        deadline = time.monotonic() + 10
        while "listening on" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tcpdump did not start: {self.log.read_text()!r}")
            time.sleep(0.05)

    def stop(self) -> dict[str, int]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        text = self.log.read_text()
        stats = {}
        for key, pattern in (
            ("captured", r"(\d+) packets? captured"),
            ("received_by_filter", r"(\d+) packets? received by filter"),
            ("dropped_by_kernel", r"(\d+) packets? dropped by kernel"),
        ):
            m = re.search(pattern, text)
            stats[key] = int(m[1]) if m else -1
        return stats

    def copies_by_side(self, sender: str, receiver: str) -> tuple[dict[str, int], dict[str, Any]]:
        """Distinct sequence numbers of the burst's datagrams in the capture files, per side
        (by the copy's TTL), read with ``intranode mirror``'s reader; and the files."""
        seen: dict[int, set[int]] = {ttl: set() for ttl in SIDES}
        others = 0
        captures = find_captures(self.state, self.name)
        for _, record, linktype in records(captures):
            p = pcap.summarize(record, linktype)
            if (p.src, p.dst, p.dport) == (sender, receiver, PORT) and p.ttl in seen:
                seen[p.ttl].add(int.from_bytes(p.payload[:8]))
            else:
                others += 1
        files = {f.path.name: f.size for f in captures.files}
        return {SIDES[ttl]: len(s) for ttl, s in seen.items()}, {"files": files, "other": others}


# -- measurements -------------------------------------------------------------------------------
@dataclass
class Bench:
    """One run: the lab, the processes and captures it started (stopped by PID in
    :meth:`close`), and its settings."""

    lab: MirrorLab
    state: Path
    seconds: int
    buffer_kib: int | None
    procs: Processes = field(default_factory=Processes)
    captures: list[Capture] = field(default_factory=list)

    def capture(self, name: str) -> Capture:
        backend = self.lab.collectors[0]
        return Capture(backend.netns, self.state, name, self.captures, self.buffer_kib)

    def iperf3(self) -> float:
        a1, b1 = self.lab.pods["a1"], self.lab.pods["b1"]
        return iperf3_gbps(self.procs, b1.netns, b1.ip, a1.netns, self.seconds)

    def close(self) -> None:
        try:
            self.procs.stop_all()
            for capture in self.captures:
                capture.stop()
        finally:
            self.lab.close()


def measure_burst(bench: Bench, count: int, size: int) -> dict[str, Any]:
    lab = bench.lab
    a1, b1 = lab.pods["a1"], lab.pods["b1"]
    collector = lab.collectors[0]
    lab.load(mirroring(lab, enabled=True))  # a new table: counters from zero
    capture = bench.capture("burst")
    receiver = bench.procs.start(
        b1.netns, sys.executable, "-c", RECEIVER, b1.ip, str(PORT), str(count), ready="ready"
    )
    rx_before, udp_before = link_rx(collector.netns), udp_stats(b1.netns)
    sent = json.loads(
        _out(in_ns(a1.netns, sys.executable, "-c", SENDER, b1.ip, str(PORT), str(count), str(size)))
    )
    assert receiver.stdout is not None
    received = json.loads(receiver.stdout.read())
    receiver.wait(timeout=10)
    time.sleep(0.5)  # let tcpdump drain what the kernel still holds for it
    rx_after, udp_after = link_rx(collector.netns), udp_stats(b1.netns)
    counters = rule_counters(lab)
    tcpdump = capture.stop()
    in_capture, files = capture.copies_by_side(a1.ip, b1.ip)
    n = sent["sent"]
    node_1, node_2 = (node.router_link for node in lab.nodes)
    by_rule = {
        "egress_of_node_1": counters.get(f"egress_{node_1}", 0),
        "ingress_of_node_2": counters.get(f"ingress_{node_2}", 0),
    }
    rx = rx_after["packets"] - rx_before["packets"]
    return {
        "packets": count,
        "udp_payload_bytes": size,
        "frame_bytes": 14 + 20 + 8 + size,
        "sent": n,
        "send_errors": sent["errors"],
        "send_seconds": round(sent["seconds"], 3),
        "send_pps": round(n / sent["seconds"]),
        "received_by_destination": received["unique"],
        "received_ratio": round(received["unique"] / n, 5),
        "destination_udp": {
            k: udp_after[k] - udp_before[k] for k in ("InDatagrams", "RcvbufErrors")
        },
        "mirrored": {
            side: {
                "copied_by_router_rule": by_rule[side],
                "router_ratio": round(by_rule[side] / n, 5),
                "in_capture_files": in_capture[side],
                "capture_ratio": round(in_capture[side] / n, 5),
            }
            for side in SIDES.values()
        },
        "collector_eth0": {
            "rx_packets": rx,
            "rx_dropped": rx_after["dropped"] - rx_before["dropped"],
            "ratio_to_two_per_packet": round(rx / (2 * n), 5),
        },
        "capture": {"tcpdump": tcpdump, "extra_buffer_kib": bench.buffer_kib, **files},
        "target_ratio_per_side": 1.0,
    }


def measure_throughput(bench: Bench, rounds: int) -> dict[str, Any]:
    """Each round: the table empty, then loaded, with the capture running; then loaded with
    no capture (the copies reach the collector's NIC and go no further), to tell the cost of
    copying from the cost of recording."""
    lab = bench.lab
    on, off = mirroring(lab, enabled=True), mirroring(lab, enabled=False)
    samples: dict[str, list[float]] = {"off": [], "on": [], "on_no_capture": []}
    tcpdump: dict[str, int] = {}
    for i in range(rounds):
        capture = bench.capture(f"iperf{i}")
        lab.load(off)
        samples["off"].append(bench.iperf3())
        lab.load(on)
        samples["on"].append(bench.iperf3())
        for key, value in capture.stop().items():
            tcpdump[key] = tcpdump.get(key, 0) + value
        samples["on_no_capture"].append(bench.iperf3())
    gbps = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "mirroring_off": gbps["off"],
        "mirroring_on": gbps["on"],
        "mirroring_on_no_capture": gbps["on_no_capture"],
        "ratio_on_over_off": round(gbps["on"] / gbps["off"], 3),
        "ratio_on_no_capture_over_off": round(gbps["on_no_capture"] / gbps["off"], 3),
        "samples": samples,
        "capture_tcpdump_while_on": tcpdump,
    }


def run(count: int, size: int, seconds: int, rounds: int, buffer_kib: int | None) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="intranode-bench-"))
    try:
        lab = BenchLab.create(state)  # removes what it made itself if it fails
        bench = Bench(lab, state, seconds, buffer_kib)
        try:
            # The lab's taps copy every frame of the nodes and collectors to sockets the
            # bench does not read: closed, they cost nothing.
            for sock in lab.taps.values():
                sock.close()
            lab.taps.clear()
            return {
                "prefix": lab.prefix,
                "burst": measure_burst(bench, count, size),
                "throughput_gbps": measure_throughput(bench, rounds),
                "rounds": rounds,
                "iperf3_seconds": seconds,
            }
        finally:
            bench.close()
    finally:
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--payload", type=int, default=64, help="UDP payload bytes (at least 8)")
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each, medians")
    parser.add_argument(
        "--capture-buffer-kib",
        type=int,
        default=None,
        help="an experiment: give the capture this kernel buffer (tcpdump -B); default: none, "
        "as the node agent runs it",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/mirroring.py needs root: it creates network namespaces")
    if args.payload < 8:
        sys.exit("--payload must be at least 8 bytes (the sequence number)")
    result = run(args.packets, args.payload, args.seconds, args.rounds, args.capture_buffer_kib)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
