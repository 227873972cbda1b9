"""Traffic map: a cluster's nodes with their pods, the VPC router above them, and an edge per
recent flow — through the router when it crossed the VPC, inside the node when it stayed
there — with its bytes and firewall verdict. The same flows are listed in a table under the
map (the map's text alternative). ``traffic.py`` says where the flows come from.

The map is drawn on the server as SVG; with JavaScript the page redraws itself every few
seconds (``/view`` returns the map and table alone).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from intranode.api.console.connections import ConnectionSource
from intranode.api.console.html import SECURITY_HEADERS, h, options, page
from intranode.api.console.inventory import ClusterView, cluster_view, project_clusters
from intranode.api.console.traffic import DENIED, NOT_SEEN, Flow, gather
from intranode.api.deps import CtxDep
from intranode.controllers.context import Context

router = APIRouter()

BASE = "/console/networking/traffic-map"
WINDOWS = (
    ("60", "Last minute"),
    ("300", "Last 5 minutes"),
    ("900", "Last 15 minutes"),
    ("3600", "Last hour"),
)
LABELED_PODS = 24  # more pods than this on a node are drawn as dots (names in tooltips)
NODES_PER_ROW = 4


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    node: str  # the node it is on ("" outside the cluster)


@dataclass
class Edge:
    src: Endpoint
    dest: Endpoint
    path: str
    flows: list[Flow]
    current: bool = False

    @property
    def bytes(self) -> int | None:
        counted = [f.bytes for f in self.flows if f.bytes is not None]
        return sum(counted) if counted else None

    @property
    def verdict(self) -> str:
        verdicts = {f.verdict for f in self.flows}
        return DENIED if DENIED in verdicts else sorted(verdicts)[0]

    @property
    def last_seen(self) -> float:
        return max(f.last_seen for f in self.flows)


def endpoints_of(view: ClusterView) -> dict[str, Endpoint]:
    out: dict[str, Endpoint] = {}
    for n in view.nodes:
        out[n.internal_ip] = Endpoint(f"node/{n.name}", f"node {n.name}", n.name)
        for p in n.pods:
            if p.ip and not p.host_network:
                label = p.name if p.namespace == "default" else f"{p.namespace}/{p.name}"
                out[p.ip] = Endpoint(f"pod/{p.namespace}/{p.name}", label, n.name)
    return out


def edges_of(flows: Sequence[Flow], endpoints: dict[str, Endpoint]) -> list[Edge]:
    """Flows grouped by (source, destination, path); per pair of endpoints the group with the
    most recent flow is the current one."""
    groups: dict[tuple[str, str, str], Edge] = {}
    for f in flows:
        src = endpoints.get(f.tuple.src_ip) or Endpoint(f"ip/{f.tuple.src_ip}", f.tuple.src_ip, "")
        dest = endpoints.get(f.tuple.dest_ip) or Endpoint(
            f"ip/{f.tuple.dest_ip}", f.tuple.dest_ip, ""
        )
        key = (src.key, dest.key, f.path)
        if key not in groups:
            groups[key] = Edge(src, dest, f.path, [])
        groups[key].flows.append(f)
    edges = sorted(groups.values(), key=lambda e: -e.last_seen)
    seen: set[tuple[str, str]] = set()
    for e in edges:
        pair = (e.src.key, e.dest.key)
        e.current = pair not in seen
        seen.add(pair)
    return edges


def _bytes(n: int | None) -> str:
    if n is None:
        return "bytes not counted"
    for unit, size in (("MB", 1_000_000), ("kB", 1000)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _path_text(e: Edge) -> str:
    return "via the VPC router" if e.path == "vpc" else "inside the node"


def _verdict_class(verdict: str) -> str:
    return "denied" if verdict == DENIED else "notseen" if verdict == NOT_SEEN else "allowed"


def render_svg(view: ClusterView, edges: Sequence[Edge]) -> str:
    gap, pad = 12.0, 20.0
    node_boxes: dict[str, Box] = {}
    pod_boxes: dict[str, Box] = {}
    parts: list[str] = []
    router = Box(0, pad, 280, 56)
    x, y, row_h = pad, router.bottom + 110, 0.0
    for i, n in enumerate(view.nodes):
        pods = [p for p in n.pods if p.ip and not p.host_network]
        dots = len(pods) > LABELED_PODS
        pw, ph = (16.0, 16.0) if dots else (132.0, 40.0)
        cols = 12 if dots else max(1, min(3, len(pods)))
        rows = -(-len(pods) // cols)
        w = max(220.0, cols * (pw + gap) + gap)
        hgt = 44 + rows * (ph + gap) + 70
        if i and i % NODES_PER_ROW == 0:
            x, y = pad, y + row_h + 40
            row_h = 0.0
        box = Box(x, y, w, hgt)
        node_boxes[n.name] = box
        parts.append(
            f'<g class=node data-node="{h(n.name)}"><rect class=node-box x="{box.x}" '
            f'y="{box.y}" width="{box.w}" height="{box.h}" rx=8></rect>'
            f'<text class=node-label x="{box.x + 10}" y="{box.y + 20}">node {h(n.name)}</text>'
            f'<text class=node-ip x="{box.x + 10}" y="{box.y + 36}">{h(n.internal_ip)} · pods '
            f"{h(n.pod_cidr)}</text>"
        )
        for j, p in enumerate(pods):
            px = box.x + gap + (j % cols) * (pw + gap)
            py = box.y + 44 + (j // cols) * (ph + gap)
            pb = Box(px, py, pw, ph)
            key = f"pod/{p.namespace}/{p.name}"
            pod_boxes[key] = pb
            label = p.name if p.namespace == "default" else f"{p.namespace}/{p.name}"
            parts.append(
                f'<g class="pod {h(p.phase.lower())}" data-pod="{h(label)}"><title>{h(label)} '
                f"{h(p.ip)} ({h(p.phase)})</title>"
                f'<rect x="{px}" y="{py}" width="{pw}" height="{ph}" rx=4></rect>'
                + (
                    ""
                    if dots
                    else f'<text x="{px + 6}" y="{py + 16}">{h(label[:20])}</text>'
                    f'<text class=pod-ip x="{px + 6}" y="{py + 32}">{h(p.ip)}</text>'
                )
                + "</g>"
            )
        parts.append("</g>")
        x += w + 40
        row_h = max(row_h, hgt)
    width = max(x, router.w + 2 * pad, 600.0)
    height = y + row_h + pad
    router = Box((width - router.w) / 2, router.y, router.w, router.h)
    head = (
        f'<g class=router><rect class=router-box x="{router.x}" y="{router.y}" '
        f'width="{router.w}" height="{router.h}" rx=10></rect>'
        f'<text x="{router.x + 14}" y="{router.y + 24}">VPC router</text>'
        f'<text class=node-ip x="{router.x + 14}" y="{router.y + 42}">network '
        f"{h(view.network)}: firewall, flow logs, mirroring</text></g>"
    )

    def anchor(ep: Endpoint, top: bool) -> tuple[float, float] | None:
        if ep.key in pod_boxes:
            b = pod_boxes[ep.key]
            return (b.cx, b.y if top else b.bottom)
        if ep.key.startswith("node/") and ep.node in node_boxes:
            b = node_boxes[ep.node]
            return (b.cx, b.y)
        return None

    drawn = []
    vpc_index = 0
    for e in sorted(edges, key=lambda e: e.current):  # current edges on top
        start, end = anchor(e.src, e.path == "vpc"), anchor(e.dest, e.path == "vpc")
        if start is None or end is None:
            continue
        classes = (
            f"edge {e.path} {_verdict_class(e.verdict)} {'current' if e.current else 'earlier'}"
        )
        text = (
            f"{e.src.label} to {e.dest.label} {_path_text(e)}, {_bytes(e.bytes)}, {e.verdict}"
            f"{'' if e.current else ' (earlier path)'}"
        )
        if e.path == "vpc":
            rx = router.x + 30 + (vpc_index * 37) % (router.w - 60)
            vpc_index += 1
            d = f"M{start[0]},{start[1]} L{rx},{router.bottom} L{end[0]},{end[1]}"
            lx, ly = rx + 6, router.bottom + 16 + (vpc_index % 4) * 14
        else:
            cy = max(start[1], end[1]) + 46
            mx = (start[0] + end[0]) / 2
            d = f"M{start[0]},{start[1]} Q{mx},{cy} {end[0]},{end[1]}"
            lx, ly = mx - 30, cy - 16
        drawn.append(
            f'<g class="{classes}" data-path="{e.path}" data-src="{h(e.src.label)}" '
            f'data-dest="{h(e.dest.label)}" data-current="{str(e.current).lower()}" '
            f'data-verdict="{h(e.verdict)}"><title>{h(text)}</title>'
            f'<path d="{d}" marker-end="url(#arrow)"></path>'
            f'<text class=edge-label x="{lx}" y="{ly}">{h(_bytes(e.bytes))}</text></g>'
        )
    return (
        f'<svg id=traffic-svg role=img aria-labelledby="map-title map-desc" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}">'
        f"<title id=map-title>Traffic map of cluster {h(view.name)}</title>"
        f"<desc id=map-desc>{len(view.nodes)} nodes under the VPC router; "
        f"{sum(1 for e in edges if e.current)} current edges. The table below lists every "
        "flow.</desc>"
        '<defs><marker id=arrow viewBox="0 0 10 10" refX=9 refY=5 markerWidth=7 '
        'markerHeight=7 orient=auto-start-reverse><path d="M0,0 L10,5 L0,10 z"></path>'
        "</marker></defs>" + head + "".join(parts) + "".join(drawn) + "</svg>"
    )


def _flow_table(edges: Sequence[Edge], now: float) -> str:
    rows = []
    for e in edges:
        for f in e.flows:
            t = f.tuple
            port = f"{t.dest_port}/" if t.dest_port is not None else ""
            proto = {6: "tcp", 17: "udp", 1: "icmp"}.get(t.protocol, str(t.protocol))
            rows.append(
                f'<tr data-path="{e.path}" data-current="{str(e.current).lower()}">'
                f"<td>{h(e.src.label)}<br><span class=meta>{h(t.src_ip)}</span></td>"
                f"<td>{h(e.dest.label)}<br><span class=meta>{h(t.dest_ip)}</span></td>"
                f"<td>{h(port + proto)}</td><td>{h(_path_text(e))}"
                f"{'' if e.current else ' (earlier)'}</td><td>{h(_bytes(f.bytes))}</td>"
                f"<td><span class='verdict {_verdict_class(f.verdict)}'>{h(f.verdict)}</span></td>"
                f"<td>{max(0, round(now - f.last_seen))} s ago</td><td>{h(f.evidence)}</td></tr>"
            )
    if not rows:
        return "<p id=no-flows>No flows in this time range.</p>"
    return (
        "<table id=flows><caption>Flows (newest first)</caption><thead><tr>"
        "<th scope=col>Source</th><th scope=col>Destination</th><th scope=col>Port</th>"
        "<th scope=col>Path</th><th scope=col>Bytes</th><th scope=col>Firewall verdict</th>"
        "<th scope=col>Last packet</th><th scope=col>Seen in</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _view_html(request: Request, ctx: Context, cluster: str, window: str) -> tuple[str, str]:
    """The map and its table, and the chosen cluster's key."""
    found = project_clusters(ctx)
    chosen = next((r for r in found if r.key == cluster), found[0] if found else None)
    if chosen is None:
        return ("<p>No clusters yet.</p>", "")
    view = cluster_view(ctx, chosen)
    source: ConnectionSource | None = request.app.state.connections
    seconds = float(window) if window in dict(WINDOWS) else 300.0
    traffic = gather(ctx, view, source, seconds)
    edges = edges_of(traffic.flows, endpoints_of(view))
    notes = "".join(f"<p class=note>{h(n)}</p>" for n in traffic.notes)
    inv = (
        "on: same-node traffic leaves the node and crosses the VPC router"
        if view.inv
        else "off: same-node traffic stays inside the node"
    )
    path = (
        f"/console/kubernetes/clusters/{urllib.parse.quote(view.location)}/"
        f"{urllib.parse.quote(view.name)}/edit-intra-node-visibility"
    )
    html = (
        f"<p id=inv-summary>Intra-node visibility is <strong>{h(inv)}</strong>. "
        f'<a href="{h(path)}">Edit intra-node visibility</a></p>{notes}'
        f"<div class=map-scroll>{render_svg(view, edges)}</div>"
        "<ul class=legend aria-label=Legend><li class='vpc allowed'>crossed the VPC, allowed"
        "</li><li class='vpc denied'>crossed the VPC, denied at ingress</li>"
        "<li class='local notseen'>stayed inside the node</li><li class=earlier>earlier "
        "path of the same pair</li></ul>" + _flow_table(edges, ctx.clock())
    )
    return html, view.key


@router.get(BASE)
def traffic_map(
    request: Request, ctx: CtxDep, cluster: str = "", window: str = "300"
) -> HTMLResponse:
    project = ctx.settings.project
    view, key = _view_html(request, ctx, cluster, window)
    choices = [(r.key, f"{r.data['name']} ({r.data['location']})") for r in project_clusters(ctx)]
    params = urllib.parse.urlencode({"cluster": key, "window": window})
    body = (
        "<h1>Traffic map</h1>"
        f'<form method=get action="{BASE}" class="card row">'
        "<div class=field><label for=cluster>Cluster</label>"
        f"<select id=cluster name=cluster>{options(choices, key)}</select></div>"
        "<div class=field><label for=window>Flows of the</label>"
        f"<select id=window name=window>{options(list(WINDOWS), window)}</select></div>"
        "<div class=actions><button type=submit>Show</button>"
        "<label class=inline><input type=checkbox id=live checked> Refresh every 3 s</label>"
        "</div></form>"
        f'<div id=map-view data-url="{BASE}/view?{h(params)}" aria-live=off>{view}</div>'
    )
    return page("Traffic map", body, project=project, active="map")


@router.get(BASE + "/view")
def traffic_view(
    request: Request, ctx: CtxDep, cluster: str = "", window: str = "300"
) -> HTMLResponse:
    html, _ = _view_html(request, ctx, cluster, window)
    return HTMLResponse(html, headers=SECURITY_HEADERS)
