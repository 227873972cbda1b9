"""The live check of each run (``probingDetails``): probes go from the source Pod's namespace
(found in the kernel-object ledger) to the destination; what they did is set against the
analysis; and when no probe can be sent, the details say why."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.dataplane.prober import FakeProber, ProbeEndpoint
from intranode.domain import resources as R
from intranode.domain.connectivity.probing import ProbeResult, percentile
from intranode.domain.netplan import LEDGER_NETNS
from intranode.store.ledger import SqliteLedger

from .conftest import Cluster, add_firewall, run_test

DENY = {
    "name": "deny-8080",
    "priority": 900,
    "sourceRanges": ["10.0.0.0/8"],
    "denied": [{"IPProtocol": "tcp", "ports": ["8080"]}],
}


def wire(ctx: Context, pod: dict[str, Any], netns: str) -> None:
    """What the node agent records when it makes a Pod's namespace."""
    SqliteLedger(ctx.db).record(LEDGER_NETNS, "", netns, f"pod:{pod['metadata']['uid']}")


def flow(cluster: Cluster, a: dict[str, Any], b: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "source": {"ipAddress": cluster.ip(a)},
        "destination": {"ipAddress": cluster.ip(b), "port": 8080},
        **extra,
    }


def test_probes_go_from_the_pods_namespace_and_agree_with_the_analysis(
    inv_on: Cluster, client: TestClient, ctx: Context, prober: FakeProber
) -> None:
    a, b = inv_on.pod("pod-1", 0), inv_on.pod("pod-2", 0)
    wire(ctx, a, "in-p-0a01")
    wire(ctx, b, "in-p-0a02")
    latencies = tuple(range(100, 1100, 100))  # 10 probes, 100..1000 µs
    prober.results[(inv_on.ip(a), inv_on.ip(b), "TCP", 8080)] = ProbeResult(10, 10, latencies)
    test = run_test(client, "live", flow(inv_on, a, b))
    assert prober.calls == [
        (
            ProbeEndpoint(inv_on.ip(a), "in-p-0a01"),
            ProbeEndpoint(inv_on.ip(b), "in-p-0a02"),
            "TCP",
            8080,
            10,
        )
    ]
    details = test["probingDetails"]
    assert details["result"] == "REACHABLE"
    assert (details["sentProbeCount"], details["successfulProbeCount"]) == (10, 10)
    assert details["probingLatency"] == {
        "latencyPercentiles": [
            {"percent": 50, "latencyMicros": "500"},
            {"percent": 95, "latencyMicros": "1000"},
        ]
    }
    assert details["endpointInfo"]["sourceIp"] == inv_on.ip(a)
    assert details["endpointInfo"]["destinationPort"] == 8080
    assert "verifyTime" in details


@pytest.mark.parametrize(
    ("deny", "arrived", "result"),
    [
        (True, 10, "REACHABILITY_INCONSISTENT"),  # the analysis says dropped, packets arrive
        (False, 0, "REACHABILITY_INCONSISTENT"),  # the analysis says delivered, packets lost
        (False, 5, "REACHABILITY_INCONSISTENT"),  # half of them
        (True, 0, "UNREACHABLE"),
        (False, 10, "REACHABLE"),
    ],
)
def test_packets_and_analysis_disagreeing_is_inconsistent(
    inv_on: Cluster,
    client: TestClient,
    ctx: Context,
    prober: FakeProber,
    deny: bool,
    arrived: int,
    result: str,
) -> None:
    if deny:
        add_firewall(client, DENY)
    a, b = inv_on.pod("pod-1", 0), inv_on.pod("pod-2", 0)
    wire(ctx, a, "in-p-0a01")
    prober.results[(inv_on.ip(a), inv_on.ip(b), "TCP", 8080)] = ProbeResult(
        10, arrived, (7,) * arrived
    )
    test = run_test(client, "t", flow(inv_on, a, b))
    assert test["reachabilityDetails"]["result"] == ("UNREACHABLE" if deny else "REACHABLE")
    assert test["probingDetails"]["result"] == result
    assert test["probingDetails"]["successfulProbeCount"] == arrived
    assert ("probingLatency" in test["probingDetails"]) == (arrived > 0)


def test_without_the_data_plane_no_probe_is_sent(
    inv_on: Cluster, client: TestClient, ctx: Context
) -> None:
    a, b = inv_on.pod("pod-1", 0), inv_on.pod("pod-2", 0)
    details = run_test(client, "t", flow(inv_on, a, b))["probingDetails"]
    assert details["result"] == "UNDETERMINED"
    assert details["error"]["code"] == 14
    assert "--no-dataplane" in details["error"]["message"]
    assert "sentProbeCount" not in details


def test_a_source_intranode_cannot_send_from_aborts_probing(
    inv_on: Cluster, client: TestClient, prober: FakeProber
) -> None:
    b = inv_on.pod("pod-2", 0)
    body = {"source": {"ipAddress": "198.51.100.7"}, "destination": {"ipAddress": inv_on.ip(b)}}
    details = run_test(client, "t", body)["probingDetails"]
    assert (details["result"], details["abortCause"]) == ("UNDETERMINED", "NO_SOURCE_LOCATION")
    assert prober.calls == []


def test_a_pod_without_a_namespace_and_a_protocol_without_probes(
    inv_on: Cluster, client: TestClient, prober: FakeProber
) -> None:
    a, b = inv_on.pod("pod-1", 0), inv_on.pod("pod-2", 0)
    details = run_test(client, "t1", flow(inv_on, a, b))["probingDetails"]
    assert details["result"] == "UNDETERMINED" and details["error"]["code"] == 5
    assert "pod-1 has no network namespace" in details["error"]["message"]
    details = run_test(client, "t2", flow(inv_on, a, b, protocol="ESP"))["probingDetails"]
    assert details["error"] == {
        "code": 12,
        "message": "live probes are sent for TCP, UDP and ICMP, not ESP.",
    }
    assert prober.calls == []


def test_a_prober_error_is_reported_not_counted_as_loss(
    inv_on: Cluster, client: TestClient, ctx: Context, prober: FakeProber
) -> None:
    a, b = inv_on.pod("pod-1", 0), inv_on.pod("pod-2", 0)
    wire(ctx, a, "in-p-0a01")
    prober.results[(inv_on.ip(a), inv_on.ip(b), "TCP", 8080)] = ProbeResult(
        0, 0, error="network namespace in-p-0a01 does not exist", error_status="NOT_FOUND"
    )
    details = run_test(client, "t", flow(inv_on, a, b))["probingDetails"]
    assert details["result"] == "UNDETERMINED"
    assert details["error"] == {"code": 5, "message": "network namespace in-p-0a01 does not exist"}


def test_a_node_source_probes_from_the_nodes_namespace(
    inv_on: Cluster, client: TestClient, ctx: Context, prober: FakeProber
) -> None:
    b = inv_on.pod("pod-2", 1)
    node = ctx.resources.get(R.k8s_kind("nodes"), R.k8s_key(inv_on.key, "nodes", inv_on.nodes[0]))
    assert node is not None
    SqliteLedger(ctx.db).record(
        LEDGER_NETNS, "", "in-n-0b01", f"node:{node.data['metadata']['uid']}"
    )
    body = {
        "source": {"ipAddress": inv_on.node_ip(0)},
        "destination": {"ipAddress": inv_on.ip(b), "port": 8080},
    }
    test = run_test(client, "t", body)
    assert test["reachabilityDetails"]["traces"][0]["steps"][0]["state"] == "START_FROM_INSTANCE"
    assert [c[0] for c in prober.calls] == [ProbeEndpoint(inv_on.node_ip(0), "in-n-0b01")]
    assert test["probingDetails"]["result"] == "REACHABLE"


def test_nearest_rank_percentiles() -> None:
    assert percentile([5], 50) == 5
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile(list(range(1, 21)), 95) == 19
    assert percentile([30, 10, 20], 95) == 30
