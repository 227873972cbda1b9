"""Bad input through the real tools: a clear error in the tool's own format, nothing changed."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.e2e


def test_requests_without_the_token_are_refused(daemon: Daemon) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.get(
            f"{daemon.base_url}/compute/v1/projects/{daemon.project}/global/networks",
            headers=headers,
        )
        assert r.status_code == 401
        assert r.json()["error"]["status"] == "UNAUTHENTICATED"


def test_cluster_below_1_15_with_intra_node_visibility_is_refused(daemon: Daemon) -> None:
    r = daemon.gcloud(
        "container",
        "clusters",
        "create",
        "too-old",
        "--zone=us-central1-a",
        "--num-nodes=1",
        "--cluster-version=1.14",
        "--enable-intra-node-visibility",
        check=False,
    )
    assert r.returncode != 0
    assert "ERROR: (gcloud.container.clusters.create)" in r.stderr
    assert "too-old" not in daemon.gcloud("container", "clusters", "list").stdout


def test_invalid_cluster_name_is_refused(daemon: Daemon) -> None:
    r = daemon.gcloud(
        "container", "clusters", "create", "Bad_Name", "--zone=us-central1-a", check=False
    )
    assert r.returncode != 0
    assert "ERROR: (gcloud.container.clusters.create)" in r.stderr


def test_firewall_rule_with_a_bad_cidr_is_refused(daemon: Daemon) -> None:
    r = daemon.gcloud(
        "compute",
        "firewall-rules",
        "create",
        "bad-cidr",
        "--network=default",
        "--allow=tcp:80",
        "--source-ranges=10.0.0.0/33",
        check=False,
    )
    assert r.returncode != 0
    assert "ERROR: (gcloud.compute.firewall-rules.create)" in r.stderr
    listed = daemon.gcloud("compute", "firewall-rules", "list", "--format=value(name)").stdout
    assert "bad-cidr" not in listed.split()


def test_invalid_flow_sampling_changes_nothing(daemon: Daemon) -> None:
    before = yaml.safe_load(
        daemon.gcloud(
            "compute", "networks", "subnets", "describe", "default", "--region=us-east1"
        ).stdout
    )
    r = daemon.gcloud(
        "compute",
        "networks",
        "subnets",
        "update",
        "default",
        "--region=us-east1",
        "--logging-flow-sampling=1.5",
        check=False,
    )
    assert r.returncode != 0
    after = yaml.safe_load(
        daemon.gcloud(
            "compute", "networks", "subnets", "describe", "default", "--region=us-east1"
        ).stdout
    )
    assert after == before


def test_intra_node_visibility_cannot_be_turned_off_on_autopilot(daemon: Daemon) -> None:
    daemon.gcloud("container", "clusters", "create-auto", "auto-1", "--region=us-central1")
    try:
        described = yaml.safe_load(
            daemon.gcloud(
                "container", "clusters", "describe", "auto-1", "--region=us-central1"
            ).stdout
        )
        assert described["networkConfig"]["enableIntraNodeVisibility"] is True
        r = daemon.gcloud(
            "container",
            "clusters",
            "update",
            "auto-1",
            "--region=us-central1",
            "--no-enable-intra-node-visibility",
            check=False,
        )
        assert r.returncode != 0
        assert "ERROR: (gcloud.container.clusters.update)" in r.stderr
        assert "Autopilot" in r.stderr
        after = yaml.safe_load(
            daemon.gcloud(
                "container", "clusters", "describe", "auto-1", "--region=us-central1"
            ).stdout
        )
        assert after["networkConfig"]["enableIntraNodeVisibility"] is True
    finally:
        daemon.gcloud("container", "clusters", "delete", "-q", "auto-1", "--region=us-central1")


def test_malformed_manifests_are_refused_by_kubectl_and_the_server(daemon: Daemon) -> None:
    daemon.gcloud(
        "container", "clusters", "create", "bad-yaml", "--zone=us-central1-a", "--num-nodes=1"
    )
    try:
        daemon.gcloud(
            "container", "clusters", "get-credentials", "bad-yaml", "--zone=us-central1-a"
        )
        r = daemon.kubectl(
            "apply", "-f", "-", input="apiVersion: v1\nkind: Pod\n  bad: [\n", check=False
        )
        assert r.returncode != 0 and "error" in r.stderr.lower()
        # Valid YAML, invalid pod: the server refuses it with a Kubernetes Status.
        r = daemon.kubectl(
            "apply",
            "-f",
            "-",
            check=False,
            input="apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n"
            "  containers:\n  - name: c\n    image: busybox\n",
        )
        assert r.returncode != 0
        assert "Invalid" in r.stderr or "invalid" in r.stderr
        assert "Bad_Name" not in daemon.kubectl("get", "pods", "-o", "name").stdout
    finally:
        daemon.gcloud("container", "clusters", "delete", "-q", "bad-yaml", "--zone=us-central1-a")
