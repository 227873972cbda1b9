"""Connectivity Tests with the real gcloud, checked against real packets, and ``intranode
preflight`` checked against what the data plane does once the flag is flipped.

One cluster, two nodes: pod-1, pod-2 and pod-4 on the first, pod-3 on the second; all of
them hello-app on 8080. A rule denies tcp:8080 from pod-1's address only.

Needs root (the daemon creates namespaces); CI runs as root.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import GUIDE_POD_2, Daemon
from tests.e2e.pods import node_names, pinned, pod_ip, reaches, wait_running

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true", reason="the data plane needs root"
    ),
]

CLUSTER = "reach"
ZONE = "--zone=us-central1-a"
PODS = ("pod-1", "pod-2", "pod-3", "pod-4")


def _set_inv(daemon: Daemon, on: bool) -> None:
    flag = "--enable-intra-node-visibility" if on else "--no-enable-intra-node-visibility"
    daemon.gcloud("container", "clusters", "update", CLUSTER, ZONE, flag)


@pytest.fixture(scope="module")
def ips(daemon: Daemon) -> Iterator[dict[str, str]]:
    daemon.gcloud("container", "clusters", "create", CLUSTER, ZONE, "--num-nodes=2")
    daemon.gcloud("container", "clusters", "get-credentials", CLUSTER, ZONE)
    first, second = node_names(daemon)
    for name, node in (("pod-1", first), ("pod-2", first), ("pod-4", first), ("pod-3", second)):
        # Declared ports are what preflight reads first (and what a Service would target).
        manifest = pinned(GUIDE_POD_2, node, name) + "    ports:\n    - containerPort: 8080\n"
        daemon.kubectl("apply", "-f", "-", input=manifest)
    wait_running(daemon, *PODS)
    found = {p: pod_ip(daemon, p) for p in PODS}
    daemon.gcloud(
        "compute",
        "firewall-rules",
        "create",
        "deny-pod-1",
        "--network=default",
        "--direction=INGRESS",
        "--priority=900",
        "--action=DENY",
        "--rules=tcp:8080",
        f"--source-ranges={found['pod-1']}/32",
    )
    time.sleep(1)
    yield found
    daemon.gcloud("compute", "firewall-rules", "delete", "deny-pod-1", "-q")
    daemon.gcloud("container", "clusters", "delete", "-q", CLUSTER, ZONE)


def _connectivity_test(daemon: Daemon, name: str, src: str, dest: str) -> dict[str, Any]:
    tests = ("network-management", "connectivity-tests")
    daemon.gcloud(
        *tests,
        "create",
        name,
        f"--source-ip-address={src}",
        f"--destination-ip-address={dest}",
        "--protocol=TCP",
        "--destination-port=8080",
    )
    try:
        return dict(json.loads(daemon.gcloud(*tests, "describe", name, "--format=json").stdout))
    finally:
        daemon.gcloud(*tests, "delete", name, "-q")


def _states(test: dict[str, Any]) -> list[str]:
    trace = test["reachabilityDetails"]["traces"][0]
    return [step["state"] for step in trace["steps"]]


def test_a_denied_same_node_flow_is_unreachable_only_with_intra_node_visibility(
    daemon: Daemon, ips: dict[str, str]
) -> None:
    off = _connectivity_test(daemon, "same-node-off", ips["pod-1"], ips["pod-2"])
    assert off["reachabilityDetails"]["result"] == "REACHABLE"
    assert "APPLY_INGRESS_FIREWALL_RULE" not in _states(off)  # delivered inside the node
    assert off["probingDetails"]["result"] == "REACHABLE"
    assert reaches(daemon, "pod-1", ips["pod-2"])

    _set_inv(daemon, True)
    try:
        on = _connectivity_test(daemon, "same-node-on", ips["pod-1"], ips["pod-2"])
        assert on["reachabilityDetails"]["result"] == "UNREACHABLE"
        states = _states(on)
        assert states[-1] == "DROP"
        blocking = [
            s
            for s in on["reachabilityDetails"]["traces"][0]["steps"]
            if s["state"] == "APPLY_INGRESS_FIREWALL_RULE"
        ]
        assert blocking and blocking[-1]["firewall"]["displayName"] == "deny-pod-1"
        assert blocking[-1]["firewall"]["action"] == "DENY"
        assert on["probingDetails"]["result"] == "UNREACHABLE"
        assert not reaches(daemon, "pod-1", ips["pod-2"])
        # Another source on the same node is not denied.
        other = _connectivity_test(daemon, "same-node-other", ips["pod-4"], ips["pod-2"])
        assert other["reachabilityDetails"]["result"] == "REACHABLE"
        assert other["probingDetails"]["result"] == "REACHABLE"
    finally:
        _set_inv(daemon, False)


def test_preflight_lists_exactly_the_flows_that_break_on_enable(
    daemon: Daemon, ips: dict[str, str]
) -> None:
    r = daemon.intranode("preflight", CLUSTER, ZONE, "--format=json", check=False)
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    predicted = {
        (b["source"]["pod"], b["destination"]["pod"], b["port"])
        for b in report["breaking"]
        if b["protocol"].upper() in ("TCP", "6")
    }
    # Every ordered pair of pods on the first node, as the data plane answers it now (off)
    # and after the flag is flipped.
    pairs = [(a, b) for a in ("pod-1", "pod-2", "pod-4") for b in ("pod-1", "pod-2", "pod-4")]
    pairs = [(a, b) for a, b in pairs if a != b]
    before = {(a, b): reaches(daemon, a, ips[b]) for a, b in pairs}
    _set_inv(daemon, True)
    try:
        after = {(a, b): reaches(daemon, a, ips[b]) for a, b in pairs}
    finally:
        _set_inv(daemon, False)
    broke = {(a, b, 8080) for (a, b) in pairs if before[(a, b)] and not after[(a, b)]}
    assert broke == {("pod-1", "pod-2", 8080), ("pod-1", "pod-4", 8080)}
    assert predicted == broke
