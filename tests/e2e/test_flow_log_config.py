"""A subnet's ``logConfig`` as users set it with the real gcloud, seen in the records the
real gcloud reads back: flowSampling, aggregationInterval, the metadata modes and filterExpr.
Each change takes effect at the next interval, without a restart.

One node, the guide's two pods on it, intra-node visibility on: every connection from pod-1
to pod-2 is reported twice by the node (SRC and DEST).

Needs root (the daemon creates namespaces); CI runs as root.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import GUIDE_POD_1, GUIDE_POD_2, Daemon
from tests.e2e.pods import flow_entries, now_text, pod_ip, wait_flow_entries, wait_running

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true", reason="the data plane needs root"
    ),
]

CLUSTER = "flowcfg"
ZONE = "--zone=us-central1-a"
INTERVAL = 5  # seconds: INTERVAL_5_SEC, the default
# One TCP connection from pod-1 to pod-2 that lasts SECONDS: an HTTP/1.1 keep-alive request
# every half second over the same socket.
LONG_CONNECTION = (
    "import socket, time\n"
    "s = socket.create_connection(('{ip}', 8080))\n"
    "end = time.time() + {seconds}\n"
    "while time.time() < end:\n"
    "    s.sendall(b'GET / HTTP/1.1\\r\\nHost: pod-2\\r\\n\\r\\n')\n"
    "    s.recv(4096)\n"
    "    time.sleep(0.5)\n"
    "print(s.getsockname()[1])\n"
)


def _log_config(daemon: Daemon, *flags: str) -> None:
    daemon.gcloud(
        "compute", "networks", "subnets", "update", "default", "--region=us-central1", *flags
    )


def _wgets(daemon: Daemon, ip: str, count: int) -> None:
    daemon.kubectl(
        "exec",
        "pod-1",
        "--",
        "sh",
        "-c",
        f"for i in $(seq {count}); do wget -qO- {ip}:8080 >/dev/null; done",
    )


def _settle() -> None:
    """Wait out the interval now open and the collector's tick, so records of the requests
    made so far are written."""
    time.sleep(INTERVAL + 2.5)


def _by_reporter(entries: list[dict[str, Any]]) -> dict[str, set[int]]:
    """Source ports of pod-1's connections to pod-2:8080, per reporter."""
    out: dict[str, set[int]] = {}
    for e in entries:
        p = e["jsonPayload"]
        if p["connection"].get("dest_port") == 8080:
            out.setdefault(p["reporter"], set()).add(p["connection"]["src_port"])
    return out


@pytest.fixture(scope="module")
def pods(daemon: Daemon) -> Iterator[tuple[str, str]]:
    _log_config(daemon, "--enable-flow-logs", "--logging-flow-sampling=1.0")
    daemon.gcloud(
        "container",
        "clusters",
        "create",
        CLUSTER,
        ZONE,
        "--num-nodes=1",
        "--enable-intra-node-visibility",
    )
    daemon.gcloud("container", "clusters", "get-credentials", CLUSTER, ZONE)
    for text in (GUIDE_POD_1, GUIDE_POD_2):
        daemon.kubectl("apply", "-f", "-", input=text)
    wait_running(daemon, "pod-1", "pod-2")
    yield pod_ip(daemon, "pod-1"), pod_ip(daemon, "pod-2")
    daemon.gcloud("container", "clusters", "delete", "-q", CLUSTER, ZONE)
    # Settings can change only while logging is on (Google's rule): reset them, then turn off.
    _log_config(
        daemon,
        "--logging-flow-sampling=0.5",
        "--logging-metadata=include-all",
        "--logging-filter-expr=true",
        "--logging-aggregation-interval=interval-5-sec",
    )
    _log_config(daemon, "--no-enable-flow-logs")


@pytest.fixture
def defaults(daemon: Daemon, pods: tuple[str, str]) -> tuple[str, str]:
    """Every test starts from: logging on, every record kept, all metadata, 5-second
    intervals, no filter."""
    _log_config(
        daemon,
        "--enable-flow-logs",
        "--logging-flow-sampling=1.0",
        "--logging-metadata=include-all",
        "--logging-filter-expr=true",
        "--logging-aggregation-interval=interval-5-sec",
    )
    return pods


def test_flow_sampling_keeps_whole_connections_at_its_rate(
    daemon: Daemon, defaults: tuple[str, str]
) -> None:
    pod1, pod2 = defaults
    _log_config(daemon, "--logging-flow-sampling=0.0")
    since = now_text()
    _wgets(daemon, pod2, 5)
    _settle()
    assert flow_entries(daemon, pod1, pod2, since) == []

    _log_config(daemon, "--logging-flow-sampling=1.0")
    since = now_text()
    _wgets(daemon, pod2, 5)
    _settle()
    every = _by_reporter(wait_flow_entries(daemon, pod1, pod2, since))
    assert len(every["SRC"]) == 5 and every["SRC"] == every["DEST"]

    _log_config(daemon, "--logging-flow-sampling=0.5")
    since = now_text()
    _wgets(daemon, pod2, 30)
    _settle()
    half = _by_reporter(flow_entries(daemon, pod1, pod2, since))
    # Decided per record, on the 5-tuple: a kept connection keeps both of its reports. Of 30
    # connections, all or none kept has a chance of 2 in a billion.
    assert 0 < len(half.get("SRC", ())) < 30
    assert half.get("SRC") == half.get("DEST")


def test_aggregation_interval_sets_how_often_a_long_connection_is_reported(
    daemon: Daemon, defaults: tuple[str, str]
) -> None:
    pod1, pod2 = defaults

    def long_connection(seconds: float) -> int:
        out = daemon.kubectl(
            "exec",
            "pod-1",
            "--",
            "python3",
            "-c",
            LONG_CONNECTION.format(ip=pod2, seconds=seconds),
        ).stdout
        return int(out.strip())

    def src_records(since: str, port: int) -> list[dict[str, Any]]:
        entries = flow_entries(daemon, pod1, pod2, since, f"jsonPayload.connection.src_port={port}")
        return [e["jsonPayload"] for e in entries if e["jsonPayload"]["reporter"] == "SRC"]

    since = now_text()
    port = long_connection(11)
    _settle()
    five = src_records(since, port)
    assert len(five) >= 2, five  # 11 s of traffic spans at least three 5-second intervals
    assert len({r["start_time"] for r in five}) == len(five)

    _log_config(daemon, "--logging-aggregation-interval=interval-30-sec")
    # Start just after a 30-second boundary, so the connection falls in one interval.
    time.sleep((30 - time.time() % 30) + 1)
    since = now_text()
    port = long_connection(8)
    deadline = time.monotonic() + 45
    thirty: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not thirty:
        time.sleep(2)
        thirty = src_records(since, port)
    assert len(thirty) == 1, thirty  # one record for the whole interval
    assert int(thirty[0]["packets_sent"]) >= 16  # a request every half second for 8 s


def test_metadata_modes_strip_what_the_subnet_excludes(
    daemon: Daemon, defaults: tuple[str, str]
) -> None:
    pod1, pod2 = defaults

    def one_record() -> dict[str, Any]:
        since = now_text()
        _wgets(daemon, pod2, 1)
        entries = wait_flow_entries(daemon, pod1, pod2, since)
        assert entries
        return dict(entries[0]["jsonPayload"])

    full = one_record()
    for field in ("src_instance", "dest_instance", "src_vpc", "dest_vpc"):
        assert field in full
    assert full["src_gke_details"]["pod"]["pod_name"] == "pod-1"
    assert full["dest_gke_details"]["pod"]["pod_name"] == "pod-2"

    _log_config(daemon, "--logging-metadata=exclude-all")
    _settle()
    bare = one_record()
    assert set(bare) == {
        "connection",
        "reporter",
        "bytes_sent",
        "packets_sent",
        "start_time",
        "end_time",
    }

    _log_config(
        daemon, "--logging-metadata=custom", "--logging-metadata-fields=src_gke_details,dest_vpc"
    )
    _settle()
    custom = one_record()
    assert "src_gke_details" in custom and "dest_vpc" in custom
    for field in ("src_instance", "dest_instance", "src_vpc", "dest_gke_details"):
        assert field not in custom


def test_filter_expr_keeps_only_the_records_it_matches(
    daemon: Daemon, defaults: tuple[str, str]
) -> None:
    pod1, pod2 = defaults
    _log_config(
        daemon,
        "--logging-filter-expr=connection.protocol == 6 && src_gke_details.pod.pod_name == 'pod-1'",
    )
    _settle()
    since = now_text()
    _wgets(daemon, pod2, 1)
    daemon.kubectl("exec", "pod-1", "--", "ping", "-c2", pod2)
    _settle()
    kept = flow_entries(daemon, pod1, pod2, since)
    assert kept and all(e["jsonPayload"]["connection"]["protocol"] == 6 for e in kept)
    # The replies come from pod-2: the filter drops them.
    assert flow_entries(daemon, pod2, pod1, since) == []

    _log_config(daemon, "--logging-filter-expr=true")
    _settle()
    since = now_text()
    daemon.kubectl("exec", "pod-1", "--", "ping", "-c2", pod2)
    icmp = wait_flow_entries(daemon, pod1, pod2, since)
    assert {e["jsonPayload"]["connection"]["protocol"] for e in icmp} == {1}
