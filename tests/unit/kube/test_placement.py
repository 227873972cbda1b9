"""Scheduling and pod addresses: node choice, host-network pods, no node, no duplicate IPs."""

from __future__ import annotations

import copy
import ipaddress
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.controllers.pods import create_pod, place_pod
from intranode.domain.kube.pods import DATA_PLANE_WAITING
from intranode.domain.resources import k8s_key, k8s_kind
from tests.unit.kube.conftest import CLUSTER_KEY, NODE, NODE_IP, POD_1, POD_CIDR, PODS_URL, add_node


def pod(name: str, **spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(POD_1)
    body["metadata"] = {"name": name, "namespace": "default"}
    body["spec"].update(spec)
    return body


def test_concurrent_creates_never_share_an_address(kube: TestClient) -> None:
    names = [f"pod-{i}" for i in range(40)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda n: kube.post(PODS_URL, json=pod(n)), names))
    assert [a.status_code for a in answers] == [201] * len(names)
    ips = [a.json()["status"]["podIP"] for a in answers]
    assert len(set(ips)) == len(ips)
    net = ipaddress.ip_network(POD_CIDR)
    assert all(ipaddress.ip_address(ip) in net for ip in ips)
    assert str(net.network_address + 1) not in ips  # the node's pod-range gateway


def test_addresses_are_reused_after_delete(kube: TestClient) -> None:
    first = kube.post(PODS_URL, json=pod("pod-1")).json()["status"]["podIP"]
    kube.post(PODS_URL, json=pod("pod-2"))
    kube.delete(f"{PODS_URL}/pod-1")
    assert kube.post(PODS_URL, json=pod("pod-3")).json()["status"]["podIP"] == first


def test_the_node_with_the_fewest_pods_that_matches_the_selector(
    ctx: Context, cluster: str
) -> None:
    add_node(ctx, "node-b", "10.52.1.0/24", "10.128.0.3", pool="b")
    create_pod(ctx, cluster, pod("pod-1"))
    second = place_pod(ctx, cluster, pod("pod-2"))
    assert second["spec"]["nodeName"] == "node-b"
    assert second["status"]["podIP"] == "10.52.1.2"
    assert second["status"]["hostIP"] == "10.128.0.3"
    pinned = place_pod(ctx, cluster, pod("pod-3", nodeSelector={"pool": "b"}))
    assert pinned["spec"]["nodeName"] == "node-b"
    explicit = place_pod(ctx, cluster, pod("pod-4", nodeName=NODE))
    assert explicit["spec"]["nodeName"] == NODE


def test_host_network_pods_take_the_node_address(ctx: Context, cluster: str) -> None:
    placed = place_pod(ctx, cluster, pod("agent", hostNetwork=True))
    assert placed["status"]["podIP"] == NODE_IP
    assert placed["status"]["hostIP"] == NODE_IP


def test_without_a_fitting_node_the_pod_is_unschedulable(ctx: Context, cluster: str) -> None:
    placed = place_pod(ctx, cluster, pod("pod-1", nodeSelector={"pool": "gpu"}))
    assert "nodeName" not in placed["spec"]
    (cond,) = placed["status"]["conditions"]
    assert cond["type"] == "PodScheduled" and cond["status"] == "False"
    assert cond["reason"] == "Unschedulable"
    assert cond["message"].startswith(
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    )
    assert "podIP" not in placed["status"]
    ctx.resources.delete(k8s_kind("nodes"), k8s_key(cluster, "nodes", NODE))
    none = place_pod(ctx, cluster, pod("pod-2"))
    assert none["status"]["conditions"][0]["message"] == "no nodes available to schedule pods"
    assert none["status"]["phase"] == "Pending"


def test_windows_nodes_are_not_chosen(ctx: Context) -> None:
    ctx.resources.put("container.cluster", CLUSTER_KEY, "x", {"name": "c", "status": "RUNNING"})
    add_node(ctx, "win", "10.52.9.0/24", "10.128.0.9", **{"kubernetes.io/os": "windows"})
    placed = place_pod(ctx, CLUSTER_KEY, pod("pod-1"))
    assert placed["status"]["conditions"][0]["reason"] == "Unschedulable"


def test_placement_is_told_in_events(kube: TestClient) -> None:
    kube.post(PODS_URL, json=pod("pod-1"))
    events = kube.get(
        "/api/v1/namespaces/default/events",
        params={"fieldSelector": "involvedObject.name=pod-1"},
    ).json()["items"]
    assert [(e["type"], e["reason"]) for e in events if e["reason"] == "Scheduled"] == [
        ("Normal", "Scheduled")
    ]
    by_reason = {e["reason"]: e for e in events}
    assert by_reason["Scheduled"]["message"] == f"Successfully assigned default/pod-1 to {NODE}"
    assert by_reason["DataPlaneNotRunning"]["message"] == DATA_PLANE_WAITING
    assert by_reason["DataPlaneNotRunning"]["type"] == "Warning"


def test_unschedulable_pods_get_a_failed_scheduling_event(kube: TestClient) -> None:
    kube.post(PODS_URL, json=pod("pod-1", nodeSelector={"pool": "gpu"}))
    (event,) = kube.get(
        "/api/v1/namespaces/default/events",
        params={"fieldSelector": "involvedObject.name=pod-1"},
    ).json()["items"]
    assert (event["type"], event["reason"]) == ("Warning", "FailedScheduling")
    assert event["message"].startswith("0/1 nodes are available")


def test_system_pods_get_only_the_scheduled_event(ctx: Context, cluster: str) -> None:
    system = pod("kube-proxy-x")
    system["metadata"]["namespace"] = "kube-system"
    create_pod(ctx, cluster, system)
    reasons = [e.data["reason"] for e in ctx.resources.find(k8s_kind("events"))]
    assert reasons == ["Scheduled"]
