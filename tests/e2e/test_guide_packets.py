"""The guide's packets, for real: pods in namespaces, netd's intra-node visibility, the VPC
router, flow logs read with the real gcloud — and what users can see change when they flip
the flag (TTL, router counters, flow-log entries).

Needs root (the daemon creates namespaces); CI runs as root.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import GUIDE_POD_1, GUIDE_POD_2, Daemon
from tests.e2e.pods import flow_entries, now_text, pod_ip, wait_flow_entries, wait_running

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true", reason="the data plane needs root"
    ),
]

CLUSTER = "packets"
UDP_RECEIVE = (
    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
    "s.bind(('0.0.0.0', 9999)); s.settimeout(8); print(s.recvfrom(64)[0].decode())"
)
UDP_SEND = (
    "import socket, time\n"
    "for _ in range(3):\n"
    "    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'datagram', ('{ip}', 9999))\n"
    "    time.sleep(0.2)\n"
)
ZONE = "--zone=us-central1-a"


def _ttl(daemon: Daemon, src: str, dest_ip: str) -> int:
    out = daemon.kubectl("exec", src, "--", "ping", "-c1", "-W2", dest_ip).stdout
    m = re.search(r"ttl=(\d+)", out)
    assert m, out
    return int(m.group(1))


def _router_packets(daemon: Daemon) -> int:
    """Packets the VPC router forwarded (its links' rx counters)."""
    out = subprocess.run(
        ["ip", "-n", f"{daemon.prefix}v-default", "-j", "-s", "link"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(
        link["stats64"]["rx"]["packets"] for link in json.loads(out) if link["ifname"] != "lo"
    )


def _ifindex(netns: str, link: str) -> int | None:
    out = subprocess.run(
        ["ip", "-n", netns, "-j", "link", "show", link], capture_output=True, text=True
    )
    return int(json.loads(out.stdout)[0]["ifindex"]) if out.returncode == 0 else None


def _set_inv(daemon: Daemon, on: bool) -> None:
    flag = "--enable-intra-node-visibility" if on else "--no-enable-intra-node-visibility"
    daemon.gcloud("container", "clusters", "update", CLUSTER, ZONE, flag)


@pytest.fixture(scope="module")
def cluster(daemon: Daemon) -> Iterator[Daemon]:
    daemon.gcloud(
        "compute",
        "networks",
        "subnets",
        "update",
        "default",
        "--region=us-central1",
        "--enable-flow-logs",
    )
    # Google's default flowSampling (0.5) keeps about half of the connections; these tests
    # look for single requests. tests/e2e/test_flow_log_config.py tests sampling itself.
    daemon.gcloud(
        "compute",
        "networks",
        "subnets",
        "update",
        "default",
        "--region=us-central1",
        "--logging-flow-sampling=1.0",
    )
    daemon.gcloud(
        "container",
        "clusters",
        "create",
        CLUSTER,
        ZONE,
        "--num-nodes=2",
        "--enable-intra-node-visibility",
    )
    daemon.gcloud("container", "clusters", "get-credentials", CLUSTER, ZONE)
    nodes = daemon.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").stdout
    first, second = nodes.split()
    # The guide's pods, pinned to one node; a third pod on the other node.
    for text in (GUIDE_POD_1, GUIDE_POD_2):
        daemon.kubectl(
            "apply", "-f", "-", input=text.replace("spec:\n", f"spec:\n  nodeName: {first}\n", 1)
        )
    daemon.kubectl(
        "apply",
        "-f",
        "-",
        input=GUIDE_POD_2.replace("pod-2", "pod-3").replace(
            "spec:\n", f"spec:\n  nodeName: {second}\n", 1
        ),
    )
    wait_running(daemon, "pod-1", "pod-2", "pod-3")
    yield daemon
    daemon.gcloud("container", "clusters", "delete", "-q", CLUSTER, ZONE)
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{daemon.prefix}n-" not in left and f"{daemon.prefix}p-" not in left, left


def test_the_guides_request_gets_hello_app_2(cluster: Daemon) -> None:
    pod2 = pod_ip(cluster, "pod-2")
    out = cluster.kubectl("exec", "pod-1", "--", "wget", "-qO-", f"{pod2}:8080").stdout
    assert out == "Hello, world!\nVersion: 2.0.0\nHostname: pod-2\n"
    assert cluster.kubectl("exec", "pod-1", "--", "hostname").stdout.strip() == "pod-1"
    shell = cluster.kubectl("exec", "-i", "pod-1", "--", "sh", input=f"wget -qO- {pod2}:8080\n")
    assert "Version: 2.0.0" in shell.stdout


def test_ttl_and_router_counters_show_where_same_node_packets_go(cluster: Daemon) -> None:
    pod2 = pod_ip(cluster, "pod-2")
    before = _router_packets(cluster)
    assert _ttl(cluster, "pod-1", pod2) == 61  # node, VPC router, node: three hops
    assert _router_packets(cluster) - before >= 2
    _set_inv(cluster, False)
    try:
        assert _ttl(cluster, "pod-1", pod2) == 63  # veth to veth inside the node
        before = _router_packets(cluster)
        for _ in range(3):
            _ttl(cluster, "pod-1", pod2)
        assert _router_packets(cluster) - before == 0
        # Cross-node traffic crosses the VPC either way.
        assert _ttl(cluster, "pod-1", pod_ip(cluster, "pod-3")) == 61
    finally:
        _set_inv(cluster, True)


def test_tcp_udp_icmp_same_node_and_cross_node(cluster: Daemon) -> None:
    for dest in ("pod-2", "pod-3"):
        ip = pod_ip(cluster, dest)
        assert (
            "Hello" in cluster.kubectl("exec", "pod-1", "--", "wget", "-qO-", f"{ip}:8080").stdout
        )
        assert (
            " 0% packet loss"
            in cluster.kubectl("exec", "pod-1", "--", "ping", "-c2", "-W2", ip).stdout
        )
        # UDP: the destination pod waits for a datagram, the source sends a few.
        listener = subprocess.Popen(
            [cluster.kubectl_bin, "exec", dest, "--", "python3", "-c", UDP_RECEIVE],
            env=cluster.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        cluster.kubectl("exec", "pod-1", "--", "python3", "-c", UDP_SEND.format(ip=ip))
        out, _ = listener.communicate(timeout=15)
        assert "datagram" in out


def test_established_traffic_recovers_within_a_second_of_a_toggle(cluster: Daemon) -> None:
    pod2 = pod_ip(cluster, "pod-2")
    loop = subprocess.Popen(
        [
            cluster.kubectl_bin,
            "exec",
            "pod-1",
            "--",
            "sh",
            "-c",
            f"end=$(($(date +%s)+8)); while [ $(date +%s) -lt $end ]; do "
            f"if wget -qO- -T 2 {pod2}:8080 >/dev/null; then echo ok $(date +%s.%N); "
            f"else echo fail $(date +%s.%N); fi; sleep 0.05; done",
        ],
        env=cluster.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    _set_inv(cluster, False)
    time.sleep(1.5)
    _set_inv(cluster, True)
    out, _ = loop.communicate(timeout=30)
    results = [(line.split()[0], float(line.split()[1])) for line in out.splitlines()]
    assert sum(1 for r, _ in results if r == "ok") > 20
    # The longest stretch without a successful request stays under a second.
    ok_times = [t for r, t in results if r == "ok"]
    gaps = [b - a for a, b in itertools.pairwise(ok_times)]
    assert max(gaps) < 1.0, (max(gaps), results)


def test_ip_masq_agent_without_the_pod_range_breaks_same_node_traffic(cluster: Daemon) -> None:
    pod2 = pod_ip(cluster, "pod-2")
    configmap = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ip-masq-agent\n"
        "  namespace: kube-system\ndata:\n  config: |\n    nonMasqueradeCIDRs:\n"
        "    - 10.128.0.0/9\n    masqLinkLocal: false\n"
    )
    cluster.kubectl("apply", "-f", "-", input=configmap)
    try:
        time.sleep(1)
        broken = cluster.kubectl(
            "exec", "pod-1", "--", "wget", "-qO-", "-t", "1", "-T", "2", f"{pod2}:8080", check=False
        )
        assert broken.returncode != 0
        events = cluster.kubectl("get", "events", "-n", "kube-system").stdout
        assert "IntraNodeVisibilityMasquerade" in events
        desc = cluster.gcloud(
            "container", "clusters", "describe", CLUSTER, ZONE, "--format=json"
        ).stdout
        assert "nonMasqueradeCIDRs" in desc  # the cluster condition names the fix
        # With intra-node visibility off the same list does no harm (packets stay local).
        _set_inv(cluster, False)
        assert (
            "Hello"
            in cluster.kubectl(
                "exec", "pod-1", "--", "wget", "-qO-", "-t", "1", "-T", "2", f"{pod2}:8080"
            ).stdout
        )
        _set_inv(cluster, True)
    finally:
        cluster.kubectl("delete", "configmap", "-n", "kube-system", "ip-masq-agent")
    time.sleep(1)
    assert (
        "Hello"
        in cluster.kubectl(
            "exec", "pod-1", "--", "wget", "-qO-", "-t", "1", "-T", "2", f"{pod2}:8080"
        ).stdout
    )


def test_a_link_deleted_by_hand_comes_back(cluster: Daemon) -> None:
    pod2 = pod_ip(cluster, "pod-2")
    links = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    nodes = [ln.split()[0] for ln in links.splitlines() if ln.startswith(f"{cluster.prefix}n-")]
    victim = None
    for node in nodes:
        routes = subprocess.run(
            ["ip", "-n", node, "route", "get", pod2], capture_output=True, text=True
        ).stdout
        m = re.search(r"dev (p-[0-9a-f]{4})", routes)
        if m:
            victim = (node, m.group(1))
    assert victim is not None
    node, link = victim
    before = _ifindex(node, link)
    subprocess.run(["ip", "-n", node, "link", "del", link], check=True)
    deadline = time.monotonic() + 25  # the node agent checks for drift every 10 s
    while time.monotonic() < deadline and _ifindex(node, link) in (None, before):
        time.sleep(0.5)
    assert _ifindex(node, link) not in (None, before), "the deleted link did not come back"
    r = cluster.kubectl("exec", "pod-1", "--", "wget", "-qO-", "-t", "1", "-T", "2", f"{pod2}:8080")
    assert "Hostname: pod-2" in r.stdout


def test_flow_logs_see_same_node_traffic_only_with_intra_node_visibility(
    cluster: Daemon,
) -> None:
    pod1, pod2, pod3 = (pod_ip(cluster, p) for p in ("pod-1", "pod-2", "pod-3"))
    # Pods of clusters deleted earlier in the session had these addresses too: only what
    # happens from now on is this test's.
    start = now_text()
    cluster.kubectl("exec", "pod-1", "--", "wget", "-qO-", f"{pod2}:8080")
    entries = wait_flow_entries(cluster, pod1, pod2, start)
    assert entries, "the guide's request is not in the flow logs"
    # Earlier tests pinged pod-2 too: keep the guide's TCP request.
    payloads = [
        e["jsonPayload"]  # type: ignore[index]
        for e in entries
        if e["jsonPayload"]["connection"].get("dest_port") == 8080  # type: ignore[index]
    ]
    assert {p["reporter"] for p in payloads} == {"SRC", "DEST"}  # type: ignore[index]
    for p in payloads:
        assert p["connection"]["dest_port"] == 8080  # type: ignore[index]
        assert p["connection"]["protocol"] == 6  # type: ignore[index]
        assert int(p["bytes_sent"]) > 0 and int(p["packets_sent"]) > 0  # type: ignore[index]
        assert p["src_gke_details"]["pod"]["pod_name"] == "pod-1"  # type: ignore[index]

    _set_inv(cluster, False)
    try:
        since = now_text()
        time.sleep(1)
        cluster.kubectl("exec", "pod-1", "--", "wget", "-qO-", f"{pod2}:8080")
        cluster.kubectl("exec", "pod-1", "--", "wget", "-qO-", f"{pod3}:8080")
        assert wait_flow_entries(cluster, pod1, pod3, since), "cross-node must be logged"
        time.sleep(6)  # one more aggregation interval for any same-node record to show
        assert flow_entries(cluster, pod1, pod2, since) == []
    finally:
        _set_inv(cluster, True)
