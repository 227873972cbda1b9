"""Packet Mirroring with the real gcloud: pod traffic cloned in the VPC router to a collector
made with ``intranode mirror collector create``, read back from its pcap files with tcpdump
(what a user would open; an oracle independent of intranode's own reader).

Two nodes, intra-node visibility on: pod-1 and pod-2 on the first, pod-3 on the second.

Needs root (the daemon creates namespaces); CI runs as root.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import GUIDE_POD_1, GUIDE_POD_2, Daemon
from tests.e2e.pods import node_names, pinned, pod_ip, reaches, wait_running

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true", reason="the data plane needs root"
    ),
]

CLUSTER = "mirrors"
ZONE = "--zone=us-central1-a"
REGION = "--region=us-central1"
SETTLE = 1.0


@dataclass(frozen=True)
class Scene:
    daemon: Daemon
    pod_range: str
    pod1: str
    pod2: str
    pod3: str

    @property
    def captures(self) -> list[Path]:
        return sorted((self.daemon.state_dir / "mirror" / "col-collector").glob("capture.pcap*"))


def _tcpdump(scene: Scene, flt: str, *extra: str) -> list[str]:
    """Lines ``tcpdump -r`` prints for the packets of every capture file matching ``flt``."""
    lines: list[str] = []
    for path in scene.captures:
        out = subprocess.run(
            ["tcpdump", "-r", str(path), "-nn", *extra, flt],
            capture_output=True,
            text=True,
        ).stdout
        lines += out.splitlines()
    return lines


def _syns(scene: Scene, src: str, dst: str) -> int:
    """Copies of the SYNs from ``src`` to ``dst`` port 8080 the collector holds."""
    flt = f"src host {src} and dst host {dst} and dst port 8080 and tcp[tcpflags] == tcp-syn"
    return len(_tcpdump(scene, flt))


def _mirroring(daemon: Daemon, verb: str, *flags: str) -> None:
    daemon.gcloud("compute", "packet-mirrorings", verb, "mirror-pods", REGION, *flags)
    time.sleep(SETTLE)


def _set_inv(daemon: Daemon, on: bool) -> None:
    flag = "--enable-intra-node-visibility" if on else "--no-enable-intra-node-visibility"
    daemon.gcloud("container", "clusters", "update", CLUSTER, ZONE, flag)


@pytest.fixture(scope="module")
def scene(daemon: Daemon) -> Iterator[Scene]:
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
    first, second = node_names(daemon)
    daemon.kubectl("apply", "-f", "-", input=pinned(GUIDE_POD_1, first))
    daemon.kubectl("apply", "-f", "-", input=pinned(GUIDE_POD_2, first))
    daemon.kubectl("apply", "-f", "-", input=pinned(GUIDE_POD_2, second, "pod-3"))
    wait_running(daemon, "pod-1", "pod-2", "pod-3")
    cluster = json.loads(
        daemon.gcloud("container", "clusters", "describe", CLUSTER, ZONE, "--format=json").stdout
    )
    out = daemon.intranode("mirror", "collector", "create", "col", REGION).stdout
    rule = next(w for w in out.split() if "/forwardingRules/" in w)
    pod_range = cluster["clusterIpv4Cidr"]
    _mirroring(
        daemon,
        "create",
        "--network=default",
        f"--collector-ilb={rule}",
        "--mirrored-subnets=default",
        f"--filter-cidr-ranges={pod_range}",
        "--filter-protocols=tcp",
        "--filter-direction=both",
    )
    yield Scene(
        daemon,
        pod_range,
        pod_ip(daemon, "pod-1"),
        pod_ip(daemon, "pod-2"),
        pod_ip(daemon, "pod-3"),
    )
    daemon.gcloud("compute", "packet-mirrorings", "delete", "mirror-pods", REGION, "-q")
    daemon.intranode("mirror", "collector", "delete", "col", REGION)
    daemon.gcloud("container", "clusters", "delete", "-q", CLUSTER, ZONE)


def test_the_guides_request_reaches_the_collector_with_its_payload(scene: Scene) -> None:
    d = scene.daemon
    assert reaches(d, "pod-1", scene.pod2)
    time.sleep(0.5)
    # Same node, through the VPC: copied leaving the node and again coming back in.
    assert _syns(scene, scene.pod1, scene.pod2) == 2
    replies = _tcpdump(scene, f"src host {scene.pod2} and src port 8080", "-A")
    assert any("Hostname: pod-2" in line for line in replies)
    requests = _tcpdump(scene, f"dst host {scene.pod2} and dst port 8080", "-A")
    assert any("GET / HTTP/1.1" in line for line in requests)


def test_same_node_traffic_is_not_mirrored_without_intra_node_visibility(scene: Scene) -> None:
    d = scene.daemon
    _set_inv(d, False)
    try:
        before = _syns(scene, scene.pod1, scene.pod2)
        assert reaches(d, "pod-1", scene.pod2)
        before_cross = _syns(scene, scene.pod1, scene.pod3)
        assert reaches(d, "pod-1", scene.pod3)
        time.sleep(0.5)
        assert _syns(scene, scene.pod1, scene.pod2) == before  # it never left the node
        # Across nodes: copied leaving the first node and entering the second.
        assert _syns(scene, scene.pod1, scene.pod3) == before_cross + 2
    finally:
        _set_inv(d, True)


def test_direction_and_protocol_filters(scene: Scene) -> None:
    d = scene.daemon
    d.kubectl("exec", "pod-1", "--", "ping", "-c2", scene.pod3)
    time.sleep(0.5)
    assert _tcpdump(scene, f"icmp and host {scene.pod3}") == []  # only tcp is mirrored

    _mirroring(d, "update", "--filter-direction=ingress")
    try:
        before = _syns(scene, scene.pod1, scene.pod3)
        assert reaches(d, "pod-1", scene.pod3)
        time.sleep(0.5)
        assert _syns(scene, scene.pod1, scene.pod3) == before + 1  # only entering node 2
    finally:
        _mirroring(d, "update", "--filter-direction=both")


def test_a_disabled_policy_mirrors_nothing(scene: Scene) -> None:
    d = scene.daemon
    _mirroring(d, "update", "--no-enable")
    try:
        before = _syns(scene, scene.pod1, scene.pod3)
        assert reaches(d, "pod-1", scene.pod3)
        time.sleep(0.5)
        assert _syns(scene, scene.pod1, scene.pod3) == before
    finally:
        _mirroring(d, "update", "--enable")
    before = _syns(scene, scene.pod1, scene.pod3)
    assert reaches(d, "pod-1", scene.pod3)
    time.sleep(0.5)
    assert _syns(scene, scene.pod1, scene.pod3) == before + 2
