"""intranode's own read-only API for its CLI (``/intranode/v1/...``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from intranode.api.deps import get_ctx
from intranode.controllers import preflight
from intranode.controllers.context import Context
from intranode.domain import resources as R

router = APIRouter(prefix="/intranode/v1")


@router.get("/status")
def status(ctx: Context = Depends(get_ctx)) -> dict[str, Any]:
    clusters = []
    for res in ctx.resources.find(R.CLUSTER):
        c = res.data
        nodes = ctx.resources.list_prefix(R.k8s_kind("nodes"), res.key)
        pods = ctx.resources.list_prefix(R.k8s_kind("pods"), res.key + "/")
        per_node: dict[str, int] = {}
        pod_rows = []
        for p in pods:
            spec, st, meta = p.data.get("spec", {}), p.data.get("status", {}), p.data["metadata"]
            node = spec.get("nodeName", "")
            per_node[node] = per_node.get(node, 0) + 1
            pod_rows.append(
                {
                    "namespace": meta.get("namespace", ""),
                    "name": meta["name"],
                    "ip": st.get("podIP", ""),
                    "node": node,
                    "phase": st.get("phase", "Pending"),
                }
            )
        node_rows = []
        for n in nodes:
            addrs = {a["type"]: a["address"] for a in n.data.get("status", {}).get("addresses", [])}
            name = n.data["metadata"]["name"]
            node_rows.append(
                {
                    "name": name,
                    "internalIP": addrs.get("InternalIP", ""),
                    "podCIDR": n.data.get("spec", {}).get("podCIDR", ""),
                    "pods": per_node.get(name, 0),
                }
            )
        clusters.append(
            {
                "name": c.get("name"),
                "location": c.get("location"),
                "status": c.get("status"),
                "endpoint": c.get("endpoint", ""),
                "intraNodeVisibility": bool(
                    c.get("networkConfig", {}).get("enableIntraNodeVisibility")
                ),
                "nodes": node_rows,
                "pods": pod_rows,
            }
        )
    return {
        "ok": True,
        "project": ctx.settings.project,
        "port": ctx.settings.port,
        "url": ctx.settings.base_url,
        "clusters": clusters,
    }


@router.get("/preflight/{cluster}")
def preflight_report(
    cluster: str,
    location: str | None = None,
    project: str | None = None,
    seen_within: float = Query(3600.0, alias="seenWithin"),
    ctx: Context = Depends(get_ctx),
) -> dict[str, Any]:
    """What ``clusters update --enable-intra-node-visibility`` would break (``intranode
    preflight``)."""
    return preflight.run(ctx, project or ctx.settings.project, cluster, location, seen_within)
