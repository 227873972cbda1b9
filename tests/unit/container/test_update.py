"""Updating a cluster: intra-node visibility on and off, and the updates that are refused."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.controllers.pods import create_pod
from intranode.domain import resources as R
from tests.unit.conftest import PROJECT
from tests.unit.container.conftest import (
    CA,
    ENDPOINT,
    ZONE,
    RecordingEndpoints,
    cluster_url,
    create,
    k8s,
    names,
    snapshot,
    standard,
    wait_done,
)

KEY = R.cluster_key(PROJECT, ZONE, "flow-log-test")
USER_POD = {
    "metadata": {"name": "pod-1", "namespace": "default"},
    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
}


def _inv(enabled: bool) -> dict[str, Any]:
    """The body gcloud sends for ``clusters update NAME --[no-]enable-intra-node-visibility``."""
    return {
        "name": f"projects/{PROJECT}/locations/{ZONE}/clusters/flow-log-test",
        "update": {"desiredIntraNodeVisibilityConfig": {"enabled": enabled}},
    }


def _update(client: TestClient, body: dict[str, Any], name: str = "flow-log-test") -> Any:
    r = client.put(cluster_url(name), json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _system_uids(ctx: Context) -> dict[str, str]:
    return {
        p["metadata"]["name"]: p["metadata"]["uid"]
        for p in k8s(ctx, "flow-log-test", "pods")
        if p["metadata"]["namespace"] == "kube-system"
    }


def test_turning_visibility_off_removes_netd_and_restarts_gke_components(
    client: TestClient, ctx: Context, endpoints: RecordingEndpoints
) -> None:
    create(client, standard(nodes=2))
    user = create_pod(ctx, KEY, USER_POD)
    before = _system_uids(ctx)
    assert [n for n in before if n.startswith("netd-")]

    endpoints.hold.set()
    op = _update(client, _inv(False))
    assert op["operationType"] == "UPDATE_CLUSTER"
    assert op["status"] == "RUNNING"
    assert endpoints.waiting.wait(5)
    assert client.get(cluster_url("flow-log-test")).json()["status"] == "RECONCILING"
    endpoints.hold.clear()
    done = wait_done(client, op)
    assert "error" not in done

    c = client.get(cluster_url("flow-log-test")).json()
    assert c["status"] == "RUNNING"
    assert "enableIntraNodeVisibility" not in c["networkConfig"]
    assert (c["endpoint"], c["masterAuth"]["clusterCaCertificate"]) == (ENDPOINT, CA)
    # The control plane restarted: stopped, then started again.
    assert endpoints.calls[-2:] == [("stop", KEY), ("start", KEY)]
    assert "netd" not in names(k8s(ctx, "flow-log-test", "daemonsets"))
    after = _system_uids(ctx)
    assert not [n for n in after if n.startswith("netd-")]
    # Every other GKE pod runs again as a new pod; the static kube-proxy pods keep their names.
    assert not set(after.values()) & set(before.values())
    assert {n for n in after if n.startswith("kube-proxy-")} == {
        n for n in before if n.startswith("kube-proxy-")
    }
    assert len([n for n in after if n.startswith("fluentbit-gke-")]) == 2
    # The user's pod is left alone.
    mine = ctx.resources.get(R.k8s_kind("pods"), user.key)
    assert mine is not None and mine.revision == user.revision and mine.data == user.data


def test_turning_visibility_on_adds_netd_on_every_linux_node(
    client: TestClient, ctx: Context
) -> None:
    create(client, standard(nodes=2, inv=False))
    op = _update(client, _inv(True))
    wait_done(client, op)
    c = client.get(cluster_url("flow-log-test")).json()
    assert c["networkConfig"]["enableIntraNodeVisibility"] is True
    assert "netd" in names(k8s(ctx, "flow-log-test", "daemonsets"))
    netd_nodes = {
        p["spec"]["nodeName"]
        for p in k8s(ctx, "flow-log-test", "pods")
        if p["metadata"]["name"].startswith("netd-")
    }
    assert netd_nodes == names(k8s(ctx, "flow-log-test", "nodes"))


def test_the_legacy_zonal_put_updates_too(client: TestClient) -> None:
    create(client, standard(inv=False))
    r = client.put(
        f"/v1/projects/{PROJECT}/zones/{ZONE}/clusters/flow-log-test",
        json={"projectId": PROJECT, "zone": ZONE, "clusterId": "flow-log-test", **_inv(True)},
    )
    assert r.status_code == 200, r.text
    wait_done(client, r.json())
    c = client.get(cluster_url("flow-log-test")).json()
    assert c["networkConfig"]["enableIntraNodeVisibility"] is True


def test_asking_for_the_current_setting_restarts_nothing(
    client: TestClient, ctx: Context, endpoints: RecordingEndpoints
) -> None:
    create(client, standard())
    before = _system_uids(ctx)
    calls = len(endpoints.calls)
    wait_done(client, _update(client, _inv(True)))
    assert _system_uids(ctx) == before
    assert len(endpoints.calls) == calls
    assert client.get(cluster_url("flow-log-test")).json()["status"] == "RUNNING"


def test_autopilot_keeps_intra_node_visibility_on(client: TestClient, ctx: Context) -> None:
    body = {"name": "auto", "autopilot": {"enabled": True}}
    create(client, body, location="us-central1")
    before = snapshot(ctx)
    r = client.put(cluster_url("auto", "us-central1"), json=_inv(False))
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert r.json()["error"]["message"] == (
        "Intra-node visibility is always enabled on Autopilot clusters and cannot be disabled."
    )
    assert snapshot(ctx) == before


def test_visibility_cannot_be_enabled_while_a_windows_pool_exists(
    client: TestClient, ctx: Context
) -> None:
    body = standard(inv=False)
    body["nodePools"].append(
        {"name": "win", "initialNodeCount": 1, "config": {"imageType": "WINDOWS_LTSC_CONTAINERD"}}
    )
    create(client, body)
    windows = [
        n
        for n in k8s(ctx, "flow-log-test", "nodes")
        if n["metadata"]["labels"]["kubernetes.io/os"] == "windows"
    ]
    assert len(windows) == 1
    assert "cloud.google.com/gke-netd-ready" not in windows[0]["metadata"]["labels"]
    before = snapshot(ctx)
    r = client.put(cluster_url("flow-log-test"), json=_inv(True))
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "Intra-node visibility is not supported on clusters with Windows Server node pools "
        '(node pool "win" runs Windows).'
    )
    assert snapshot(ctx) == before


@pytest.mark.parametrize(
    ("update", "code", "message"),
    [
        ({}, 400, "The update must set at least one desired field."),
        (
            {"desiredLocations": ["us-central1-b"]},
            501,
            "ClusterUpdate.desiredLocations is not implemented by intranode",
        ),
        (
            {"desiredFoo": 1},
            400,
            "Invalid JSON payload received. Unknown name \"desiredFoo\" at 'update': "
            "Cannot find field.",
        ),
        ({"etag": "stale", "desiredLoggingService": "none"}, 400, "etag"),
        ({"desiredMasterVersion": "1.30"}, 400, "downgrades are not supported"),
    ],
    ids=["empty", "not implemented", "unknown field", "stale etag", "downgrade"],
)
def test_updates_that_cannot_be_done_are_refused(
    client: TestClient, ctx: Context, update: dict[str, Any], code: int, message: str
) -> None:
    create(client, standard())
    before = snapshot(ctx)
    r = client.put(cluster_url("flow-log-test"), json={"update": update})
    assert r.status_code == code, r.text
    assert message in r.json()["error"]["message"]
    assert snapshot(ctx) == before


def test_a_cluster_busy_with_an_operation_refuses_another(
    client: TestClient, ctx: Context, endpoints: RecordingEndpoints
) -> None:
    endpoints.hold.set()
    op = client.post(cluster_url(), json={"cluster": standard()}).json()
    assert endpoints.waiting.wait(5)
    before = snapshot(ctx)
    for r in (
        client.put(cluster_url("flow-log-test"), json=_inv(False)),
        client.delete(cluster_url("flow-log-test")),
    ):
        assert r.status_code == 400
        assert r.json()["error"]["status"] == "FAILED_PRECONDITION"
        assert r.json()["error"]["message"] == (
            f"Operation {op['name']} is currently creating cluster flow-log-test. Please wait "
            "and try again once it is done."
        )
    assert snapshot(ctx) == before
    endpoints.hold.clear()
    wait_done(client, op)


def test_stored_settings_and_the_master_version_are_applied(
    client: TestClient, endpoints: RecordingEndpoints
) -> None:
    create(client, standard(), location=ZONE)
    wait_done(client, _update(client, {"update": {"desiredLoggingService": "none"}}))
    assert client.get(cluster_url("flow-log-test")).json()["loggingService"] == "none"
    op = _update(client, {"update": {"desiredMasterVersion": "latest"}})
    assert op["operationType"] == "UPGRADE_MASTER"
    wait_done(client, op)
    c = client.get(cluster_url("flow-log-test")).json()
    assert c["currentMasterVersion"] == "1.33.1-gke.1386000"
    assert c["nodePools"][0]["version"] == "1.32.4-gke.1106006"
    assert endpoints.calls[-2:] == [("stop", KEY), ("start", KEY)]
