"""``intranode flows [--follow] [FILTER]``: the VPC flow-log records of the daemon as a table.

It reads ``entries:list`` over HTTP as ``gcloud logging read`` does: the user's FILTER (the
Logging query language) ANDed with the ``vpc_flows`` log name, a ``timestamp>=`` clause from
``--freshness`` unless the filter mentions ``timestamp`` (gcloud's rule), the newest
``--limit`` entries, shown newest last. ``--follow`` then asks every second for entries
received since, and prints the ones not shown yet (by insertId) until Ctrl-C.

Each record crossed the network's VPC router (that is where the collector counts), so the
path is always ``via VPC``; a record whose two ends are VMs on the same node is marked
``same node``: a pod-to-pod flow inside one node that GKE only routes through the VPC, and so
logs, with intra-node visibility on.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import click
from rich.console import Console, JustifyMethod
from rich.table import Table

from intranode.cli.client import DaemonClient
from intranode.cli.target import Target

LOG_ID = "compute.googleapis.com%2Fvpc_flows"
MAX_PAGE = 1000
PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP"}
POLL_SECONDS = 1.0
# Entries received this long before a poll are asked for again: a write that committed while
# the previous poll ran is not missed (shown ones are skipped by insertId).
FOLLOW_OVERLAP_S = 5.0


# -- the query ---------------------------------------------------------------------------------
_COMPACT = re.compile(r"(?:(\d+(?:\.\d*)?|\.\d+)([dhms]))+", re.IGNORECASE)
_COMPACT_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([dhms])", re.IGNORECASE)
_ISO = re.compile(
    r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?",
    re.IGNORECASE,
)
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float:
    """Seconds in a gcloud duration: ``30s``, ``10m``, ``2h``, ``1d``, ``1h30m``, ISO 8601
    ``PT1H`` / ``P1DT2H``, or a bare number of seconds."""
    value = text.strip()
    try:
        return _non_negative(float(value), text)
    except ValueError:
        pass
    if _COMPACT.fullmatch(value):
        total = sum(float(n) * _UNIT_S[u.lower()] for n, u in _COMPACT_PART.findall(value))
        return _non_negative(total, text)
    m = _ISO.fullmatch(value)
    if m and any(m.groups()) and not value.upper().endswith("T"):
        days, hours, minutes, secs = (float(g) if g else 0.0 for g in m.groups())
        return days * 86400 + hours * 3600 + minutes * 60 + secs
    raise ValueError(
        f"Failed to parse duration: {text!r}: use 30s, 10m, 2h, 1d (or 1h30m, or ISO 8601 "
        "such as PT1H)"
    )


def _non_negative(seconds: float, text: str) -> float:
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"Failed to parse duration: {text!r}: it must not be negative")
    return seconds


def flows_filter(project: str, user_filter: str, clauses: tuple[str, ...] = ()) -> str:
    """The filter sent: the user's first (so the daemon's error positions point into it),
    then the flow log and any further clauses, joined with ``AND`` as gcloud joins them
    (AND binds loosest, so no parentheses are needed)."""
    parts = [user_filter.strip()] if user_filter.strip() else []
    parts.append(f'logName="projects/{project}/logs/{LOG_ID}"')
    parts.extend(clauses)
    return " AND ".join(parts)


def time_text(t: dt.datetime) -> str:
    """The form gcloud writes its freshness bound in (microseconds, ``Z``)."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- rows --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowRow:
    insert_id: str
    time: str
    src: str
    src_ip: str
    dest: str
    dest_ip: str
    dest_port: int | None
    protocol: str
    bytes: str
    packets: str
    reporter: str
    same_node: bool

    @property
    def path(self) -> str:
        return "via VPC, same node (intra-node visibility)" if self.same_node else "via VPC"


def _get(doc: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _endpoint(payload: dict[str, Any], side: str) -> tuple[str, str]:
    ip = _get(payload, "connection", f"{side}_ip")
    ip_text = ip if isinstance(ip, str) else ""
    pod = _get(payload, f"{side}_gke_details", "pod", "pod_name")
    if not isinstance(pod, str) or not pod:
        return ip_text or "?", ip_text
    namespace = _get(payload, f"{side}_gke_details", "pod", "pod_namespace")
    shown = pod if namespace in (None, "", "default") else f"{namespace}/{pod}"
    return shown, ip_text


def flow_row(entry: dict[str, Any]) -> FlowRow:
    """What the table shows of one flow-log entry; absent fields show as ``-``."""
    payload = entry.get("jsonPayload")
    payload = payload if isinstance(payload, dict) else {}
    src, src_ip = _endpoint(payload, "src")
    dest, dest_ip = _endpoint(payload, "dest")
    port = _get(payload, "connection", "dest_port")
    proto = _get(payload, "connection", "protocol")
    src_vm = _get(payload, "src_instance", "vm_name")
    dest_vm = _get(payload, "dest_instance", "vm_name")
    return FlowRow(
        insert_id=str(entry.get("insertId", "")),
        time=str(entry.get("timestamp", "")),
        src=src,
        src_ip=src_ip,
        dest=dest,
        dest_ip=dest_ip,
        dest_port=port if isinstance(port, int) and not isinstance(port, bool) else None,
        protocol=PROTOCOLS.get(proto, str(proto)) if isinstance(proto, int) else "-",
        bytes=str(payload.get("bytes_sent", "-")),
        packets=str(payload.get("packets_sent", "-")),
        reporter=str(payload.get("reporter", "-")),
        same_node=isinstance(src_vm, str) and bool(src_vm) and src_vm == dest_vm,
    )


def _short_time(text: str) -> str:
    """``2026-11-26T10:00:05.123456789Z`` → ``2026-11-26 10:00:05`` (UTC)."""
    return text[:19].replace("T", " ") if len(text) >= 19 else text


_COLUMNS: tuple[tuple[str, int, JustifyMethod], ...] = (
    # header, width, justify
    ("time (UTC)", 19, "left"),
    ("source", 22, "left"),
    ("", 1, "left"),
    ("destination", 22, "left"),
    ("port", 9, "left"),
    ("bytes", 10, "right"),
    ("packets", 8, "right"),
    ("reporter", 8, "left"),
    ("path", 44, "left"),
)


# Each column plus one space either side.
TABLE_WIDTH = sum(width + 2 for _, width, _ in _COLUMNS)


def render(console: Console, rows: list[FlowRow], *, header: bool) -> None:
    """Rows as a table with fixed column widths, so that batches printed one after another
    while following line up under the first one's header."""
    table = Table(show_header=header, box=None, pad_edge=False, header_style="bold")
    for name, width, justify in _COLUMNS:
        table.add_column(name, width=width, justify=justify, no_wrap=True)
    for r in rows:
        port = f"{r.dest_port}/{r.protocol}" if r.dest_port is not None else r.protocol
        path = f"[yellow]{r.path}[/yellow]" if r.same_node else r.path
        table.add_row(
            _short_time(r.time), r.src, "→", r.dest, port, r.bytes, r.packets, r.reporter, path
        )
    console.print(table)


def as_json(row: FlowRow) -> dict[str, Any]:
    return {**asdict(row), "path": row.path}


# -- reading -----------------------------------------------------------------------------------
def list_entries(
    client: DaemonClient, project: str, text: str, order: str, limit: int | None
) -> Iterator[dict[str, Any]]:
    """Entries of ``entries:list``, page after page, at most ``limit``."""
    token = ""
    got = 0
    while True:
        size = MAX_PAGE if limit is None else min(MAX_PAGE, limit - got)
        body = {
            "resourceNames": [f"projects/{project}"],
            "filter": text,
            "orderBy": order,
            "pageSize": size,
        }
        if token:
            body["pageToken"] = token
        page = client.post("/v2/entries:list", body) or {}
        for entry in page.get("entries", []):
            yield entry
            got += 1
            if limit is not None and got >= limit:
                return
        token = page.get("nextPageToken", "")
        if not token:
            return


@dataclass
class Follower:
    """Polls for entries received since the last poll; yields each insertId once."""

    client: DaemonClient
    project: str
    user_filter: str
    since: dt.datetime  # the timestamp bound of every poll (the days the store reads)
    seen: dict[str, float]
    clock: Callable[[], float] = time.time

    def poll(self, received_after: float) -> list[dict[str, Any]]:
        clauses = (
            f'timestamp>="{time_text(self.since)}"',
            'receiveTimestamp>="'
            + time_text(dt.datetime.fromtimestamp(received_after - FOLLOW_OVERLAP_S, dt.UTC))
            + '"',
        )
        text = flows_filter(self.project, self.user_filter, clauses)
        fresh = []
        for entry in list_entries(self.client, self.project, text, "timestamp asc", None):
            insert_id = str(entry.get("insertId", ""))
            if insert_id in self.seen:
                continue
            self.seen[insert_id] = self.clock()
            fresh.append(entry)
        # Forget what can no longer come back (received before the overlap window).
        horizon = self.clock() - 4 * FOLLOW_OVERLAP_S - POLL_SECONDS
        for old in [k for k, t in self.seen.items() if t < horizon]:
            del self.seen[old]
        return fresh


def _client(target: Target) -> DaemonClient:
    return DaemonClient(target)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _check_limit(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise click.BadParameter("Value must be greater than or equal to 1", ctx, param)
    return value


def _check_freshness(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx, param) from None


@click.command("flows")
@click.argument("log_filter", metavar="[FILTER]", required=False, default="")
@click.option(
    "--state-dir",
    envvar="INTRANODE_STATE_DIR",
    default=None,
    help="State directory (default /var/lib/intranode; env INTRANODE_STATE_DIR).",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new records until Ctrl-C.")
@click.option(
    "--limit",
    type=int,
    default=None,
    callback=_check_limit,
    help="Show at most this many records, the newest (default: all within --freshness).",
)
@click.option(
    "--freshness",
    default="1d",
    show_default=True,
    callback=_check_freshness,
    help="How far back to look, as gcloud: 30s, 10m, 2h, 1d (not added when FILTER mentions "
    "timestamp).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def flows_command(
    log_filter: str,
    state_dir: str | None,
    follow: bool,
    limit: int | None,
    freshness: float,
    fmt: str,
) -> None:
    """VPC flow-log records, newest last: who talked to whom, on which port, how much, who
    reported it, and the path it took. FILTER is the Logging query language (as in
    `gcloud logging read`), ANDed with the vpc_flows log."""
    target = Target.from_option(state_dir)
    project = target.settings().project
    client = _client(target)
    started = dt.datetime.now(dt.UTC)
    since = started - dt.timedelta(seconds=freshness)
    # gcloud's rule: no freshness bound when the filter speaks of timestamps itself.
    clauses = () if "timestamp" in log_filter else (f'timestamp>="{time_text(since)}"',)
    text = flows_filter(project, log_filter, clauses)
    newest_first = list(list_entries(client, project, text, "timestamp desc", limit))
    rows = [flow_row(e) for e in reversed(newest_first)]
    # Never narrower than the table: a narrow terminal wraps lines rather than cutting values.
    console = Console(width=max(Console().width, TABLE_WIDTH))
    if fmt == "json":
        if follow:
            for row in rows:
                click.echo(json.dumps(as_json(row), sort_keys=True))
        else:
            click.echo(json.dumps([as_json(r) for r in rows], indent=2, sort_keys=True))
    else:
        render(console, rows, header=True)
        if not rows and not follow:
            click.echo("No VPC flow-log records matched.", err=True)
    if not follow:
        return
    shown = {r.insert_id: time.time() for r in rows}
    follower = Follower(client, project, log_filter, since, shown)
    last = started.timestamp()
    try:
        while True:
            _sleep(POLL_SECONDS)
            polled = time.time()
            fresh = [flow_row(e) for e in follower.poll(last)]
            last = polled
            if not fresh:
                continue
            if fmt == "json":
                for row in fresh:
                    click.echo(json.dumps(as_json(row), sort_keys=True))
            else:
                render(console, fresh, header=False)
    except KeyboardInterrupt:
        return
