"""Kubernetes clusters: the list, Create (name, then "Configure" for GKE Standard or Autopilot,
then the form with its Networking section and the "Enable intra-node visibility" checkbox),
the cluster's details with "Edit intra-node visibility", and the progress of an operation.

Every change goes through :mod:`intranode.controllers.clusters` with the request body the
Container API would get, so the console refuses exactly what the API refuses, with its words.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from intranode.api.console.forms import read_form
from intranode.api.console.html import (
    csrf_input,
    errors_for,
    field_error,
    form_error,
    h,
    invalid_attrs,
    options,
    page,
)
from intranode.api.console.inventory import cluster_view, project_clusters
from intranode.api.console.session import csrf_value
from intranode.api.deps import CtxDep, parse_model
from intranode.controllers import clusters
from intranode.controllers.cluster_system import system_pods
from intranode.controllers.clusters import Where
from intranode.controllers.context import Context
from intranode.domain import container as gke
from intranode.domain import container_messages as msgs
from intranode.domain import resources as R
from intranode.domain.auto_subnets import REGIONS
from intranode.errors import ApiError

router = APIRouter()

BASE = "/console/kubernetes/clusters"
MODES = {"standard": "GKE Standard", "autopilot": "GKE Autopilot"}
DEFAULT_ZONE = "us-central1-a"
DEFAULT_REGION = "us-central1"

# Which field a refusal of the Container API is about (first match wins).
CREATE_FIELDS = (
    (r"cluster\.name|^Already exists", "name"),
    (r"[Vv]ersion", "version"),
    (r"Windows|image type", "image"),
    (r"initial_node_count|node_count|nodes per node pool", "nodes"),
    (r"^Location|Autopilot clusters must be regional|zone of region", "location"),
    (r'^Network "', "network"),
    (r'^Subnetwork "', "subnetwork"),
    (r"ntra-node visibility", "inv"),
)


def _where(ctx: Context, location: str) -> Where:
    return Where(ctx.settings.project, location)


def _cluster_path(location: str, name: str) -> str:
    return f"{BASE}/{urllib.parse.quote(location)}/{urllib.parse.quote(name)}"


# The list --------------------------------------------------------------------------------------
@router.get(BASE)
def list_page(ctx: CtxDep) -> HTMLResponse:
    rows = []
    for res in project_clusters(ctx):
        c = res.data
        mode = "Autopilot" if (c.get("autopilot") or {}).get("enabled") else "Standard"
        inv = (c.get("networkConfig") or {}).get("enableIntraNodeVisibility")
        rows.append(
            "<tr>"
            f'<td><a href="{h(_cluster_path(c["location"], c["name"]))}">{h(c["name"])}</a></td>'
            f"<td>{h(c['location'])}</td><td>{mode}</td>"
            f"<td><span class='status {h(str(c.get('status')).lower())}'>"
            f"{h(c.get('status'))}</span></td>"
            f"<td>{h(c.get('currentNodeCount', 0))}</td>"
            f"<td>{h(c.get('currentMasterVersion', ''))}</td>"
            f"<td>{'Enabled' if inv else 'Disabled'}</td></tr>"
        )
    table = (
        "<table><caption>Clusters</caption><thead><tr><th scope=col>Name</th>"
        "<th scope=col>Location</th><th scope=col>Mode</th><th scope=col>Status</th>"
        "<th scope=col>Nodes</th><th scope=col>Version</th>"
        "<th scope=col>Intra-node visibility</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else "<p>No clusters yet. Click <strong>Create</strong> to make one.</p>"
    )
    body = (
        "<div class=titlebar><h1>Kubernetes clusters</h1>"
        f'<a class=button href="{BASE}/create">Create</a></div>' + table
    )
    return page("Kubernetes clusters", body, project=ctx.settings.project, active="clusters")


# Create ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateForm:
    name: str = ""
    mode: str = "standard"
    location_type: str = "zonal"
    zone: str = DEFAULT_ZONE
    region: str = DEFAULT_REGION
    version: str = ""
    nodes: str = "1"
    image: str = gke.DEFAULT_IMAGE_TYPE
    network: str = "default"
    subnetwork: str = ""
    inv: bool = False

    @classmethod
    def parse(cls, fields: dict[str, str]) -> CreateForm:
        mode = fields.get("mode", "standard")
        mode = mode if mode in MODES else "standard"
        autopilot = mode == "autopilot"
        default_type = "regional" if autopilot else "zonal"
        return cls(
            name=fields.get("name", "").strip(),
            mode=mode,
            location_type=fields.get("location_type", default_type),
            zone=fields.get("zone", DEFAULT_ZONE),
            region=fields.get("region", DEFAULT_REGION),
            version=fields.get("version", "").strip(),
            nodes=fields.get("nodes", "1").strip(),
            image=fields.get("image", gke.DEFAULT_IMAGE_TYPE),
            network=fields.get("network", "default").strip(),
            subnetwork=fields.get("subnetwork", "").strip(),
            inv=autopilot or fields.get("inv") == "on",
        )

    @property
    def location(self) -> str:
        return self.region if self.location_type == "regional" else self.zone

    def request_body(self) -> dict[str, Any]:
        """The ``CreateClusterRequest`` the Container API would get from this form."""
        network: dict[str, Any] = {"enableIntraNodeVisibility": self.inv}
        if self.network:
            network["network"] = self.network
        if self.subnetwork:
            network["subnetwork"] = self.subnetwork
        cluster: dict[str, Any] = {"name": self.name, "networkConfig": network}
        if self.mode == "autopilot":
            cluster["autopilot"] = {"enabled": True}
        else:
            # proto3 JSON takes a number as a decimal string; anything else is refused with
            # the API's own message.
            cluster["initialNodeCount"] = self.nodes
            cluster["nodeConfig"] = {"imageType": self.image}
        if self.version:
            cluster["initialClusterVersion"] = self.version
        return {"cluster": cluster}


@router.get(BASE + "/create")
def create_start(ctx: CtxDep, name: str = "") -> HTMLResponse:
    """Step one: the name, then the cluster configuration dialog (Standard or Autopilot)."""
    choices = "".join(
        f'<div class=choice role=group aria-labelledby="mode-{key}">'
        f'<h3 id="mode-{key}">{label}</h3><p>{h(_MODE_TEXT[key])}</p>'
        f'<button type=submit name=mode value="{key}">Configure</button></div>'
        for key, label in MODES.items()
    )
    body = (
        "<h1>Create a Kubernetes cluster</h1>"
        f'<form method=get action="{BASE}/create/configure" class=card>'
        "<div class=field><label for=name>Name</label>"
        f'<input id=name name=name value="{h(name)}" autocomplete=off '
        "aria-describedby=name-help>"
        "<p class=help id=name-help>Lowercase letters, digits and hyphens; it starts with a "
        "letter (at most 40 characters).</p></div>"
        "<section class=dialog aria-labelledby=cfg-title><h2 id=cfg-title>"
        f"Cluster configuration</h2><div class=choices>{choices}</div></section></form>"
    )
    return page(
        "Create a Kubernetes cluster", body, project=ctx.settings.project, active="clusters"
    )


_MODE_TEXT = {
    "standard": "You manage the nodes: node pools, their size and image. Intra-node "
    "visibility is off unless you enable it in Networking.",
    "autopilot": "GKE manages the nodes. Autopilot clusters are regional and always have "
    "intra-node visibility.",
}


@router.get(BASE + "/create/configure")
def create_configure(ctx: CtxDep, request: Request) -> HTMLResponse:
    form = CreateForm.parse(dict(request.query_params))
    return _create_form(ctx, form, {})


@router.post(BASE + "/create/configure")
async def create_submit(ctx: CtxDep, request: Request) -> Response:
    form = CreateForm.parse(await read_form(request))
    try:
        req = parse_model(form.request_body(), msgs.CreateClusterRequest)
        op = clusters.create_cluster(ctx, _where(ctx, form.location), req.cluster)
    except ApiError as err:
        return _create_form(ctx, form, errors_for(err, CREATE_FIELDS), status=err.code)
    target = _cluster_path(form.location, form.name) + "?operation=" + op["name"]
    return RedirectResponse(target, status_code=303)


def _section_of(errors: dict[str, str]) -> str:
    for name, section in (
        ("name", "basics"),
        ("location", "basics"),
        ("version", "basics"),
        ("nodes", "nodepool"),
        ("image", "nodepool"),
        ("network", "networking"),
        ("subnetwork", "networking"),
        ("inv", "networking"),
    ):
        if name in errors:
            return section
    return "basics"


def _create_form(
    ctx: Context, form: CreateForm, errors: dict[str, str], *, status: int = 200
) -> HTMLResponse:
    autopilot = form.mode == "autopilot"
    zones = [(z, z) for r in REGIONS for z in gke.zones_of_region(r)]
    regions = [(r, r) for r in REGIONS]
    versions = "".join(f'<option value="{h(v)}">' for v in gke.VERSIONS)
    networks = [
        (str(n.data["name"]), str(n.data["name"]))
        for n in ctx.resources.list_prefix(R.NETWORK, f"projects/{ctx.settings.project}/")
    ]
    if form.network not in [n for n, _ in networks]:
        networks.append((form.network, form.network))
    images = [(i, i) for i in gke.IMAGE_TYPES]
    loc_radio = "".join(
        f'<label class=inline><input type=radio name=location_type value="{v}"'
        f"{' checked' if form.location_type == v else ''}> {label}</label>"
        for v, label in (("zonal", "Zonal"), ("regional", "Regional"))
    )
    basics = (
        "<section id=basics class=form-section aria-labelledby=basics-title>"
        "<h2 id=basics-title>Cluster basics</h2>"
        "<div class=field><label for=name>Name</label>"
        f'<input id=name name=name value="{h(form.name)}" autocomplete=off'
        f"{invalid_attrs(errors, 'name')}>{field_error(errors, 'name')}</div>"
        f"<fieldset class=field{invalid_attrs(errors, 'location')}><legend>Location type"
        f"</legend>{loc_radio}"
        "<div class=row><div class=field><label for=zone>Zone</label>"
        f"<select id=zone name=zone>{options(zones, form.zone)}</select></div>"
        "<div class=field><label for=region>Region</label>"
        f"<select id=region name=region>{options(regions, form.region)}</select></div></div>"
        f"{field_error(errors, 'location')}</fieldset>"
        "<div class=field><label for=version>Control plane version</label>"
        f'<input id=version name=version list=versions value="{h(form.version)}" '
        f'placeholder="Release channel default ({h(gke.DEFAULT_VERSION)})"'
        f"{invalid_attrs(errors, 'version')}><datalist id=versions>{versions}</datalist>"
        f"{field_error(errors, 'version')}</div></section>"
    )
    nodepool = (
        ""
        if autopilot
        else (
            "<section id=nodepool class=form-section aria-labelledby=nodepool-title>"
            "<h2 id=nodepool-title>Node pool: default-pool</h2>"
            "<div class=field><label for=nodes>Number of nodes</label>"
            f'<input id=nodes name=nodes inputmode=numeric value="{h(form.nodes)}"'
            f"{invalid_attrs(errors, 'nodes')}>{field_error(errors, 'nodes')}</div>"
            "<div class=field><label for=image>Image type</label>"
            f"<select id=image name=image{invalid_attrs(errors, 'image')}>"
            f"{options(images, form.image)}</select>{field_error(errors, 'image')}</div>"
            "</section>"
        )
    )
    if autopilot:
        inv_box = (
            "<input type=checkbox id=inv checked disabled aria-describedby=inv-help>"
            "<label for=inv>Enable intra-node visibility</label>"
            "<p class=help id=inv-help>Always on for Autopilot clusters; it cannot be "
            "turned off.</p><input type=hidden name=inv value=on>"
        )
    else:
        inv_box = (
            f"<input type=checkbox id=inv name=inv value=on{' checked' if form.inv else ''}"
            f" aria-describedby=inv-help{invalid_attrs(errors, 'inv')}>"
            "<label for=inv>Enable intra-node visibility</label>"
            "<p class=help id=inv-help>Pod-to-pod traffic on one node then leaves the node "
            "and crosses the VPC network: firewall rules, flow logs and packet mirroring "
            "see it.</p>"
        )
    networking = (
        "<section id=networking class=form-section aria-labelledby=networking-title>"
        "<h2 id=networking-title>Networking</h2>"
        "<div class=field><label for=network>Network</label>"
        f"<select id=network name=network{invalid_attrs(errors, 'network')}>"
        f"{options(networks, form.network)}</select>{field_error(errors, 'network')}</div>"
        "<div class=field><label for=subnetwork>Node subnet</label>"
        f'<input id=subnetwork name=subnetwork value="{h(form.subnetwork)}" '
        'placeholder="the network\'s subnet in the region"'
        f"{invalid_attrs(errors, 'subnetwork')}>{field_error(errors, 'subnetwork')}</div>"
        f"<div class='field check'>{inv_box}{field_error(errors, 'inv')}</div></section>"
    )
    sections = [("basics", "Cluster basics")]
    if not autopilot:
        sections.append(("nodepool", "Node pool: default-pool"))
    sections.append(("networking", "Networking"))
    nav = "".join(
        f'<li><a href="#{key}" data-section="{key}">{label}</a></li>' for key, label in sections
    )
    body = (
        f"<h1>Create a Kubernetes cluster: {MODES[form.mode]}</h1>{form_error(errors)}"
        f'<form method=post action="{BASE}/create/configure" class=wizard '
        f'data-initial-section="{_section_of(errors)}" novalidate>'
        f"{csrf_input(csrf_value(ctx.token))}"
        f'<input type=hidden name=mode value="{h(form.mode)}">'
        '<nav class=wizard-nav aria-label="Cluster"><p class=nav-section>Cluster</p>'
        f"<ul>{nav}</ul></nav><div class=wizard-body>{basics}{nodepool}{networking}"
        "<div class=actions><button type=submit class=primary>Create</button>"
        f'<a href="{BASE}">Cancel</a></div></div></form>'
    )
    return page(
        "Create a Kubernetes cluster",
        body,
        project=ctx.settings.project,
        active="clusters",
        status=status,
    )


# Details ---------------------------------------------------------------------------------------
def _cluster_doc(ctx: Context, location: str, name: str) -> dict[str, Any]:
    return clusters.get_cluster(ctx, _where(ctx, location), name)


@router.get(BASE + "/{location}/{name}")
def details(ctx: CtxDep, location: str, name: str, operation: str = "") -> HTMLResponse:
    c = _cluster_doc(ctx, location, name)
    res = ctx.resources.get(R.CLUSTER, _where(ctx, location).cluster_key(name))
    assert res is not None
    view = cluster_view(ctx, res)
    net = c.get("networkConfig") or {}
    autopilot = bool((c.get("autopilot") or {}).get("enabled"))
    path = _cluster_path(location, name)
    op = operation or _running_operation(ctx, location, res.key)

    def row(label: str, value: object) -> str:
        return f"<tr><th scope=row>{h(label)}</th><td>{h(value)}</td></tr>"

    inv_on = bool(net.get("enableIntraNodeVisibility"))
    basics = "".join(
        [
            row("Name", c["name"]),
            row("Location", c["location"]),
            row("Mode", "Autopilot" if autopilot else "Standard"),
            "<tr><th scope=row>Status</th><td><span id=cluster-status class='status "
            f"{h(str(c.get('status')).lower())}'>{h(c.get('status'))}</span></td></tr>",
            row("Control plane version", c.get("currentMasterVersion", "")),
            row("Endpoint", c.get("endpoint", "")),
            row("Release channel", (c.get("releaseChannel") or {}).get("channel", "")),
        ]
    )
    networking = "".join(
        [
            row("Network", str(net.get("network", "")).rsplit("/", 1)[-1]),
            row("Subnet", str(net.get("subnetwork", "")).rsplit("/", 1)[-1]),
            row("Cluster Pod IPv4 range", c.get("clusterIpv4Cidr", "")),
            row("Service IPv4 range", c.get("servicesIpv4Cidr", "")),
            "<tr><th scope=row>Intra-node visibility</th><td><span id=inv-state>"
            f"{'Enabled' if inv_on else 'Disabled'}</span> "
            f'<a class=edit href="{h(path)}/edit-intra-node-visibility">'
            "Edit intra-node visibility</a></td></tr>",
        ]
    )
    pools = "".join(
        f"<tr><td>{h(p['name'])}</td><td>{h(p.get('status', ''))}</td>"
        f"<td>{h(p.get('initialNodeCount', ''))}</td>"
        f"<td>{h((p.get('config') or {}).get('imageType', ''))}</td>"
        f"<td>{h(p.get('version', ''))}</td></tr>"
        for p in c.get("nodePools", [])
    )
    nodes = "".join(
        f"<tr><td>{h(n.name)}</td><td>{h(n.internal_ip)}</td><td>{h(n.pod_cidr)}</td>"
        f"<td>{len(n.pods)}</td></tr>"
        for n in view.nodes
    )
    progress = ""
    if op:
        progress = (
            f'<section id=progress class=progress data-url="{h(path)}/progress?operation='
            f'{h(urllib.parse.quote(op))}" data-status="{h(c.get("status"))}" role=status '
            "aria-live=polite aria-labelledby=progress-title><h2 id=progress-title>Progress"
            f"</h2><ul>{_progress_items(_progress(ctx, location, name, op))}</ul></section>"
        )
    message = (
        f"<p class=field-error role=alert>{h(c['statusMessage'])}</p>"
        if c.get("statusMessage")
        else ""
    )
    body = (
        f"<p class=crumbs><a href='{BASE}'>Kubernetes clusters</a> › {h(name)}</p>"
        f"<h1>{h(name)}</h1>{message}{progress}"
        "<section aria-labelledby=basics-title><h2 id=basics-title>Cluster basics</h2>"
        f"<table class=details>{basics}</table></section>"
        "<section aria-labelledby=networking-title><h2 id=networking-title>Networking</h2>"
        f"<table class=details>{networking}</table></section>"
        "<section aria-labelledby=pools-title><h2 id=pools-title>Node pools</h2>"
        "<table><thead><tr><th scope=col>Name</th><th scope=col>Status</th>"
        "<th scope=col>Nodes per zone</th><th scope=col>Image type</th>"
        f"<th scope=col>Version</th></tr></thead><tbody>{pools}</tbody></table></section>"
        "<section aria-labelledby=nodes-title><h2 id=nodes-title>Nodes</h2>"
        "<table><thead><tr><th scope=col>Name</th><th scope=col>Internal IP</th>"
        "<th scope=col>Pod CIDR</th><th scope=col>Pods</th></tr></thead>"
        f"<tbody>{nodes}</tbody></table>"
        f'<p><a href="/console/kubernetes/workloads?cluster={h(urllib.parse.quote(res.key))}">'
        "Pods on these nodes</a></p></section>"
    )
    return page(name, body, project=ctx.settings.project, active="clusters")


def _running_operation(ctx: Context, location: str, cluster_key: str) -> str:
    for op in clusters.list_operations(ctx, _where(ctx, location)):
        if op.get("status") != "DONE" and op.get("targetLink", "").endswith(
            "/clusters/" + cluster_key.rsplit("/", 1)[-1]
        ):
            return str(op["name"])
    return ""


# Progress --------------------------------------------------------------------------------------
def _clock(rfc3339: str) -> str:
    """``12:00:03 UTC`` from an RFC 3339 time."""
    return rfc3339[11:19] + " UTC" if len(rfc3339) >= 19 else rfc3339


def _progress(ctx: Context, location: str, name: str, operation: str) -> dict[str, Any]:
    """Where an operation on a cluster is: its status, and for a change that restarts the
    control plane and the node components, whether they are back and since when."""
    where = _where(ctx, location)
    op = clusters.get_operation(ctx, where, operation)
    res = ctx.resources.get(R.CLUSTER, where.cluster_key(name))
    status = str(res.data.get("status")) if res is not None else "DELETED"
    kind = str(op.get("operationType"))
    done = op.get("status") == "DONE"
    items: list[dict[str, str]] = []
    error = (op.get("error") or {}).get("message")
    started = _clock(str(op.get("startTime", "")))
    if error:
        items.append({"state": "failed", "text": f"{kind} failed: {error}"})
    elif kind == "CREATE_CLUSTER":
        items.append(
            {"state": "done", "text": f"Cluster created at {_clock(op['endTime'])}"}
            if done
            else {"state": "running", "text": f"Creating cluster {name} (since {started})"}
        )
    elif kind == "DELETE_CLUSTER":
        items.append(
            {"state": "done" if done else "running", "text": "Deleted" if done else "Deleting"}
        )
    else:
        items.append(
            {"state": "done", "text": f"Control plane: back at {_clock(op['endTime'])}"}
            if done
            else {"state": "running", "text": f"Control plane: restarting (since {started})"}
        )
    nodes_back = True
    if res is not None and not error and kind != "DELETE_CLUSTER":
        pods = [p.data for p in system_pods(ctx, res.key)]
        running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
        if pods and len(running) == len(pods) and done:
            back = max(_ready_time(p) for p in running)
            items.append({"state": "done", "text": f"Nodes: back at {_clock(back)}"})
        else:
            nodes_back = False
            why = "" if ctx.data_plane else " (the data plane is off: pods wait)"
            items.append(
                {
                    "state": "running",
                    "text": f"Nodes: starting node components, {len(running)} of "
                    f"{len(pods)} system pods running{why}",
                }
            )
    return {
        "cluster": status,
        "operation": {"name": op["name"], "type": kind, "status": op.get("status")},
        "items": items,
        "done": done and (nodes_back or not ctx.data_plane),
    }


def _ready_time(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("lastTransitionTime"):
            return str(cond["lastTransitionTime"])
    return str(status.get("startTime", ""))


def _progress_items(data: dict[str, Any]) -> str:
    return (
        "".join(f'<li class="{h(i["state"])}">{h(i["text"])}</li>' for i in data["items"])
        + f"<li class=summary>Cluster status: <strong>{h(data['cluster'])}</strong></li>"
    )


@router.get(BASE + "/{location}/{name}/progress")
def progress(ctx: CtxDep, location: str, name: str, operation: str) -> JSONResponse:
    data = _progress(ctx, location, name, operation)
    data["html"] = _progress_items(data)
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


# Edit intra-node visibility --------------------------------------------------------------------
@router.get(BASE + "/{location}/{name}/edit-intra-node-visibility")
def edit_inv(ctx: CtxDep, location: str, name: str) -> HTMLResponse:
    c = _cluster_doc(ctx, location, name)
    on = bool((c.get("networkConfig") or {}).get("enableIntraNodeVisibility"))
    return _edit_inv_page(ctx, location, c, on, {})


@router.post(BASE + "/{location}/{name}/edit-intra-node-visibility")
async def save_inv(ctx: CtxDep, request: Request, location: str, name: str) -> Response:
    fields = await read_form(request)
    want = fields.get("inv") == "on"
    try:
        body = {"update": {"desiredIntraNodeVisibilityConfig": {"enabled": want}}}
        req = parse_model(body, msgs.UpdateClusterRequest)
        op = clusters.update_cluster(ctx, _where(ctx, location), name, req.update)
    except ApiError as err:
        c = _cluster_doc(ctx, location, name)
        return _edit_inv_page(ctx, location, c, want, {"inv": err.message}, status=err.code)
    target = _cluster_path(location, name) + "?operation=" + op["name"]
    return RedirectResponse(target, status_code=303)


def _edit_inv_page(
    ctx: Context,
    location: str,
    c: dict[str, Any],
    on: bool,
    errors: dict[str, str],
    *,
    status: int = 200,
) -> HTMLResponse:
    name = str(c["name"])
    path = _cluster_path(location, name)
    autopilot = bool((c.get("autopilot") or {}).get("enabled"))
    locked = " disabled" if autopilot else ""
    note = (
        "Intra-node visibility is always on for Autopilot clusters."
        if autopilot
        else "Saving a change restarts the cluster's control plane and the node components "
        "(netd and the other kube-system pods) on every node; your pods keep running."
    )
    body = (
        f"<p class=crumbs><a href='{BASE}'>Kubernetes clusters</a> › "
        f'<a href="{h(path)}">{h(name)}</a></p>'
        f"<h1>Edit intra-node visibility</h1><p id=inv-note>{h(note)}</p>"
        f'<form method=post action="{h(path)}/edit-intra-node-visibility" class=card>'
        f"{csrf_input(csrf_value(ctx.token))}<div class='field check'>"
        f"<input type=checkbox id=inv name=inv value=on{' checked' if on else ''}{locked} "
        f"aria-describedby=inv-note{invalid_attrs(errors, 'inv')}>"
        "<label for=inv>Enable intra-node visibility</label>"
        f"{field_error(errors, 'inv')}</div><div class=actions>"
        f"<button type=submit class=primary{locked}>Save changes</button>"
        f'<a href="{h(path)}">Cancel</a></div></form>'
    )
    return page(
        "Edit intra-node visibility",
        body,
        project=ctx.settings.project,
        active="clusters",
        status=status,
    )
