"""Logs explorer: a query in the Logging query language, a time range, the matching entries
(newest first, each one expandable to its JSON), the guide's flow-log query one click away,
and a live tail.

Reading goes through :func:`intranode.controllers.logs.list_entries`, as ``gcloud logging
read`` does. The query is parsed on its own first, so a syntax error names the line and
column of the text the user typed; the time range is then ANDed to it, as Google's console
does.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse

from intranode.api.console.html import h, options, page
from intranode.api.console.inventory import project_clusters
from intranode.api.deps import CtxDep
from intranode.controllers import logs
from intranode.controllers import pods as kpods
from intranode.controllers.context import Context
from intranode.domain.flowlogs.records import log_name as flow_log_name
from intranode.domain.logquery.errors import FilterSyntaxError
from intranode.domain.logquery.parser import parse
from intranode.domain.timefmt import rfc3339
from intranode.errors import ApiError

router = APIRouter()

BASE = "/console/logs"
RANGES = (
    ("15m", "Last 15 minutes", 15 * 60),
    ("1h", "Last hour", 3600),
    ("6h", "Last 6 hours", 6 * 3600),
    ("1d", "Last day", 86400),
    ("7d", "Last 7 days", 7 * 86400),
    ("30d", "Last 30 days", 30 * 86400),
    ("all", "All time", 0),
)
PAGE_SIZE = 50
TAIL_PAGE = 200
TAIL_LOOKBACK = 30 * 60  # seconds: longer than the longest aggregation interval
SUMMARY_CHARS = 200


def guide_query(ctx: Context) -> str:
    """The guide's flow-log query, with the project and, when pods named pod-1 and pod-2
    exist, their addresses filled in."""
    project = ctx.settings.project
    query = f'logName="{flow_log_name(project)}"'
    ips: dict[str, str] = {}
    for res in project_clusters(ctx):
        for p in kpods.cluster_pods(ctx, res.key):
            name = p.data["metadata"].get("name")
            ip = (p.data.get("status") or {}).get("podIP")
            if name in ("pod-1", "pod-2") and ip and name not in ips:
                ips[name] = str(ip)
    if "pod-1" in ips and "pod-2" in ips:
        query += (
            f' AND jsonPayload.connection.src_ip="{ips["pod-1"]}"'
            f' AND jsonPayload.connection.dest_ip="{ips["pod-2"]}"'
        )
    return query


def _since(ctx: Context, range_key: str, since: str) -> str:
    if since:
        return since
    seconds = next((s for k, _, s in RANGES if k == range_key), 3600)
    return rfc3339(ctx.clock() - seconds) if seconds else ""


def _filter(query: str, *bounds: str) -> str:
    # The user's text in parentheses and on lines of its own, so that a trailing comment or
    # an OR in it keeps its meaning.
    parts = [f"(\n{query}\n)"] if query.strip() else []
    return " AND ".join([*parts, *(b for b in bounds if b)])


def _summary(entry: dict[str, Any]) -> str:
    payload = entry.get("jsonPayload")
    if isinstance(payload, dict) and isinstance(payload.get("connection"), dict):
        c = payload["connection"]
        src = f"{c.get('src_ip', '')}:{c.get('src_port', '')}".rstrip(":")
        dst = f"{c.get('dest_ip', '')}:{c.get('dest_port', '')}".rstrip(":")
        pods = [
            str((payload.get(side) or {}).get("pod", {}).get("pod_name", ""))
            for side in ("src_gke_details", "dest_gke_details")
        ]
        names = f" ({pods[0] or '?'} → {pods[1] or '?'})" if any(pods) else ""
        return (
            f"{src} → {dst} protocol {c.get('protocol', '')}{names} · "
            f"{payload.get('bytes_sent', '0')} bytes · reporter {payload.get('reporter', '')}"
        )
    if "textPayload" in entry:
        text = str(entry["textPayload"])
    elif isinstance(payload, dict) and "message" in payload:
        text = str(payload["message"])
    elif payload is not None:
        text = json.dumps(payload, separators=(",", ":"))
    elif isinstance(entry.get("protoPayload"), dict):
        text = str(entry["protoPayload"].get("methodName", "protoPayload"))
    else:
        text = ""
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS] + "…"


def entry_rows(entries: list[str]) -> str:
    rows = []
    for raw in entries:
        e = json.loads(raw)
        log_id = urllib.parse.unquote(str(e.get("logName", "")).split("/logs/", 1)[-1])
        sev = str(e.get("severity", "DEFAULT"))
        rows.append(
            f"<tr class=entry data-insert-id='{h(e.get('insertId', ''))}'>"
            f"<td><span class='sev {h(sev.lower())}'>{h(sev)}</span></td>"
            f"<td class=ts>{h(e.get('timestamp', ''))}</td><td>{h(log_id)}</td>"
            f"<td><details><summary>{h(_summary(e))}</summary>"
            f"<pre>{h(json.dumps(e, indent=2, sort_keys=True))}</pre></details></td></tr>"
        )
    return "".join(rows)


def _error_block(query: str, err: ApiError) -> str:
    caret = ""
    if isinstance(err, FilterSyntaxError):
        lines = query.split("\n")
        line = lines[err.line - 1] if 0 < err.line <= len(lines) else ""
        caret = f"<pre class=caret aria-hidden=true>{h(line)}\n{' ' * (err.column - 1)}^</pre>"
    return f"<div id=query-error class=query-error role=alert><p>{h(err.message)}</p>{caret}</div>"


@router.get(BASE + "/query")
def explorer(
    ctx: CtxDep,
    query: str = "",
    time_range: str = Query("1h", alias="range"),
    since: str = "",
    order: str = "desc",
    page_token: str = "",
) -> HTMLResponse:
    project = ctx.settings.project
    order = order if order in ("asc", "desc") else "desc"
    bound = _since(ctx, time_range, since)
    error = ""
    results = ""
    status = 200
    position = ""
    try:
        parse(query)
        page_data = logs.list_entries(
            ctx,
            logs.ListRequest(
                resource_names=[f"projects/{project}"],
                filter=_filter(query, f'timestamp>="{bound}"' if bound else ""),
                order_by=f"timestamp {order}",
                page_size=PAGE_SIZE,
                page_token=page_token,
            ),
        )
    except ApiError as err:
        error = _error_block(query, err)
        status = err.code
        if isinstance(err, FilterSyntaxError):
            position = f' data-error-line="{err.line}" data-error-column="{err.column}"'
    else:
        more = ""
        if page_data.next_page_token:
            params = urllib.parse.urlencode(
                {
                    "query": query,
                    "range": time_range,
                    "since": bound,
                    "order": order,
                    "page_token": page_data.next_page_token,
                }
            )
            more = f'<p><a href="{BASE}/query?{h(params)}">Older entries</a></p>'
        count = len(page_data.entries)
        results = (
            f"<p id=result-count role=status>{count} entr{'y' if count == 1 else 'ies'}"
            f"{' shown (more below)' if page_data.next_page_token else ''}.</p>"
            "<table id=results><caption>Query results</caption><thead><tr>"
            "<th scope=col>Severity</th><th scope=col>Timestamp</th><th scope=col>Log</th>"
            "<th scope=col>Summary (expand for the entry)</th></tr></thead>"
            f"<tbody>{entry_rows(page_data.entries)}</tbody></table>{more}"
        )
    ranges = [(k, label) for k, label, _ in RANGES]
    guide = guide_query(ctx)
    guide_href = f"{BASE}/query?" + urllib.parse.urlencode({"query": guide, "range": time_range})
    flows_href = f"{BASE}/query?" + urllib.parse.urlencode(
        {"query": f'logName="{flow_log_name(project)}"', "range": time_range}
    )
    invalid = " aria-invalid=true aria-describedby=query-error" if error else ""
    tail_params = urllib.parse.urlencode({"query": query})
    body = (
        "<h1>Logs explorer</h1>"
        '<p class=quick>Queries: <a id=guide-query href="'
        f"{h(guide_href)}\">Flow logs from pod-1 to pod-2 (the guide's query)</a> · "
        f'<a href="{h(flows_href)}">All VPC flow logs</a></p>'
        f'<form method=get action="{BASE}/query" class="card query">'
        "<div class=field><label for=query>Query</label>"
        f"<textarea id=query name=query rows=4 spellcheck=false{invalid}{position}>"
        f"{h(query)}</textarea>{error}</div>"
        "<div class=row><div class=field><label for=range>Time range</label>"
        f"<select id=range name=range>{options(ranges, time_range)}</select></div>"
        "<div class=field><label for=order>Order</label><select id=order name=order>"
        f"{options([('desc', 'Newest first'), ('asc', 'Oldest first')], order)}</select>"
        "</div></div><div class=actions><button type=submit class=primary>Run query</button>"
        "<button type=button id=tail aria-pressed=false "
        f'data-url="{BASE}/tail?{h(tail_params)}" data-cursor="{h(rfc3339(ctx.clock()))}"'
        f"{' disabled' if error else ''}>Stream logs</button>"
        "<span id=tail-status role=status></span></div></form>" + results
    )
    return page("Logs explorer", body, project=project, active="logs", status=status)


@router.get(BASE + "/tail")
def tail(ctx: CtxDep, query: str = "", after: str = "") -> JSONResponse:
    """Entries received after ``after`` (a receiveTimestamp), newest first, as table rows,
    and the cursor for the next call."""
    now = ctx.clock()
    after = after or rfc3339(now)
    # Entries arrive up to an aggregation interval after their timestamp; the bound keeps the
    # read to the recent days instead of every stored entry.
    recent = rfc3339(now - TAIL_LOOKBACK)
    try:
        parse(query)
        found = logs.list_entries(
            ctx,
            logs.ListRequest(
                resource_names=[f"projects/{ctx.settings.project}"],
                filter=_filter(query, f'receiveTimestamp>"{after}"', f'timestamp>="{recent}"'),
                order_by="timestamp desc",
                page_size=TAIL_PAGE,
            ),
        )
    except ApiError as err:
        return JSONResponse({"error": err.message}, status_code=err.code)
    cursor = max(
        (str(json.loads(e).get("receiveTimestamp", "")) for e in found.entries), default=after
    )
    return JSONResponse(
        {"rows": entry_rows(found.entries), "count": len(found.entries), "cursor": cursor},
        headers={"Cache-Control": "no-store"},
    )
