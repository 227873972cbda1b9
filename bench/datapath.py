"""Data-plane figures, measured in one run in namespaces of its own (root only).

Prints JSON:

- ``pods``: time to build N pods on one node with :func:`intranode.domain.netplan.pod_ops`
  through :class:`~intranode.dataplane.linux.LinuxDataplane` (ms per pod, pods per second;
  target 50 pods/s, i.e. at most 20 ms a pod);
- ``throughput_gbps``: iperf3 TCP for ``--seconds`` over a bare veth pair (the ceiling), and
  same-node pod to pod with intra-node visibility off and on, each the median of ``--rounds``
  alternating runs; ``ratios`` (target: INV on / off at least 0.85);
- ``rtt_us``: a 64-byte request/response loop between the two pods, INV off and on, and the
  round-trip time intra-node visibility adds (the detour through the VPC router).

Everything it makes is recorded in a ledger of its own and torn down by exact name at the end,
whatever happens; processes are stopped by PID.

    sudo .venv/bin/python bench/datapath.py [--pods 50] [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from intranode.dataplane.linux import LinuxDataplane
from intranode.dataplane.teardown import teardown
from intranode.domain import netplan
from intranode.domain.netplan import AddAddress, CreateNetns, CreateVethPair, LinkUp
from intranode.domain.topology import KernelNames, Node
from intranode.store.db import Database
from intranode.store.ledger import SqliteLedger

RTT_SERVER = textwrap.dedent(
    """
    import socket, sys
    srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while data := conn.recv(64):
        conn.sendall(data)
    """
)
RTT_CLIENT = textwrap.dedent(
    """
    import json, socket, sys, time
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for i in range(int(sys.argv[3])):
        t = time.perf_counter_ns()
        s.sendall(b"x" * 64)
        got = 0
        while got < 64:
            got += len(s.recv(64 - got))
        samples.append((time.perf_counter_ns() - t) / 1000)
    print(json.dumps(samples[len(samples) // 10:]))
    """
)


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


class Processes:
    def __init__(self) -> None:
        self.running: list[subprocess.Popen[str]] = []

    def start(self, ns: str, *argv: str, ready: str | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(in_ns(ns, *argv), stdout=subprocess.PIPE, text=True)
        self.running.append(proc)
        if ready is not None and proc.stdout is not None:
            line = proc.stdout.readline().strip()
            if line != ready:
                raise RuntimeError(f"{argv[0]} in {ns} did not start: {line!r}")
        return proc

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def iperf3_gbps(procs: Processes, server_ns: str, server_ip: str, client_ns: str, s: int) -> float:
    server = procs.start(server_ns, "iperf3", "-s", "-1", "-B", server_ip)
    time.sleep(0.3)  # iperf3 prints nothing machine-readable when ready
    out = subprocess.run(
        in_ns(client_ns, "iperf3", "-c", server_ip, "-t", str(s), "-J"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    server.wait(timeout=10)
    bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
    return round(float(bps) / 1e9, 2)


def rtt_us(procs: Processes, server_ns: str, server_ip: str, client_ns: str) -> dict[str, float]:
    port = "9100"
    procs.start(server_ns, sys.executable, "-c", RTT_SERVER, server_ip, port, ready="ready")
    out = subprocess.run(
        in_ns(client_ns, sys.executable, "-c", RTT_CLIENT, server_ip, port, "5000"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    samples = sorted(json.loads(out))
    return {
        "p50": round(statistics.median(samples), 1),
        "p99": round(samples[int(len(samples) * 0.99)], 1),
        "mean": round(statistics.fmean(samples), 1),
    }


def build_pods(dp: LinuxDataplane, names: KernelNames, node: Node, count: int) -> float:
    """Seconds to build ``count`` pods, each one plan applied on its own as a controller would."""
    pods = [
        names.pod(f"{0xC000 + i:04x}", ip=f"10.60.{(i + 2) // 256}.{(i + 2) % 256}", node=node)
        for i in range(count)
    ]
    start = time.perf_counter()
    for pod in pods:
        dp.apply(netplan.pod_ops(pod, node), owner=f"bench-pod-{pod.short_id}")
    return time.perf_counter() - start


def run(pod_count: int, seconds: int, rounds: int) -> dict[str, Any]:
    prefix = f"b{secrets.token_hex(2)}-"
    names = KernelNames(prefix)
    state = Path(tempfile.mkdtemp(prefix="intranode-bench-"))
    db = Database(state / "state.db")
    ledger = SqliteLedger(db)
    dp = LinuxDataplane(ledger)
    procs = Processes()
    try:
        router = names.router("bench")
        node = names.node("0b01", ip="10.128.0.2", gateway="10.128.0.1", pod_cidr="10.52.0.0/24")
        a = names.pod("0c01", ip="10.52.0.2", node=node)
        b = names.pod("0c02", ip="10.52.0.3", node=node)
        dp.apply(netplan.network_ops(router, [node], [a, b]), owner="bench")

        # The ceiling: two namespaces joined by one veth pair, nothing else.
        x, y = f"{prefix}x-0001", f"{prefix}x-0002"
        dp.apply(
            [
                CreateNetns(x),
                CreateNetns(y),
                CreateVethPair(x, "eth0", y, "eth0", 1460),
                AddAddress(x, "eth0", "10.99.0.1/24"),
                AddAddress(y, "eth0", "10.99.0.2/24"),
                LinkUp(x, "eth0"),
                LinkUp(y, "eth0"),
            ],
            owner="bench",
        )
        # Alternate the configurations so drift in the machine's speed hits all of them.
        samples: dict[str, list[float]] = {"bare": [], "off": [], "on": []}
        rtts: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
        for _ in range(rounds):
            samples["bare"].append(iperf3_gbps(procs, y, "10.99.0.2", x, seconds))
            for inv in (False, True):
                key = "on" if inv else "off"
                dp.apply(netplan.inv_ops(node, inv))
                samples[key].append(iperf3_gbps(procs, b.netns, b.ip, a.netns, seconds))
                rtts[key].append(rtt_us(procs, b.netns, b.ip, a.netns))
        gbps = {k: statistics.median(v) for k, v in samples.items()}
        rtt = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in rtts.items()}

        big = names.node("0b02", ip="10.128.0.3", gateway="10.128.0.1", pod_cidr="10.60.0.0/16")
        dp.apply(netplan.node_ops(big, router), owner="bench")
        elapsed = build_pods(dp, names, big, pod_count)

        return {
            "pods": {
                "count": pod_count,
                "seconds": round(elapsed, 3),
                "ms_per_pod": round(elapsed * 1000 / pod_count, 2),
                "pods_per_second": round(pod_count / elapsed, 1),
                "target_pods_per_second": 50,
            },
            "throughput_gbps": {
                "bare_veth": gbps["bare"],
                "inv_off": gbps["off"],
                "inv_on": gbps["on"],
                "samples": samples,
            },
            "ratios": {
                "inv_on_over_off": round(gbps["on"] / gbps["off"], 3),
                "inv_off_over_bare": round(gbps["off"] / gbps["bare"], 3),
                "target_inv_on_over_off": 0.85,
            },
            "rtt_us": {
                "inv_off": rtt["off"],
                "inv_on": rtt["on"],
                "added_by_inv_p50": round(rtt["on"]["p50"] - rtt["off"]["p50"], 1),
            },
            "rounds": rounds,
            "iperf3_seconds": seconds,
        }
    finally:
        procs.stop_all()
        try:
            teardown(ledger, dp)
        finally:
            dp.close()
            db.close()
            for f in state.iterdir():
                f.unlink()
            state.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each, medians")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/datapath.py needs root: it creates network namespaces")
    print(json.dumps(run(args.pods, args.seconds, args.rounds), indent=2))


if __name__ == "__main__":
    main()
