"""The GKE guide's commands that need no packets, verbatim, with the real gcloud and kubectl.

Order matters (it is the guide's), so the steps live in one test that reads like the guide.
"""

from __future__ import annotations

import ipaddress
import re

import pytest
import yaml

from tests.e2e.conftest import GUIDE_POD_1, GUIDE_POD_2, Daemon

pytestmark = pytest.mark.e2e


def test_the_guide_from_flow_logs_to_clean_up(daemon: Daemon) -> None:
    g, k = daemon.gcloud, daemon.kubectl

    # Before you begin: enable the Kubernetes Engine API.
    g("services", "enable", "container.googleapis.com")

    # Enable flow logs on the default subnet and check them.
    upd = g(
        "compute",
        "networks",
        "subnets",
        "update",
        "default",
        "--region=us-central1",
        "--enable-flow-logs",
    )
    assert (
        f"Updated [https://www.googleapis.com/compute/v1/projects/{daemon.project}"
        "/regions/us-central1/subnetworks/default]"
    ) in upd.stderr
    desc = yaml.safe_load(
        g("compute", "networks", "subnets", "describe", "default", "--region=us-central1").stdout
    )
    assert desc["enableFlowLogs"] is True
    assert desc["logConfig"]["enable"] is True
    assert desc["logConfig"]["aggregationInterval"] == "INTERVAL_5_SEC"

    # Create the single-node cluster with intra-node visibility.
    create = g(
        "container",
        "clusters",
        "create",
        "flow-log-test",
        "--zone=us-central1-a",
        "--num-nodes=1",
        "--enable-intra-node-visibility",
    )
    header, row = create.stdout.strip().splitlines()[:2]
    assert header.split()[:4] == ["NAME", "LOCATION", "MASTER_VERSION", "MASTER_IP"]
    assert row.split()[0] == "flow-log-test" and row.split()[1] == "us-central1-a"
    assert row.split()[-1] == "RUNNING" or "RUNNING" in row.split()
    cluster = yaml.safe_load(
        g("container", "clusters", "describe", "flow-log-test", "--zone=us-central1-a").stdout
    )
    assert cluster["networkConfig"]["enableIntraNodeVisibility"] is True
    assert cluster["status"] == "RUNNING"

    creds = g("container", "clusters", "get-credentials", "flow-log-test", "--zone=us-central1-a")
    assert "kubeconfig entry generated for flow-log-test." in creds.stderr

    # Two pods from the guide's manifests, verbatim.
    (daemon.workdir / "pod-1.yaml").write_text(GUIDE_POD_1)
    (daemon.workdir / "pod-2.yaml").write_text(GUIDE_POD_2)
    assert k("apply", "-f", "pod-1.yaml").stdout.strip() == "pod/pod-1 created"
    assert k("apply", "-f", "pod-2.yaml").stdout.strip() == "pod/pod-2 created"
    assert k("apply", "-f", "pod-1.yaml").stdout.strip() == "pod/pod-1 unchanged"

    wide = k("get", "pod", "pod-1", "pod-2", "--output", "wide").stdout.splitlines()
    assert wide[0].split() == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED",
        "NODE",
        "READINESS",
        "GATES",
    ]
    nodes = yaml.safe_load(k("get", "nodes", "-o", "yaml").stdout)["items"]
    assert len(nodes) == 1
    pod_range = ipaddress.ip_network(nodes[0]["spec"]["podCIDR"])
    ips = []
    for line, name in zip(wide[1:], ("pod-1", "pod-2"), strict=True):
        cols = line.split()
        assert cols[0] == name
        ip = ipaddress.ip_address(cols[5])
        assert ip in pod_range
        assert cols[6] == nodes[0]["metadata"]["name"]
        ips.append(ip)
    assert ips[0] != ips[1]

    # netd runs exactly while intra-node visibility is on.
    assert "netd" in k("get", "daemonsets", "-n", "kube-system").stdout
    g(
        "container",
        "clusters",
        "update",
        "flow-log-test",
        "--zone=us-central1-a",
        "--no-enable-intra-node-visibility",
    )
    off = yaml.safe_load(
        g("container", "clusters", "describe", "flow-log-test", "--zone=us-central1-a").stdout
    )
    assert not off["networkConfig"].get("enableIntraNodeVisibility", False)
    assert off["status"] == "RUNNING"
    assert not re.search(r"^netd\s", k("get", "daemonsets", "-n", "kube-system").stdout, re.M)
    # User pods keep running through the restart of cluster components.
    assert k("get", "pod", "pod-1", "-o", "jsonpath={.status.podIP}").stdout == str(ips[0])
    # The guide's form without --zone (compute/zone from the configuration).
    g("container", "clusters", "update", "flow-log-test", "--enable-intra-node-visibility")
    assert "netd" in k("get", "daemonsets", "-n", "kube-system").stdout

    # Clean up, exactly as the guide does.
    g("container", "clusters", "delete", "-q", "flow-log-test")
    listed = g("container", "clusters", "list").stdout
    assert "flow-log-test" not in listed
    g("compute", "networks", "subnets", "update", "default", "--no-enable-flow-logs")
    after = yaml.safe_load(
        g("compute", "networks", "subnets", "describe", "default", "--region=us-central1").stdout
    )
    assert after["enableFlowLogs"] is False
