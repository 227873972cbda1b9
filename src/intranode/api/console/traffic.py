"""The flows the traffic map draws, and where each one went.

Sources (``docs/console.md`` says why these):

* **VPC flow-log records** in the store: connections that crossed the VPC router and were
  logged, with their bytes, reporters and the endpoints' metadata;
* **the VPC router's conntrack**: connections that crossed it and are not logged (yet: a
  record is written when its aggregation interval ends; or flow logs are off);
* **each node's conntrack**: every connection that passed through the node. One that the
  router never saw, between two pods of that node, stayed inside the node: that is same-node
  traffic without intra-node visibility, which no VPC feature sees.

Firewall verdicts come from the flow-log records: a connection with a ``DEST`` record was let
in by the destination's ingress rules; one with a ``SRC`` record and no ``DEST`` record,
between two VMs of the cluster (whose subnet logs both ends), was denied at ingress (denied
packets give a ``SRC`` record only). A connection found in the router's conntrack passed the
firewall (conntrack keeps only accepted connections). Traffic that stayed in a node met no
VPC firewall at all.

Recency: a record's ``end_time``; for a conntrack entry, the time of its last packet (see
:mod:`intranode.api.console.connections`). The map shows, per pair of endpoints, the path of
the most recent flow as current, so a same-node edge visibly moves when intra-node visibility
is toggled and new traffic flows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from intranode.api.console.connections import Connection, ConnectionSource
from intranode.api.console.inventory import ClusterView
from intranode.controllers import logs
from intranode.controllers.context import Context
from intranode.domain.flowlogs.observations import FiveTuple
from intranode.domain.flowlogs.records import log_name
from intranode.domain.netplan import LEDGER_NETNS
from intranode.domain.timefmt import rfc3339
from intranode.domain.topology import KernelNames
from intranode.errors import DataplaneError, IntranodeError
from intranode.store.ledger import SqliteLedger

log = logging.getLogger(__name__)

Path = Literal["vpc", "local"]
MAX_RECORDS = 5000
ALLOWED = "allowed"
DENIED = "denied at ingress"
EGRESS_ONLY = "allowed at egress (no DEST record)"
NOT_SEEN = "not seen by the VPC firewall"


@dataclass(frozen=True)
class Flow:
    tuple: FiveTuple  # as the initiator sent it
    path: Path
    bytes: int | None  # both directions; None when nothing counted them
    verdict: str
    evidence: str
    last_seen: float


@dataclass
class Traffic:
    flows: list[Flow]
    notes: list[str] = field(default_factory=list)


def reverse(t: FiveTuple) -> FiveTuple:
    return FiveTuple(t.protocol, t.dest_ip, t.src_ip, t.dest_port, t.src_port)


def _record_tuple(payload: Mapping[str, Any]) -> FiveTuple | None:
    c = payload.get("connection")
    if not isinstance(c, dict) or "src_ip" not in c or "dest_ip" not in c:
        return None

    def port(v: Any) -> int | None:
        return int(v) if v is not None else None

    return FiveTuple(
        int(c.get("protocol", 0)),
        str(c["src_ip"]),
        str(c["dest_ip"]),
        port(c.get("src_port")),
        port(c.get("dest_port")),
    )


def _seconds(text: str) -> float:
    # RFC 3339 with up to nanoseconds; datetime takes microseconds.
    head, _, frac = text.rstrip("Z").partition(".")
    base = datetime.fromisoformat(head + "+00:00").timestamp()
    return base + (float("0." + frac) if frac else 0.0)


@dataclass
class _Logged:
    reporters: set[str] = field(default_factory=set)
    src_bytes: int = 0
    dest_bytes: int = 0
    last: float = 0.0


def build_flows(
    *,
    records: Iterable[Mapping[str, Any]],
    router: Sequence[Connection],
    nodes: Mapping[str, Sequence[Connection]],
    node_pod_ips: Mapping[str, frozenset[str]],
    cluster_ips: frozenset[str],
    now: float,
) -> list[Flow]:
    """Every flow, with its path, bytes, verdict and last activity (see the module doc).
    ``records`` are flow-log ``jsonPayload`` documents; ``nodes`` maps a node's name to its
    conntrack; ``node_pod_ips`` the addresses of the pods on each node."""
    oriented = {c.original for c in router}
    for conns in nodes.values():
        oriented.update(c.original for c in conns)

    logged: dict[FiveTuple, _Logged] = {}
    for payload in records:
        t = _record_tuple(payload)
        if t is None:
            continue
        item = logged.setdefault(t, _Logged())
        reporter = str(payload.get("reporter", ""))
        item.reporters.add(reporter)
        sent = int(payload.get("bytes_sent", 0) or 0)
        if reporter == "SRC":
            item.src_bytes += sent
        else:
            item.dest_bytes += sent
        item.last = max(item.last, _seconds(str(payload.get("end_time", "1970-01-01T00:00:00"))))

    def initiator(t: FiveTuple) -> FiveTuple:
        if t in oriented:
            return t
        if reverse(t) in oriented:
            return reverse(t)
        # The side with the lower port is taken to be the server.
        return t if (t.dest_port or 0) <= (t.src_port or 0) else reverse(t)

    flows: dict[FiveTuple, Flow] = {}
    for t in {initiator(t) for t in logged}:
        fwd, back = logged.get(t), logged.get(reverse(t))
        parts = [x for x in (fwd, back) if x is not None]
        total = sum((x.src_bytes if "SRC" in x.reporters else x.dest_bytes) for x in parts)
        if fwd is not None and "DEST" in fwd.reporters:
            verdict = ALLOWED
        elif fwd is not None and t.src_ip in cluster_ips and t.dest_ip in cluster_ips:
            verdict = DENIED
        elif fwd is not None:
            verdict = EGRESS_ONLY
        else:
            verdict = ALLOWED  # only the answer was logged: the request went through
        reporters = sorted(set().union(*(x.reporters for x in parts)))
        flows[t] = Flow(
            tuple=t,
            path="vpc",
            bytes=total,
            verdict=verdict,
            evidence="flow-log records (" + ", ".join(reporters) + ")",
            last_seen=max(x.last for x in parts),
        )

    crossed: set[FiveTuple] = set()
    for c in router:
        crossed.update((c.original, c.reverse))
        seen = now - c.idle
        known = flows.get(c.original)
        if known is not None:
            if seen > known.last_seen:
                flows[c.original] = Flow(
                    known.tuple, "vpc", known.bytes, known.verdict, known.evidence, seen
                )
            continue
        flows[c.original] = Flow(
            tuple=c.original,
            path="vpc",
            bytes=c.orig_counters.bytes + c.reply_counters.bytes,
            verdict=ALLOWED,
            evidence="VPC router conntrack (no flow-log record yet)",
            last_seen=seen,
        )
    for node, conns in nodes.items():
        pods = node_pod_ips.get(node, frozenset())
        for c in conns:
            t = c.original
            if t in crossed or t in flows or reverse(t) in flows:
                continue
            if t.src_ip not in pods or t.dest_ip not in pods:
                continue
            counted = c.orig_counters.bytes + c.reply_counters.bytes
            flows[t] = Flow(
                tuple=t,
                path="local",
                bytes=counted or None,
                verdict=NOT_SEEN,
                evidence=f"conntrack of node {node}",
                last_seen=now - c.idle,
            )
    return sorted(flows.values(), key=lambda f: -f.last_seen)


# Reading the sources -----------------------------------------------------------------------
def flow_records(ctx: Context, since: float) -> list[dict[str, Any]]:
    """The ``jsonPayload`` of the project's flow-log entries since ``since``."""
    project = ctx.settings.project
    flt = f'logName="{log_name(project)}" AND timestamp>="{rfc3339(since)}"'
    out: list[dict[str, Any]] = []
    token = ""
    while len(out) < MAX_RECORDS:
        page = logs.list_entries(
            ctx,
            logs.ListRequest(
                resource_names=[f"projects/{project}"],
                filter=flt,
                order_by="timestamp desc",
                page_size=logs.MAX_PAGE_SIZE,
                page_token=token,
            ),
        )
        out += [json.loads(e).get("jsonPayload") or {} for e in page.entries]
        if not page.next_page_token:
            break
        token = page.next_page_token
    return out


def node_namespaces(ctx: Context) -> dict[str, str]:
    """Node uid -> the node's namespace, from the ledger the node agent keeps."""
    out = {}
    for entry in SqliteLedger(ctx.db).entries():
        if entry.kind == LEDGER_NETNS and entry.owner.startswith("node:"):
            out[entry.owner.split(":", 1)[1]] = entry.name
    return out


def gather(
    ctx: Context, view: ClusterView, source: ConnectionSource | None, window: float
) -> Traffic:
    now = ctx.clock()
    notes: list[str] = []
    try:
        records = flow_records(ctx, now - window)
    except IntranodeError as err:  # Logging turned off, for one
        records = []
        notes.append(f"Flow-log records could not be read: {err}")
    router: list[Connection] = []
    nodes: dict[str, list[Connection]] = {}
    if source is None:
        notes.append(
            "The data plane is off: only flow-log records are drawn. Traffic that stays "
            "inside a node is seen by nothing but the node's conntrack."
        )
    else:
        try:
            router = source.connections(KernelNames(ctx.settings.prefix).router_netns(view.network))
        except (DataplaneError, ValueError) as err:
            notes.append(f"The VPC router's connections could not be read: {err}")
        namespaces = node_namespaces(ctx)
        for node in view.nodes:
            netns = namespaces.get(node.uid)
            if netns is None:
                continue
            try:
                nodes[node.name] = source.connections(netns)
            except DataplaneError as err:
                notes.append(f"The connections of node {node.name} could not be read: {err}")
    pod_ips = {
        n.name: frozenset(p.ip for p in n.pods if p.ip and not p.host_network) for n in view.nodes
    }
    cluster_ips = frozenset(ip for ips in pod_ips.values() for ip in ips) | frozenset(
        n.internal_ip for n in view.nodes
    )
    flows = build_flows(
        records=records,
        router=router,
        nodes=nodes,
        node_pod_ips=pod_ips,
        cluster_ips=cluster_ips,
        now=now,
    )
    return Traffic([f for f in flows if f.last_seen >= now - window], notes)
