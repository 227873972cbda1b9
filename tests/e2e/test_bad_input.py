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
