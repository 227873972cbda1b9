"""Traffic map: which path each flow took (through the VPC router or inside the node), its
bytes and firewall verdict, and the current path per pair of pods, drawn from flow-log
records and the router's and nodes' conntrack."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.api.console import create_console_app, traffic
from intranode.api.console.connections import Connection, parse_listing
from intranode.api.console.traffic import ALLOWED, DENIED, NOT_SEEN, build_flows
from intranode.controllers.context import Context
from intranode.controllers.logs import write_entries
from intranode.domain import resources as R
from intranode.domain.flowlogs.observations import Counters, FiveTuple
from intranode.domain.netplan import LEDGER_NETNS
from intranode.domain.timefmt import rfc3339
from intranode.store.ledger import SqliteLedger
from tests.unit.conftest import PROJECT
from tests.unit.console.helpers import add_pod, create_cluster, node_names

P1, P2, P3 = "10.0.0.3", "10.0.0.4", "10.0.1.5"
REQ = FiveTuple(6, P1, P2, 47672, 8080)
NOW = 1_800_000_000.0
LINE = (
    '<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>10.0.0.3</src>'
    '<dst>10.0.0.4</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>47672</sport>'
    '<dport>8080</dport></layer4></meta><meta direction="reply"><layer3 protonum="2" '
    'protoname="ipv4"><src>10.0.0.4</src><dst>10.0.0.3</dst></layer3><layer4 protonum="6" '
    'protoname="tcp"><sport>8080</sport><dport>47672</dport></layer4></meta><meta '
    'direction="independent"><state>TIME_WAIT</state><timeout>109</timeout><mark>0</mark>'
    "<use>1</use><id>3795108184</id><assured/></meta></flow>"
)


def _conn(t: FiveTuple, idle: float = 1.0, sent: int = 0, back: int = 0) -> Connection:
    return Connection(t, Counters(1, sent), Counters(1, back), "TIME_WAIT", idle)


def _record(t: FiveTuple, reporter: str, sent: int, end: float = NOW - 2) -> dict[str, Any]:
    return {
        "connection": {
            "src_ip": t.src_ip,
            "src_port": t.src_port,
            "dest_ip": t.dest_ip,
            "dest_port": t.dest_port,
            "protocol": t.protocol,
        },
        "reporter": reporter,
        "bytes_sent": str(sent),
        "end_time": rfc3339(end),
    }


def _build(**kw: Any) -> list[traffic.Flow]:
    args: dict[str, Any] = {
        "records": [],
        "router": [],
        "nodes": {},
        "node_pod_ips": {"n1": frozenset({P1, P2})},
        "cluster_ips": frozenset({P1, P2, P3}),
        "now": NOW,
    }
    return build_flows(**(args | kw))


def test_a_listing_line_gives_the_connection_and_its_idle_time() -> None:
    (c,) = parse_listing('<?xml version="1.0"?>\n<conntrack>\n' + LINE + "\n</conntrack>\n")
    assert c.original == REQ and c.state == "TIME_WAIT"
    assert c.idle == 11.0  # TIME_WAIT lasts 120 s; 109 s are left
    assert c.orig_counters == Counters(0, 0)  # nodes keep no accounting


def test_a_same_node_flow_the_router_never_saw_stayed_inside_the_node() -> None:
    (f,) = _build(nodes={"n1": [_conn(REQ, idle=11)]})
    assert (f.path, f.bytes, f.verdict, f.last_seen) == ("local", None, NOT_SEEN, NOW - 11)
    assert f.evidence == "conntrack of node n1"


def test_a_flow_in_the_routers_conntrack_crossed_the_vpc() -> None:
    flows = _build(router=[_conn(REQ, idle=2, sent=448, back=378)], nodes={"n1": [_conn(REQ)]})
    assert [(f.path, f.bytes, f.verdict) for f in flows] == [("vpc", 826, ALLOWED)]
    assert flows[0].evidence == "VPC router conntrack (no flow-log record yet)"


def test_flow_log_records_give_bytes_of_both_directions_and_the_verdict() -> None:
    back = FiveTuple(6, P2, P1, 8080, 47672)
    records = [_record(REQ, "SRC", 448), _record(REQ, "DEST", 448), _record(back, "SRC", 378)]
    (f,) = _build(records=records, router=[_conn(REQ, idle=0.5)])
    assert (f.tuple, f.path, f.bytes, f.verdict) == (REQ, "vpc", 826, ALLOWED)
    assert f.last_seen == NOW - 0.5  # the router saw a packet after the record's interval
    assert f.evidence == "flow-log records (DEST, SRC)"


def test_a_src_record_without_a_dest_record_is_denied_at_ingress() -> None:
    (f,) = _build(records=[_record(REQ, "SRC", 60)])
    assert (f.verdict, f.bytes) == (DENIED, 60)


def test_records_alone_orient_a_flow_by_its_server_port() -> None:
    back = FiveTuple(6, P2, P1, 8080, 47672)
    (f,) = _build(records=[_record(back, "SRC", 378), _record(back, "DEST", 378)])
    assert f.tuple == REQ and f.verdict == ALLOWED  # the request itself was not logged


def test_flows_to_pods_of_other_nodes_are_not_local() -> None:
    other = FiveTuple(6, P1, P3, 40000, 8080)
    assert _build(nodes={"n1": [_conn(other)]}) == []


class _Source:
    def __init__(self) -> None:
        self.by_netns: dict[str, list[Connection]] = {}
        self.asked: list[str] = []

    def connections(self, netns: str) -> list[Connection]:
        self.asked.append(netns)
        return self.by_netns.get(netns, [])


@pytest.fixture
def mapped(ctx: Context) -> Iterator[tuple[TestClient, _Source]]:
    """The console alone, reading conntrack from a fake (the daemon gives it the kernel's)."""
    source = _Source()
    with TestClient(create_console_app(ctx, source)) as c:
        yield c, source


def _edges(html: str) -> list[tuple[str, str, str, str]]:
    return re.findall(
        r'data-path="(\w+)" data-src="([^"]+)" data-dest="([^"]+)" data-current="(\w+)"', html
    )


def test_the_map_moves_a_same_node_edge_when_new_traffic_crosses_the_vpc(
    client: TestClient, mapped: tuple[TestClient, _Source], ctx: Context
) -> None:
    console, source = mapped
    create_cluster(client, "flow-log-test")
    node = node_names(ctx, "flow-log-test")[0]
    add_pod(ctx, "flow-log-test", "pod-1", node, P1)
    add_pod(ctx, "flow-log-test", "pod-2", node, P2)
    # The node agent records each node's namespace in the ledger; the map finds it there.
    SqliteLedger(ctx.db).record(LEDGER_NETNS, "", "t-n-0001", f"node:{_uid(ctx, node)}")
    source.by_netns["t-n-0001"] = [_conn(REQ, idle=30)]
    html = console.get("/console/networking/traffic-map").text
    assert _edges(html) == [("local", "pod-1", "pod-2", "true")]
    assert "<strong>off: same-node traffic stays inside the node</strong>" in html
    assert "not seen by the VPC firewall" in html
    assert "t-n-0001" in source.asked and any(ns.endswith("v-default") for ns in source.asked)

    later = FiveTuple(6, P1, P2, 53776, 8080)
    now = ctx.clock()
    write_entries(ctx, [_entry(later, "SRC", 448, now), _entry(later, "DEST", 448, now)])
    view = console.get("/console/networking/traffic-map/view").text
    assert sorted(_edges(view)) == [
        ("local", "pod-1", "pod-2", "false"),
        ("vpc", "pod-1", "pod-2", "true"),
    ]
    assert "448 B" in view and "flow-log records (DEST, SRC)" in view


def _uid(ctx: Context, node: str) -> str:
    (res,) = [
        r for r in ctx.resources.find(R.k8s_kind("nodes")) if r.data["metadata"]["name"] == node
    ]
    return str(res.data["metadata"]["uid"])


def _entry(t: FiveTuple, reporter: str, sent: int, now: float) -> dict[str, Any]:
    return {
        "logName": f"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows",
        "resource": {"type": "gce_subnetwork", "labels": {"project_id": PROJECT}},
        "timestamp": rfc3339(now),
        "jsonPayload": _record(t, reporter, sent, now),
    }


def test_without_a_data_plane_the_map_says_what_it_cannot_see(
    client: TestClient, ctx: Context
) -> None:
    create_cluster(client, "flow-log-test")
    html = client.get("/console/networking/traffic-map").text
    assert "The data plane is off: only flow-log records are drawn." in html
    assert "No flows in this time range." in html
    assert re.search(r"<svg id=traffic-svg role=img aria-labelledby=\"map-title map-desc\"", html)
