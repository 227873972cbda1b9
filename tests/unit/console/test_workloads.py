"""Workloads: pods per node with their IPs and status, still one quick page at 1,000 pods."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from tests.unit.console.helpers import add_pod, create_cluster, node_names


def test_pods_are_listed_under_their_node_with_ip_and_status(
    client: TestClient, ctx: Context
) -> None:
    create_cluster(client, "flow-log-test", nodes="2")
    n1, n2 = sorted(node_names(ctx, "flow-log-test"))
    add_pod(ctx, "flow-log-test", "pod-1", n1, "10.0.0.13")
    add_pod(ctx, "flow-log-test", "pod-2", n2, "10.0.1.14", phase="Pending")
    html = client.get("/console/kubernetes/workloads").text
    sections = dict(re.findall(r'<h2 id="node-([^"]+)">Node [^<]+</h2>(.*?)</section>', html))
    assert set(sections) == {n1, n2}
    assert re.search(
        r"<td>pod-1</td><td>default</td><td><span class='status running'>Running</span></td>"
        r"<td>1/1</td><td>0</td><td>10\.0\.0\.13</td>",
        sections[n1],
    )
    assert "<td>pod-2</td>" in sections[n2] and "Pending" in sections[n2]
    assert "<td>pod-1</td>" not in sections[n2]
    assert "2 pods on 2 nodes of cluster flow-log-test." in html
    assert "kube-dns" not in html
    assert "kube-dns" in client.get("/console/kubernetes/workloads?system=on").text


def test_a_thousand_pods_make_one_quick_page(client: TestClient, ctx: Context) -> None:
    create_cluster(client, "big", nodes="10")
    nodes = sorted(node_names(ctx, "big"))
    for i in range(1000):
        add_pod(ctx, "big", f"web-{i:04d}", nodes[i % 10], f"10.0.{i % 10}.{i // 10 + 2}")
    started = time.monotonic()
    r = client.get("/console/kubernetes/workloads")
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert r.text.count("<tr data-filter=") == 1000
    assert "1000 pods on 10 nodes of cluster big." in r.text
    assert elapsed < 2.0, elapsed
    started = time.monotonic()
    m = client.get("/console/networking/traffic-map")
    assert m.status_code == 200 and m.text.count('data-pod="web-') == 1000
    assert time.monotonic() - started < 2.0
