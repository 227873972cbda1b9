"""Connectivity Tests and ``intranode preflight`` at scale, in process (no root, no kernel).

Builds a synthetic GKE cluster through the Container API: ``--nodes`` nodes (100) with
``--pods`` Pods each (30), every Pod declaring TCP 8080, plus ``--rules`` VPC firewall rules
(1,000): allows on other ports from random ranges, and one deny of TCP 8080 from the Pod
ranges of the first ``--blocked-nodes`` nodes (5), so that some same-node flows break once
intra-node visibility is on. Prints JSON:

- ``test_ms``: wall time of one Connectivity Test, from ``POST .../connectivityTests`` to its
  operation done (analysis, no probes: no data plane), over ``--tests`` tests between random
  Pods (half on one node, half across): median, p95, max; ``first_ms`` is the first test
  after a firewall change (the firewall model is built then; later ones reuse it);
- ``analysis_ms``: the analysis alone (world + trace) for a warm model;
- ``preflight_s``: ``intranode preflight`` of the cluster (every same-node flow checked
  against the firewall), with the number of flows checked and breaking.

Targets (issue 7): 50 ms per test, 10 s for the preflight.

    .venv/bin/python bench/connectivity.py [--nodes 100] [--pods 30] [--rules 1000]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the recording endpoints live with the unit tests

from fastapi.testclient import TestClient  # noqa: E402
from tests.unit.container.conftest import RecordingEndpoints  # noqa: E402

from intranode.api.app import create_app  # noqa: E402
from intranode.config import Settings  # noqa: E402
from intranode.controllers import connectivity, preflight  # noqa: E402
from intranode.controllers.bootstrap import bootstrap  # noqa: E402
from intranode.controllers.context import Context  # noqa: E402
from intranode.controllers.pods import create_pod  # noqa: E402
from intranode.domain import resources as R  # noqa: E402
from intranode.domain.connectivity.analysis import analyze  # noqa: E402
from intranode.domain.connectivity.spec import test_spec  # noqa: E402
from intranode.domain.firewalls import firewall_document  # noqa: E402

PROJECT = "bench-ct"
ZONE = "us-central1-a"
TOKEN = "bench"
TESTS = f"/v1/projects/{PROJECT}/locations/global/connectivityTests"


def build(
    ctx: Context, http: TestClient, nodes: int, pods: int
) -> tuple[str, dict[str, list[str]]]:
    body = {
        "cluster": {
            "name": "big",
            "nodePools": [{"name": "default-pool", "initialNodeCount": nodes, "config": {}}],
        }
    }
    r = http.post(f"/v1/projects/{PROJECT}/locations/{ZONE}/clusters", json=body)
    assert r.status_code == 200, r.text
    op = r.json()["name"]
    while (
        http.get(f"/v1/projects/{PROJECT}/locations/{ZONE}/operations/{op}").json()["status"]
        != "DONE"
    ):
        time.sleep(0.05)
    key = R.cluster_key(PROJECT, ZONE, "big")
    names = sorted(
        n.data["metadata"]["name"] for n in ctx.resources.find(R.k8s_kind("nodes"), parent=key)
    )
    by_node: dict[str, list[str]] = {}
    for i, node in enumerate(names):
        for j in range(pods):
            name = f"p-{i}-{j}"
            spec = {
                "nodeName": node,
                "containers": [{"name": "c", "image": "hello", "ports": [{"containerPort": 8080}]}],
            }
            res = create_pod(
                ctx,
                key,
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name, "namespace": "default"},
                    "spec": spec,
                },
            )
            doc = copy.deepcopy(res.data)
            doc["status"]["phase"] = "Running"
            ctx.resources.update(R.k8s_kind("pods"), res.key, doc)
            by_node.setdefault(node, []).append(doc["status"]["podIP"])
    return by_node


def add_rules(ctx: Context, count: int, blocked: list[str], rng: random.Random) -> None:
    with ctx.resources.transaction():
        for i in range(count - 1):
            body = {
                "name": f"allow-{i}",
                "network": "global/networks/default",
                "priority": 1000 + i % 50,
                "sourceRanges": [f"10.{rng.randrange(64, 128)}.{rng.randrange(256)}.0/24"],
                "allowed": [{"IPProtocol": "tcp", "ports": [str(10000 + i)]}],
            }
            doc = firewall_document(PROJECT, body, now=time.time())
            ctx.resources.create(
                R.FIREWALL, R.firewall_key(PROJECT, doc["name"]), f"projects/{PROJECT}/global", doc
            )
        deny = {
            "name": "deny-8080",
            "network": "global/networks/default",
            "priority": 900,
            "sourceRanges": blocked,
            "denied": [{"IPProtocol": "tcp", "ports": ["8080"]}],
        }
        doc = firewall_document(PROJECT, deny, now=time.time())
        ctx.resources.create(
            R.FIREWALL, R.firewall_key(PROJECT, "deny-8080"), f"projects/{PROJECT}/global", doc
        )


def one_test(ctx: Context, http: TestClient, test_id: str, src: str, dst: str) -> float:
    t0 = time.perf_counter()
    body = {"source": {"ipAddress": src}, "destination": {"ipAddress": dst, "port": 8080}}
    r = http.post(TESTS, params={"testId": test_id}, json=body)
    assert r.status_code == 200, r.text
    name = r.json()["name"].rsplit("/", 1)[-1]
    while not connectivity.get_operation(ctx, PROJECT, name).get("done"):
        time.sleep(0.0005)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--pods", type=int, default=30)
    p.add_argument("--rules", type=int, default=1000)
    p.add_argument("--blocked-nodes", type=int, default=5)
    p.add_argument("--tests", type=int, default=60)
    a = p.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context.open(Settings(state_dir=Path(tmp), port=0, project=PROJECT), TOKEN)
        bootstrap(ctx)
        ctx.endpoints = RecordingEndpoints()
        with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            t0 = time.perf_counter()
            by_node = build(ctx, http, a.nodes, a.pods)
            nodes = sorted(by_node)
            ranges = []
            for node in nodes[: a.blocked_nodes]:
                inst = ctx.resources.get(R.INSTANCE, R.instance_key(PROJECT, ZONE, node))
                assert inst is not None
                ranges.append(inst.data["networkInterfaces"][0]["aliasIpRanges"][0]["ipCidrRange"])
            add_rules(ctx, a.rules, ranges, rng)
            built = time.perf_counter() - t0

            pairs = []
            for i in range(a.tests):
                n1 = rng.choice(nodes)
                n2 = n1 if i % 2 == 0 else rng.choice(nodes)
                src, dst = rng.sample(by_node[n1], 1)[0], rng.choice([ip for ip in by_node[n2]])
                pairs.append((src, dst))
            first = one_test(ctx, http, "t-0", *pairs[0])
            times = [
                one_test(ctx, http, f"t-{i}", s, d) for i, (s, d) in enumerate(pairs[1:], start=1)
            ]
            analysis = []
            doc = ctx.resources.get(R.CONNECTIVITY_TEST, R.connectivity_test_key(PROJECT, "t-1"))
            assert doc is not None
            spec = test_spec(
                PROJECT, {k: doc.data[k] for k in ("source", "destination", "protocol")}
            )
            for _ in range(20):
                s = time.perf_counter()
                analyze(connectivity.world_for(ctx, PROJECT, spec), spec)
                analysis.append((time.perf_counter() - s) * 1000)

            s = time.perf_counter()
            report = preflight.run(ctx, PROJECT, "big", ZONE, seen_within=0)
            pre = time.perf_counter() - s
    times.sort()
    out: dict[str, Any] = {
        "nodes": a.nodes,
        "pods": a.nodes * a.pods,
        "rules": a.rules,
        "build_s": round(built, 1),
        "test_ms": {
            "first_ms": round(first, 1),
            "median": round(statistics.median(times), 1),
            "p95": round(times[int(0.95 * (len(times) - 1))], 1),
            "max": round(times[-1], 1),
            "tests": len(times) + 1,
            "target": 50,
        },
        "analysis_ms": round(statistics.median(analysis), 2),
        "preflight_s": round(pre, 2),
        "preflight_flows_checked": report["flowsChecked"],
        "preflight_flows_breaking": report["flowsBreaking"],
        "preflight_target_s": 10,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
