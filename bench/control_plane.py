"""Control-plane figures, measured in one run against a daemon this script starts.

Prints JSON: cluster create → RUNNING time for 1 and 3 nodes, p50/p99 latency of get/list
calls under 50 concurrent clients, and the daemon's resident memory before and after.
Targets (issue 2): create under 2 s; p99 under 50 ms.

    .venv/bin/python bench/control_plane.py [--clients 50] [--requests 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from intranode.testing import Daemon, temporary_daemon

PROJECT = "bench-proj"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def timed_create(d: Daemon, api: httpx.Client, name: str, nodes: int) -> float:
    t0 = time.perf_counter()
    d.create_cluster(api, name, nodes=nodes, intra_node_visibility=True)
    return time.perf_counter() - t0


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One keep-alive GET; returns the status. A raw client, so that 50 of them in this
    process cost far less CPU than the daemon they measure (httpx would dominate)."""
    writer.write(request)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def latency(port: int, token: str, clients: int, per_client: int) -> dict[str, float]:
    paths = [
        f"/compute/v1/projects/{PROJECT}/regions/us-central1/subnetworks/default",
        f"/compute/v1/projects/{PROJECT}/global/firewalls",
        f"/v1/projects/{PROJECT}/locations/us-central1-a/clusters/bench-1",
        f"/v1/projects/{PROJECT}/locations/-/clusters",
    ]
    requests = [
        f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        for p in paths
    ]
    samples: list[float] = []

    async def one(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for j in range(per_client):
                t0 = time.perf_counter()
                status = await _get(reader, writer, requests[(i + j) % len(requests)])
                samples.append(time.perf_counter() - t0)
                if status != 200:
                    raise SystemExit(f"GET answered {status}")
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(clients)))
    wall = time.perf_counter() - t0
    samples.sort()
    return {
        "requests": len(samples),
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1] * 1000, 2),
        "max_ms": round(samples[-1] * 1000, 2),
        "requests_per_s": round(len(samples) / wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=40, help="per client")
    ap.add_argument(
        "--no-dataplane",
        dest="dataplane",
        action="store_false",
        help="measure the APIs alone (default: with the data plane, as users run it)",
    )
    ap.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds to let the node agent build the new clusters' namespaces before the "
        "latency run, so that it measures the API, not the agent",
    )
    args = ap.parse_args()
    with temporary_daemon(PROJECT, dataplane=args.dataplane) as d:
        pid, port, token = d.pid, d.port, d.token
        rss_idle = rss_kib(pid)
        with d.google() as api:
            create_1 = [timed_create(d, api, f"bench-{i}", 1) for i in (1, 2, 3)]
            create_3 = [timed_create(d, api, f"bench3-{i}", 3) for i in (1, 2, 3)]
        time.sleep(args.settle)
        lat = asyncio.run(latency(port, token, args.clients, args.requests))
        result: dict[str, Any] = {
            "create_running_s": {
                "1_node": {
                    "median": round(statistics.median(create_1), 3),
                    "runs": [round(x, 3) for x in create_1],
                },
                "3_nodes": {
                    "median": round(statistics.median(create_3), 3),
                    "runs": [round(x, 3) for x in create_3],
                },
            },
            "get_list_latency": {"clients": args.clients, "dataplane": args.dataplane, **lat},
            "daemon_rss_mib": {
                "idle": round(rss_idle / 1024, 1),
                "after_6_clusters": round(rss_kib(pid) / 1024, 1),
            },
            "targets": {"create_s": 2.0, "p99_ms": 50.0},
        }
        result["meets_targets"] = {
            "create": max(create_1 + create_3) < 2.0,
            "p99": lat["p99_ms"] < 50.0,
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
