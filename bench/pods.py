"""Pods at scale through the whole system, in one run against a daemon this script starts:
pods created per second (API call → Running, with namespaces, veths and the pod's socket),
the memory each running hello-app pod adds to the machine, and how many it holds.

Targets (issue 3): 50 pods/s, under 2 MB per hello-app pod, 1,000 running pods.

    sudo .venv/bin/python bench/pods.py [--pods 1000] [--nodes 5] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from intranode.testing import temporary_daemon

PROJECT = "bench-pods"
HELLO = "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0"


def mem_available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    raise RuntimeError("no MemAvailable")


def pod_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "hello", "image": HELLO}]},
    }


async def create_pods(kube: httpx.AsyncClient, names: list[str], clients: int) -> float:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in names:
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            name = queue.get_nowait()
            r = await kube.post("/api/v1/namespaces/default/pods", json=pod_body(name))
            if r.status_code != 201:
                raise SystemExit(f"create {name}: {r.status_code} {r.text}")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - t0


async def wait_running(kube: httpx.AsyncClient, want: int, timeout: float) -> tuple[float, dict]:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        items = (await kube.get("/api/v1/namespaces/default/pods")).json()["items"]
        running = {
            p["metadata"]["name"]: p["status"].get("podIP")
            for p in items
            if p["status"].get("phase") == "Running"
        }
        if len(running) >= want:
            return time.perf_counter() - t0, running
        await asyncio.sleep(0.2)
    raise SystemExit(f"only {len(running)} of {want} pods Running after {timeout}s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/pods.py needs root (it runs the data plane)")
    mem_before_daemon = mem_available_kib()
    with temporary_daemon(PROJECT) as d:
        auth = {"Authorization": f"Bearer {d.token}"}
        prefix = d.prefix
        with d.google() as api:
            cluster = d.create_cluster(api, "scale", nodes=args.nodes, intra_node_visibility=True)
        ca = d.state_dir.parent / "ca.pem"
        ca.write_bytes(base64.b64decode(cluster["masterAuth"]["clusterCaCertificate"]))
        time.sleep(2)  # let the node namespaces settle before the baseline
        mem_before = mem_available_kib()
        names = [f"hello-{i:04d}" for i in range(args.pods)]

        async def run() -> dict[str, Any]:
            async with httpx.AsyncClient(
                base_url=f"https://{cluster['endpoint']}",
                headers=auth,
                timeout=60,
                verify=ssl.create_default_context(cafile=str(ca)),
            ) as kube:
                t0 = time.perf_counter()
                api_s = await create_pods(kube, names, args.clients)
                _, running = await wait_running(kube, args.pods, timeout=600)
                total = time.perf_counter() - t0
                return {"api_s": api_s, "total_s": total, "running": running}

        res = asyncio.run(run())
        time.sleep(2)
        mem_after = mem_available_kib()
        sample = random.sample(sorted(res["running"].items()), min(20, args.pods))
        answered = 0
        for name, ip in sample:
            out = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    f"{prefix}v-default",
                    "wget",
                    "-qO-",
                    "-T",
                    "2",
                    "-t",
                    "1",
                    f"{ip}:8080",
                ],
                capture_output=True,
                text=True,
            ).stdout
            answered += f"Hostname: {name}" in out
        per_pod_kib = (mem_before - mem_after) / args.pods
        result = {
            "pods": args.pods,
            "nodes": args.nodes,
            "create_api_s": round(res["api_s"], 2),
            "create_to_all_running_s": round(res["total_s"], 2),
            "pods_per_s": round(args.pods / res["total_s"], 1),
            "memory_per_running_pod_kib": round(per_pod_kib, 1),
            "daemon_and_nodes_mib": round((mem_before_daemon - mem_before) / 1024, 1),
            "sample_answered": f"{answered}/{len(sample)}",
            "targets": {"pods_per_s": 50, "memory_per_pod_kib": 2048, "running_pods": 1000},
        }
        result["meets_targets"] = {
            "pods_per_s": result["pods_per_s"] >= 50,
            "memory": per_pod_kib < 2048,
            "running_pods": len(res["running"]) >= 1000 and answered == len(sample),
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
