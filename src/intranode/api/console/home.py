"""The console's start page: a card for each part, with what it holds now."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from intranode.api.console.html import h, page
from intranode.api.console.inventory import project_clusters
from intranode.api.deps import CtxDep
from intranode.domain import resources as R

router = APIRouter()


@router.get("/console")
@router.get("/console/")
def home(ctx: CtxDep) -> HTMLResponse:
    project = ctx.settings.project
    found = project_clusters(ctx)
    pods = sum(
        len(ctx.resources.list_prefix(R.k8s_kind("pods"), r.key + "/namespaces/")) for r in found
    )
    subnets = ctx.resources.list_prefix(R.SUBNETWORK, f"projects/{project}/")
    logging = sum(1 for s in subnets if (s.data.get("logConfig") or {}).get("enable"))
    cards = (
        (
            "/console/kubernetes/clusters",
            "Kubernetes clusters",
            f"{len(found)} cluster{'s' if len(found) != 1 else ''}. Create one, or turn "
            "intra-node visibility on or off.",
        ),
        (
            "/console/kubernetes/workloads",
            "Workloads",
            f"{pods} pod{'s' if pods != 1 else ''}, by node, with IPs and status.",
        ),
        (
            "/console/networking/subnets",
            "Subnets",
            f"{len(subnets)} subnets, {logging} with flow logs on.",
        ),
        (
            "/console/networking/traffic-map",
            "Traffic map",
            "Nodes, pods and the VPC router, with the recent flows between them.",
        ),
        (
            "/console/logs/query",
            "Logs explorer",
            "Query the logs, VPC flow logs among them, or follow them live.",
        ),
    )
    body = (
        "<h1>intranode console</h1><ul class=cards>"
        + "".join(
            f'<li><a href="{h(href)}"><strong>{h(title)}</strong><span>{h(text)}</span></a></li>'
            for href, title, text in cards
        )
        + "</ul>"
    )
    return page("Home", body, project=project)
