"""The scheduler's in-memory placement index stays exact: it follows every committed pod write
and forgets writes whose transaction rolled back."""

from __future__ import annotations

import pytest

from intranode.controllers.context import Context
from intranode.domain.resources import k8s_key, k8s_kind

PODS = k8s_kind("pods")
CLUSTER = "projects/p/locations/l/clusters/c"


def _pod(name: str, node: str, ip: str) -> dict[str, object]:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node},
        "status": {"podIP": ip, "phase": "Running"},
    }


def _put(ctx: Context, name: str, node: str, ip: str) -> str:
    key = k8s_key(CLUSTER, "pods", name, "default")
    ctx.resources.create(PODS, key, f"{CLUSTER}/namespaces/default", _pod(name, node, ip))
    return key


def test_the_index_loads_once_then_follows_writes(ctx: Context) -> None:
    a = _put(ctx, "a", "n1", "10.0.0.2")
    assert ctx.placements.pods(CLUSTER)[a].ip == "10.0.0.2"
    b = _put(ctx, "b", "n1", "10.0.0.3")
    assert ctx.placements.pods(CLUSTER)[b].node == "n1"
    done = _pod("a", "n1", "10.0.0.2")
    done["status"] = {"podIP": "10.0.0.2", "phase": "Succeeded"}
    ctx.resources.update(PODS, a, done)
    assert ctx.placements.pods(CLUSTER)[a].terminated
    ctx.resources.delete(PODS, b)
    assert b not in ctx.placements.pods(CLUSTER)


def test_a_rolled_back_write_leaves_no_trace(ctx: Context) -> None:
    _put(ctx, "a", "n1", "10.0.0.2")
    ctx.placements.pods(CLUSTER)
    with pytest.raises(RuntimeError), ctx.resources.transaction():
        _put(ctx, "ghost", "n1", "10.0.0.9")
        raise RuntimeError("abort")
    pods = ctx.placements.pods(CLUSTER)
    assert {p.ip for p in pods.values()} == {"10.0.0.2"}
