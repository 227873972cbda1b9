"""A daemon killed in the middle of an operation finishes it at its next start (``recover``):
the operation ends DONE, the cluster settles, and nothing is made twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.api.app import create_app
from intranode.config import Settings
from intranode.controllers import clusters
from intranode.controllers.context import Context
from intranode.controllers.operations import OnFailure, OperationRunner, Work
from intranode.domain import resources as R
from tests.unit.conftest import PROJECT, TOKEN
from tests.unit.container.conftest import (
    ZONE,
    RecordingEndpoints,
    cluster_url,
    create,
    gke_firewalls,
    instances,
    k8s,
    standard,
    subnet,
)

KEY = R.cluster_key(PROJECT, ZONE, "flow-log-test")


class NeverRuns(OperationRunner):
    """A daemon that dies as soon as it has answered: the work never starts."""

    def spawn(self, name: str, work: Work, on_failure: OnFailure) -> None:
        return None


@pytest.fixture
def dying(ctx: Context) -> Iterator[TestClient]:
    ctx.runner = NeverRuns()
    with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


def _restart(ctx: Context, settings: Settings) -> Context:
    """Close the dead daemon's database and start a new daemon on it: recover, then let the
    resumed work finish."""
    ctx.db.close()
    fresh = Context.open(settings, TOKEN)
    fresh.endpoints = RecordingEndpoints()

    async def start() -> None:
        await clusters.recover(fresh)
        await fresh.runner.wait_idle(10)

    asyncio.run(start())
    return fresh


def _op(ctx: Context, name: str) -> dict[str, Any]:
    res = ctx.resources.get(
        R.CONTAINER_OPERATION, f"projects/{PROJECT}/locations/{ZONE}/operations/{name}"
    )
    assert res is not None
    return res.data


def _cluster(ctx: Context) -> dict[str, Any] | None:
    res = ctx.resources.get(R.CLUSTER, KEY)
    return None if res is None else res.data


def test_a_create_cut_short_is_finished_without_duplicates(
    dying: TestClient, ctx: Context, settings: Settings
) -> None:
    op = dying.post(cluster_url(), json={"cluster": standard(nodes=3)}).json()
    op_key = f"projects/{PROJECT}/locations/{ZONE}/operations/{op['name']}"
    # Ranges, endpoint, firewall rules, namespaces and the nodes are made; kube-system is not.
    asyncio.run(clusters.run_operation(ctx, op_key, max_steps=5))
    assert len(instances(ctx, "flow-log-test")) == 3
    assert k8s(ctx, "flow-log-test", "daemonsets") == []
    assert _op(ctx, op["name"])["status"] == "RUNNING"

    fresh = _restart(ctx, settings)
    try:
        done = _op(fresh, op["name"])
        assert done["status"] == "DONE" and "error" not in done
        cluster = _cluster(fresh)
        assert cluster is not None and cluster["status"] == "RUNNING"
        assert cluster["currentNodeCount"] == 3
        assert len(instances(fresh, "flow-log-test")) == 3
        assert len(k8s(fresh, "flow-log-test", "nodes")) == 3
        assert len(gke_firewalls(fresh)) == 5
        assert len(subnet(fresh)["secondaryIpRanges"]) == 2
        netd = [
            p
            for p in k8s(fresh, "flow-log-test", "pods")
            if p["metadata"]["name"].startswith("netd-")
        ]
        assert len(netd) == 3
    finally:
        fresh.db.close()


def test_a_create_that_never_started_is_run_at_restart(
    dying: TestClient, ctx: Context, settings: Settings
) -> None:
    op = dying.post(cluster_url(), json={"cluster": standard()}).json()
    fresh = _restart(ctx, settings)
    try:
        assert _op(fresh, op["name"])["status"] == "DONE"
        cluster = _cluster(fresh)
        assert cluster is not None and cluster["status"] == "RUNNING"
        assert ("start", KEY) in fresh.endpoints.calls  # type: ignore[attr-defined]
    finally:
        fresh.db.close()


def test_a_delete_cut_short_is_finished(
    client: TestClient, ctx: Context, settings: Settings
) -> None:
    create(client, standard())
    ctx.runner = NeverRuns()
    op = client.delete(cluster_url("flow-log-test")).json()
    op_key = f"projects/{PROJECT}/locations/{ZONE}/operations/{op['name']}"
    asyncio.run(clusters.run_operation(ctx, op_key, max_steps=2))
    assert k8s(ctx, "flow-log-test", "pods") == []
    assert len(instances(ctx, "flow-log-test")) == 1

    fresh = _restart(ctx, settings)
    try:
        assert _op(fresh, op["name"])["status"] == "DONE"
        assert _cluster(fresh) is None
        assert instances(fresh, "flow-log-test") == []
        assert gke_firewalls(fresh) == {}
        assert not subnet(fresh).get("secondaryIpRanges")
    finally:
        fresh.db.close()


def test_an_update_cut_short_is_finished(
    client: TestClient, ctx: Context, settings: Settings
) -> None:
    create(client, standard())
    ctx.runner = NeverRuns()
    body = {"update": {"desiredIntraNodeVisibilityConfig": {"enabled": False}}}
    op = client.put(cluster_url("flow-log-test"), json=body).json()
    assert _cluster(ctx)["status"] == "RECONCILING"  # type: ignore[index]

    fresh = _restart(ctx, settings)
    try:
        assert _op(fresh, op["name"])["status"] == "DONE"
        cluster = _cluster(fresh)
        assert cluster is not None and cluster["status"] == "RUNNING"
        assert "enableIntraNodeVisibility" not in cluster["networkConfig"]
        assert "netd" not in {
            d["metadata"]["name"] for d in k8s(fresh, "flow-log-test", "daemonsets")
        }
    finally:
        fresh.db.close()


def test_an_operation_being_cancelled_ends_cancelled(
    dying: TestClient, ctx: Context, settings: Settings
) -> None:
    op = dying.post(cluster_url(), json={"cluster": standard()}).json()
    op_key = f"projects/{PROJECT}/locations/{ZONE}/operations/{op['name']}"
    ctx.resources.update(
        R.CONTAINER_OPERATION, op_key, {**_op(ctx, op["name"]), "status": "ABORTING"}
    )
    fresh = _restart(ctx, settings)
    try:
        done = _op(fresh, op["name"])
        assert done["status"] == "DONE"
        assert done["error"]["code"] == 1
        assert _cluster(fresh)["status"] == "ERROR"  # type: ignore[index]
    finally:
        fresh.db.close()


@pytest.mark.parametrize(
    ("stuck", "settled"),
    [("PROVISIONING", "ERROR"), ("RECONCILING", "RUNNING"), ("STOPPING", None)],
)
def test_a_cluster_stuck_without_an_operation_settles(
    client: TestClient, ctx: Context, settings: Settings, stuck: str, settled: str | None
) -> None:
    done, cluster = create(client, standard())
    # The operation record is lost; only the cluster's status says it was mid-change.
    ctx.resources.delete(
        R.CONTAINER_OPERATION, f"projects/{PROJECT}/locations/{ZONE}/operations/{done['name']}"
    )
    ctx.resources.update(R.CLUSTER, KEY, {**cluster, "status": stuck})
    fresh = _restart(ctx, settings)
    try:
        after = _cluster(fresh)
        if settled is None:
            assert after is None
            assert instances(fresh, "flow-log-test") == []
        else:
            assert after is not None and after["status"] == settled
    finally:
        fresh.db.close()


def test_an_operation_that_cannot_be_resumed_ends_with_the_reason(
    dying: TestClient, ctx: Context, settings: Settings
) -> None:
    op = dying.post(cluster_url(), json={"cluster": standard()}).json()
    op_key = f"projects/{PROJECT}/locations/{ZONE}/operations/{op['name']}"
    broken = {k: v for k, v in _op(ctx, op["name"]).items() if not k.startswith("_")}
    ctx.resources.update(R.CONTAINER_OPERATION, op_key, broken)
    fresh = _restart(ctx, settings)
    try:
        done = _op(fresh, op["name"])
        assert done["status"] == "DONE"
        assert done["error"]["code"] == 13
        assert done["error"]["message"] == (
            "intranode restarted while this operation ran and cannot resume it."
        )
        # Its cluster had no other operation to finish it: it is ERROR, never PROVISIONING.
        assert _cluster(fresh)["status"] == "ERROR"  # type: ignore[index]
    finally:
        fresh.db.close()
