"""Workloads: the pods of a cluster, grouped by the node they run on, with their IPs and
status. A thousand pods make one page of plain tables; the filter box narrows them in the
browser without another request."""

from __future__ import annotations

import urllib.parse

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from intranode.api.console.html import h, options, page
from intranode.api.console.inventory import PodRow, cluster_view, project_clusters
from intranode.api.deps import CtxDep

router = APIRouter()

BASE = "/console/kubernetes/workloads"
SYSTEM_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "gke-managed-system"}
)


def _rows(pods: list[PodRow]) -> str:
    return "".join(
        f'<tr data-filter="{h((p.name + " " + p.namespace + " " + p.ip + " " + p.phase).lower())}">'
        f"<td>{h(p.name)}</td><td>{h(p.namespace)}</td>"
        f"<td><span class='status {h(p.phase.lower())}'>{h(p.phase)}</span></td>"
        f"<td>{h(p.ready)}</td><td>{p.restarts}</td><td>{h(p.ip)}</td>"
        f"<td>{h(p.start_time)}</td></tr>"
        for p in sorted(pods, key=lambda p: (p.namespace, p.name))
    )


_HEAD = (
    "<thead><tr><th scope=col>Name</th><th scope=col>Namespace</th><th scope=col>Status</th>"
    "<th scope=col>Ready</th><th scope=col>Restarts</th><th scope=col>Pod IP</th>"
    "<th scope=col>Started</th></tr></thead>"
)


@router.get(BASE)
def workloads(ctx: CtxDep, cluster: str = "", system: str = "") -> HTMLResponse:
    project = ctx.settings.project
    found = project_clusters(ctx)
    chosen = next((r for r in found if r.key == cluster), found[0] if found else None)
    if chosen is None:
        body = (
            "<h1>Workloads</h1><p>No clusters yet. "
            "<a href='/console/kubernetes/clusters/create'>Create a cluster</a>.</p>"
        )
        return page("Workloads", body, project=project, active="workloads")
    view = cluster_view(ctx, chosen)
    show_system = system == "on"

    def shown(pods: list[PodRow]) -> list[PodRow]:
        return [p for p in pods if show_system or p.namespace not in SYSTEM_NAMESPACES]

    sections = []
    total = 0
    for node in view.nodes:
        pods = shown(node.pods)
        total += len(pods)
        hid = "node-" + h(node.name)
        sections.append(
            f'<section class=node-pods aria-labelledby="{hid}"><h2 id="{hid}">Node '
            f"{h(node.name)}</h2><p class=meta>Internal IP {h(node.internal_ip)} · pod range "
            f"{h(node.pod_cidr)} · {len(pods)} pod{'s' if len(pods) != 1 else ''}</p>"
            f"<table class=pods><caption class=visually-hidden>Pods on {h(node.name)}"
            f"</caption>{_HEAD}<tbody>{_rows(pods)}</tbody></table></section>"
        )
    waiting = shown(view.unscheduled)
    if waiting:
        total += len(waiting)
        sections.append(
            "<section class=node-pods aria-labelledby=unscheduled><h2 id=unscheduled>"
            "Not scheduled</h2><table class=pods><caption class=visually-hidden>Pods not "
            f"scheduled</caption>{_HEAD}<tbody>{_rows(waiting)}</tbody></table></section>"
        )
    choices = [(r.key, f"{r.data['name']} ({r.data['location']})") for r in found]
    body = (
        "<h1>Workloads</h1>"
        f'<form method=get action="{BASE}" class="card row">'
        "<div class=field><label for=cluster>Cluster</label>"
        f"<select id=cluster name=cluster>{options(choices, view.key)}</select></div>"
        "<div class='field check'><input type=checkbox id=system name=system value=on"
        f"{' checked' if show_system else ''}><label for=system>Show system pods</label>"
        "</div><div class=actions><button type=submit>Show</button></div></form>"
        "<div class=field><label for=pod-filter>Filter pods</label>"
        '<input id=pod-filter type=search data-filter-target=".pods tbody tr" '
        'placeholder="name, namespace, IP or status" aria-describedby=pod-count></div>'
        f"<p id=pod-count role=status>{total} pod{'s' if total != 1 else ''} on "
        f"{len(view.nodes)} node{'s' if len(view.nodes) != 1 else ''} of cluster "
        f"{h(view.name)}.</p>"
        + "".join(sections)
        + f'<p><a href="/console/networking/traffic-map?cluster={h(urllib.parse.quote(view.key))}">'
        "Traffic between these pods</a></p>"
    )
    return page("Workloads", body, project=project, active="workloads")
