"""Node pools: read, add and remove, and the Windows rules."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from tests.unit.conftest import PROJECT
from tests.unit.container.conftest import (
    ZONE,
    cluster_url,
    create,
    instances,
    k8s,
    names,
    snapshot,
    standard,
    wait_done,
)

POOLS = cluster_url("flow-log-test") + "/nodePools"


def _netd(ctx: Context) -> dict[str, Any]:
    [ds] = [d for d in k8s(ctx, "flow-log-test", "daemonsets") if d["metadata"]["name"] == "netd"]
    return ds


def test_pools_are_listed_and_read(client: TestClient) -> None:
    create(client, standard())
    listed = client.get(POOLS).json()["nodePools"]
    assert [p["name"] for p in listed] == ["default-pool"]
    pool = client.get(f"{POOLS}/default-pool").json()
    assert pool["version"] == "1.32.4-gke.1106006"
    assert pool["selfLink"] == (
        f"https://container.googleapis.com/v1/projects/{PROJECT}/zones/{ZONE}/clusters/"
        "flow-log-test/nodePools/default-pool"
    )
    missing = client.get(f"{POOLS}/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (
        f"Not found: projects/{PROJECT}/locations/{ZONE}/clusters/flow-log-test/nodePools/nope."
    )


def test_a_new_pool_brings_nodes_and_gke_pods_and_leaves_with_them(
    client: TestClient, ctx: Context
) -> None:
    create(client, standard())
    r = client.post(POOLS, json={"nodePool": {"name": "extra", "initialNodeCount": 2}})
    assert r.status_code == 200, r.text
    assert r.json()["operationType"] == "CREATE_NODE_POOL"
    assert r.json()["targetLink"].endswith("/clusters/flow-log-test/nodePools/extra")
    wait_done(client, r.json())
    c = client.get(cluster_url("flow-log-test")).json()
    assert c["status"] == "RUNNING"
    assert c["currentNodeCount"] == 3
    assert [p["status"] for p in c["nodePools"]] == ["RUNNING", "RUNNING"]
    extra = {n for n in names(k8s(ctx, "flow-log-test", "nodes")) if "-extra-" in n}
    assert len(extra) == 2
    assert _netd(ctx)["status"]["desiredNumberScheduled"] == 3

    r = client.delete(f"{POOLS}/extra")
    assert r.json()["operationType"] == "DELETE_NODE_POOL"
    wait_done(client, r.json())
    c = client.get(cluster_url("flow-log-test")).json()
    assert [p["name"] for p in c["nodePools"]] == ["default-pool"]
    assert c["currentNodeCount"] == 1
    assert not extra & names(k8s(ctx, "flow-log-test", "nodes"))
    assert not [i for i in instances(ctx, "flow-log-test") if i["name"] in extra]
    assert not [p for p in k8s(ctx, "flow-log-test", "pods") if p["spec"].get("nodeName") in extra]
    assert _netd(ctx)["status"]["desiredNumberScheduled"] == 1


def test_a_windows_pool_is_refused_while_intra_node_visibility_is_on(
    client: TestClient, ctx: Context
) -> None:
    create(client, standard())
    before = snapshot(ctx)
    r = client.post(
        POOLS,
        json={
            "nodePool": {
                "name": "win",
                "initialNodeCount": 1,
                "config": {"imageType": "WINDOWS_LTSC_CONTAINERD", "windowsNodeConfig": {}},
            }
        },
    )
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert r.json()["error"]["message"].startswith(
        "Windows Server node pools are not supported on clusters with intra-node visibility"
    )
    assert snapshot(ctx) == before


def test_a_windows_pool_joins_a_cluster_without_it_and_runs_no_netd(
    client: TestClient, ctx: Context
) -> None:
    create(client, standard(inv=False))
    r = client.post(
        POOLS,
        json={
            "nodePool": {
                "name": "win",
                "initialNodeCount": 1,
                "config": {"imageType": "WINDOWS_LTSC_CONTAINERD"},
            }
        },
    )
    wait_done(client, r.json())
    [win] = [n for n in k8s(ctx, "flow-log-test", "nodes") if "-win-" in n["metadata"]["name"]]
    assert win["metadata"]["labels"]["kubernetes.io/os"] == "windows"
    assert not [
        p
        for p in k8s(ctx, "flow-log-test", "pods")
        if p["spec"].get("nodeName") == win["metadata"]["name"]
    ]
    # The last Linux pool cannot go while a Windows pool stays.
    r = client.delete(f"{POOLS}/default-pool")
    assert r.status_code == 400
    assert "last Linux node pool" in r.json()["error"]["message"]


def test_a_pool_name_in_use_is_refused(client: TestClient, ctx: Context) -> None:
    create(client, standard())
    before = snapshot(ctx)
    r = client.post(POOLS, json={"nodePool": {"name": "default-pool", "initialNodeCount": 1}})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        'Node pool "default-pool" already exists in cluster "flow-log-test".'
    )
    assert snapshot(ctx) == before
