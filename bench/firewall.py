"""VPC firewall figures, measured in one run in namespaces of its own (root only).

Prints JSON:

- ``apply``: for 100 / 1,000 / 5,000 VPC rules (plus GKE's and the default network's) on three
  nodes of two kinds, the compile time, the number of nftables rules, and the time to apply the
  table to the router in one atomic transaction through the data plane (``nft -j -f -``; the
  median of ``--rounds`` re-applies, each replacing the previous table);
- ``model``: verdicts per second of :class:`~intranode.domain.firewall.model.FirewallModel`
  over random first packets between the nodes' addresses, for GKE's rules alone and with 1,000
  more (target 100,000 per second);
- ``throughput_gbps``: iperf3 TCP node to node through the router with no firewall table and
  with 1,000 rules (the only allow for the flow is the rule of lowest priority, so its first
  packet meets every rule), each the median of ``--rounds`` alternating runs, and their
  ratio (target at least 0.9).

Everything it makes is recorded in a ledger of its own and removed by exact name at the end,
whatever happens; iperf3 is stopped by PID.

    sudo .venv/bin/python bench/firewall.py [--sizes 100,1000,5000] [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the lab lives with the kernel tests

from tests.kernel.firewall.lab import NODE_SPECS, FirewallLab  # noqa: E402

from bench.datapath import Processes, iperf3_gbps  # noqa: E402
from intranode.domain.firewall.compile_nft import FAMILY, TABLE, compile_router_ruleset  # noqa: E402
from intranode.domain.firewall.inputs import FirewallInputs, Instance, VpcRule  # noqa: E402
from intranode.domain.firewall.model import FirewallModel, Packet  # noqa: E402
from intranode.domain.firewalls import default_firewall_bodies, firewall_document  # noqa: E402
from intranode.domain.gke_objects import firewall_bodies  # noqa: E402
from intranode.domain.netplan import DeleteNftTable  # noqa: E402

PROJECT = "fw-bench"
NETWORK = f"projects/{PROJECT}/global/networks/default"
TAG = "gke-c1-1a2b3c4d-node"
IPERF_PORT = 5201


def instances() -> tuple[Instance, ...]:
    """Two nodes of a default pool and one of a pool tagged ``web``."""
    out = []
    for n, (short_id, ip, pods) in enumerate(NODE_SPECS):
        tags = (TAG, "web") if n == 2 else (TAG,)
        out.append(Instance(f"node-{short_id}", short_id, ip, (pods,), tags, f"sa{n // 2}@x"))
    return tuple(out)


def _rule(rule_id: int, body: dict[str, Any]) -> VpcRule:
    doc = firewall_document(PROJECT, body, now=0)
    doc["id"] = str(rule_id)
    return VpcRule.from_document(doc, PROJECT)


def base_rules() -> list[VpcRule]:
    bodies = default_firewall_bodies() + firewall_bodies(
        cluster="c1",
        chash="1a2b3c4d",
        network="global/networks/default",
        pods_cidr="10.52.0.0/14",
        subnet_cidr="10.128.0.0/20",
        master_ip="34.118.0.10",
    )
    return [_rule(i + 1, b) for i, b in enumerate(bodies)]


def user_rules(count: int, seed: int = 7) -> list[VpcRule]:
    """``count`` rules that look like users' (ranges, ports, tags, both directions, both
    actions) but match none of the bench's traffic: their ranges are in 172.16.0.0/12."""
    rng = random.Random(seed)
    rules = []
    for i in range(count):
        direction = "EGRESS" if rng.random() < 0.3 else "INGRESS"
        block = f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.0/24"
        proto = rng.choice(("tcp", "udp", "tcp", "icmp", "all"))
        entry: dict[str, Any] = {"IPProtocol": proto}
        if proto in ("tcp", "udp") and rng.random() < 0.8:
            low = rng.randint(1, 60000)
            entry["ports"] = [str(low) if rng.random() < 0.5 else f"{low}-{low + 100}"]
        body: dict[str, Any] = {
            "name": f"user-{i}",
            "direction": direction,
            "priority": rng.randint(100, 60000),
            "allowed" if rng.random() < 0.5 else "denied": [entry],
        }
        body["sourceRanges" if direction == "INGRESS" else "destinationRanges"] = [block]
        if rng.random() < 0.2:
            body["targetTags"] = [rng.choice(("web", "db"))]
        rules.append(_rule(1000 + i, body))
    return rules


def firewall(count: int, extra: list[VpcRule] | None = None) -> FirewallInputs:
    return FirewallInputs(
        NETWORK, tuple(base_rules() + user_rules(count) + (extra or [])), instances=instances()
    )


# -- measurements -----------------------------------------------------------------------------
def measure_apply(lab: FirewallLab, sizes: list[int], rounds: int) -> list[dict[str, Any]]:
    out = []
    for size in sizes:
        start = time.perf_counter()
        op = compile_router_ruleset(firewall(size), lab.router.netns)
        compiled = time.perf_counter() - start
        samples = [lab.load(op) for _ in range(rounds)]
        out.append(
            {
                "vpc_rules": size,
                "nft_rules": sum(1 for c in op.commands() if "rule" in c["add"]),
                "compile_s": round(compiled, 3),
                "apply_s": round(statistics.median(samples), 3),
                "apply_samples_s": [round(s, 3) for s in samples],
            }
        )
    return out


def random_packets(count: int, seed: int = 11) -> list[Packet]:
    rng = random.Random(seed)
    nodes = instances()
    out = []
    for _ in range(count):
        s, d = rng.choice(nodes), rng.choice(nodes)
        src = (
            s.ip
            if rng.random() < 0.3
            else s.alias_ranges[0].replace(".0/24", f".{rng.randint(2, 250)}")
        )
        dst = (
            d.ip
            if rng.random() < 0.3
            else d.alias_ranges[0].replace(".0/24", f".{rng.randint(2, 250)}")
        )
        proto = rng.choice((6, 6, 6, 17, 17, 1, 132, 50))
        port = rng.choice((22, 53, 80, 443, 8080, 10255, rng.randint(1, 65535)))
        out.append(Packet(src, dst, proto, port if proto in (6, 17, 132) else None, s.name, d.name))
    return out


def measure_model(count: int) -> dict[str, Any]:
    packets = random_packets(count)
    out: dict[str, Any] = {"packets": count, "target_per_second": 100_000}
    for label, size in (("gke_rules", 0), ("gke_rules_plus_1000", 1000)):
        model = FirewallModel(firewall(size))
        start = time.perf_counter()
        allowed = sum(1 for p in packets if model.evaluate(p).allowed)
        seconds = time.perf_counter() - start
        out[label] = {
            "vpc_rules": len(model.inputs.rules),
            "verdicts_per_second": round(count / seconds),
            "allowed": allowed,
        }
    return out


def measure_throughput(lab: FirewallLab, seconds: int, rounds: int) -> dict[str, Any]:
    client, server = lab.node("0a01"), lab.node("0a02")
    allow_iperf = _rule(
        99_999,
        {
            "name": "allow-iperf",
            "priority": 65000,
            "sourceRanges": [f"{client.ip}/32"],
            "allowed": [{"IPProtocol": "tcp", "ports": [str(IPERF_PORT)]}],
        },
    )
    # Without GKE's rules, so nothing but the last rule allows the flow.
    inputs = FirewallInputs(NETWORK, tuple([*user_rules(1000), allow_iperf]), instances=instances())
    op = compile_router_ruleset(inputs, lab.router.netns)
    procs = Processes()
    samples: dict[str, list[float]] = {"no_firewall": [], "rules_1000": []}
    try:
        for _ in range(rounds):
            lab.dp.apply([DeleteNftTable(lab.router.netns, FAMILY, TABLE)])
            samples["no_firewall"].append(
                iperf3_gbps(procs, server.netns, server.ip, client.netns, seconds)
            )
            lab.load(op)
            samples["rules_1000"].append(
                iperf3_gbps(procs, server.netns, server.ip, client.netns, seconds)
            )
    finally:
        procs.stop_all()
    gbps = {k: statistics.median(v) for k, v in samples.items()}
    return {
        **gbps,
        "ratio": round(gbps["rules_1000"] / gbps["no_firewall"], 3),
        "target_ratio": 0.9,
        "samples": samples,
    }


def run(sizes: list[int], seconds: int, rounds: int, packets: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="intranode-bench-"))
    lab = FirewallLab.create(f"b{secrets.token_hex(2)}-", state, taps=False)
    try:
        result = {
            "apply": measure_apply(lab, sizes, rounds),
            "model": measure_model(packets),
            "throughput_gbps": measure_throughput(lab, seconds, rounds),
            "rounds": rounds,
            "iperf3_seconds": seconds,
        }
    finally:
        lab.close()
        for f in state.iterdir():
            f.unlink()
        state.rmdir()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each, medians")
    parser.add_argument("--packets", type=int, default=100_000, help="packets for the model")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/firewall.py needs root: it creates network namespaces")
    sizes = [int(s) for s in args.sizes.split(",")]
    print(json.dumps(run(sizes, args.seconds, args.rounds, args.packets), indent=2))


if __name__ == "__main__":
    main()
