"""Golden flow-log records: what the collector writes for typical traffic through the router."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from intranode.controllers.context import Context
from intranode.controllers.flowlogs import FlowCollector

from .world import (
    CLIENT,
    LONELY,
    NODE_B,
    SERVER,
    T0,
    Clock,
    FakeSource,
    build_world,
    log_config,
    stored_entries,
    totals,
)

LOG_NAME = "projects/test-proj/logs/compute.googleapis.com%2Fvpc_flows"


def _instance(name: str, zone: str) -> dict[str, Any]:
    return {
        "project_id": "test-proj",
        "region": "us-central1",
        "zone": zone,
        "vm_name": name,
        "managed_instance_group": {"name": f"grp-{name}", "zone": zone},
    }


def _vpc(subnet: str) -> dict[str, Any]:
    return {
        "project_id": "test-proj",
        "vpc_name": "vpc1",
        "subnetwork_name": subnet,
        "subnetwork_region": "us-central1",
    }


CLUSTER = {"cluster_name": "c1", "cluster_location": "us-central1"}
CLIENT_GKE = {
    "cluster": CLUSTER,
    "pod": {
        "pod_name": "client-7d9b5-x2x4q",
        "pod_namespace": "default",
        "pod_workload": {"workload_name": "client", "workload_type": "DEPLOYMENT"},
    },
}
SERVER_GKE = {
    "cluster": CLUSTER,
    "pod": {
        "pod_name": "server-0",
        "pod_namespace": "default",
        "pod_workload": {"workload_name": "server", "workload_type": "STATEFUL_SET"},
    },
    "service": [{"service_name": "server", "service_namespace": "default"}],
}
NODE_A_META = {
    "instance": _instance("node-a", "us-central1-a"),
    "vpc": _vpc("subnet-a"),
}


def _envelope(
    payload: dict[str, Any], subnet: str, sid: str, zone: str, timestamp: str
) -> dict[str, Any]:
    return {
        "logName": LOG_NAME,
        "resource": {
            "type": "gce_subnetwork",
            "labels": {
                "project_id": "test-proj",
                "subnetwork_id": sid,
                "subnetwork_name": subnet,
                "location": zone,
            },
        },
        "timestamp": timestamp,
        "jsonPayload": payload,
    }


def _without_ids(entry: dict[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    assert out.pop("insertId")
    assert out.pop("receiveTimestamp").startswith("2027-01-15T08:00:")
    return out


def test_same_node_request_reply_gives_four_records_from_that_node(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
) -> None:
    from .world import tcp

    build_world(ctx, a=log_config(), b=log_config())
    collector = make_collector()
    source.put(tcp(7, CLIENT, 43210, SERVER, 8080, orig=(7, 1224), reply=(5, 3000), age=0))
    clock.t = T0 + 1.5
    assert collector.tick().entries == 0  # the interval [T0, T0+5) is still open
    clock.t = T0 + 5.25
    report = collector.tick()
    assert report.entries == 4

    times = {
        "start_time": "2027-01-15T08:00:00.500000000Z",
        "end_time": "2027-01-15T08:00:01.500000000Z",
    }
    request = {
        "src_ip": CLIENT,
        "src_port": 43210,
        "dest_ip": SERVER,
        "dest_port": 8080,
        "protocol": 6,
    }
    reply = {
        "src_ip": SERVER,
        "src_port": 8080,
        "dest_ip": CLIENT,
        "dest_port": 43210,
        "protocol": 6,
    }
    meta_client_to_server = {
        "src_instance": NODE_A_META["instance"],
        "src_vpc": NODE_A_META["vpc"],
        "src_gke_details": CLIENT_GKE,
        "dest_instance": NODE_A_META["instance"],
        "dest_vpc": NODE_A_META["vpc"],
        "dest_gke_details": SERVER_GKE,
    }
    meta_server_to_client = {
        "src_instance": NODE_A_META["instance"],
        "src_vpc": NODE_A_META["vpc"],
        "src_gke_details": SERVER_GKE,
        "dest_instance": NODE_A_META["instance"],
        "dest_vpc": NODE_A_META["vpc"],
        "dest_gke_details": CLIENT_GKE,
    }
    expected = [
        {
            "connection": request,
            "reporter": reporter,
            "bytes_sent": "1224",
            "packets_sent": "7",
            **times,
            **meta_client_to_server,
        }
        for reporter in ("SRC", "DEST")
    ] + [
        {
            "connection": reply,
            "reporter": reporter,
            "bytes_sent": "3000",
            "packets_sent": "5",
            **times,
            **meta_server_to_client,
        }
        for reporter in ("SRC", "DEST")
    ]
    got = [_without_ids(e) for e in stored_entries(ctx)]
    # Logging stores the timestamp in its shortest exact form (0, 3, 6 or 9 digits).
    stamp = "2027-01-15T08:00:01.500Z"
    want = [_envelope(p, "subnet-a", "1001", "us-central1-a", stamp) for p in expected]
    key = lambda e: (e["jsonPayload"]["connection"]["src_ip"], e["jsonPayload"]["reporter"])  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)


def test_cross_node_with_one_subnet_enabled_reports_only_from_that_side(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
) -> None:
    from .world import tcp

    build_world(ctx, a=log_config(), b=None)
    collector = make_collector()
    source.put(tcp(9, CLIENT, 40000, LONELY, 80, orig=(4, 300), reply=(3, 900)))
    clock.t = T0 + 2
    collector.tick()
    clock.t = T0 + 5.01
    assert collector.tick().entries == 2
    got = sorted(
        (_without_ids(e) for e in stored_entries(ctx)), key=lambda e: e["jsonPayload"]["reporter"]
    )
    lonely_meta = {
        "dest_instance": _instance("node-b", "us-central1-b"),
        "dest_vpc": _vpc("subnet-b"),
        "dest_gke_details": {
            "cluster": CLUSTER,
            "pod": {"pod_name": "lonely", "pod_namespace": "default"},
        },
    }
    times = {
        "start_time": "2027-01-15T08:00:01.000000000Z",
        "end_time": "2027-01-15T08:00:02.000000000Z",
    }
    stamp = "2027-01-15T08:00:02Z"
    assert got == [
        # B's reply as node-a received it
        _envelope(
            {
                "connection": {
                    "src_ip": LONELY,
                    "src_port": 80,
                    "dest_ip": CLIENT,
                    "dest_port": 40000,
                    "protocol": 6,
                },
                "reporter": "DEST",
                "bytes_sent": "900",
                "packets_sent": "3",
                **times,
                "src_instance": lonely_meta["dest_instance"],
                "src_vpc": lonely_meta["dest_vpc"],
                "src_gke_details": lonely_meta["dest_gke_details"],
                "dest_instance": NODE_A_META["instance"],
                "dest_vpc": NODE_A_META["vpc"],
                "dest_gke_details": CLIENT_GKE,
            },
            "subnet-a",
            "1001",
            "us-central1-a",
            stamp,
        ),
        # the request as node-a sent it
        _envelope(
            {
                "connection": {
                    "src_ip": CLIENT,
                    "src_port": 40000,
                    "dest_ip": LONELY,
                    "dest_port": 80,
                    "protocol": 6,
                },
                "reporter": "SRC",
                "bytes_sent": "300",
                "packets_sent": "4",
                **times,
                "src_instance": NODE_A_META["instance"],
                "src_vpc": NODE_A_META["vpc"],
                "src_gke_details": CLIENT_GKE,
                **lonely_meta,
            },
            "subnet-a",
            "1001",
            "us-central1-a",
            stamp,
        ),
    ]


def test_a_long_flow_is_split_at_interval_boundaries(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
) -> None:
    from .world import tcp

    build_world(ctx, a=log_config(), b=None)
    collector = make_collector()
    # One tick per step; each delta lands in the interval of its window's midpoint.
    for t, n in ((1, 10), (4, 20), (6, 30), (9, 40), (12, 50)):
        source.put(tcp(3, CLIENT, 40001, LONELY, 80, orig=(n, n * 100), reply=(0, 0), age=t))
        clock.t = T0 + t
        collector.tick()
    collector.drain()
    rows = [
        (
            e["jsonPayload"]["start_time"][14:23],
            e["jsonPayload"]["end_time"][14:23],
            e["jsonPayload"]["packets_sent"],
            e["jsonPayload"]["bytes_sent"],
        )
        for e in stored_entries(ctx)
    ]
    assert rows == [
        ("00:00.000", "00:04.000", "20", "2000"),
        ("00:05.000", "00:09.000", "20", "2000"),
        ("00:10.000", "00:12.000", "10", "1000"),
    ]


@pytest.mark.parametrize(
    ("interval", "seconds"),
    [
        ("INTERVAL_5_SEC", 5),
        ("INTERVAL_30_SEC", 30),
        ("INTERVAL_1_MIN", 60),
        ("INTERVAL_5_MIN", 300),
        ("INTERVAL_10_MIN", 600),
        ("INTERVAL_15_MIN", 900),
    ],
)
def test_interval_boundaries_follow_the_subnets_aggregation_interval(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
    interval: str,
    seconds: int,
) -> None:
    from .world import tcp

    build_world(ctx, a=log_config(aggregationInterval=interval), b=None)
    collector = make_collector()
    clock.t = T0 + seconds - 2
    source.put(tcp(5, CLIENT, 40002, LONELY, 80, orig=(1, 60), reply=(0, 0), age=0))
    collector.tick()
    clock.t = T0 + seconds - 1
    collector.tick()
    assert stored_entries(ctx) == []  # the first interval has not ended
    clock.t = T0 + seconds + 1
    source.put(tcp(5, CLIENT, 40002, LONELY, 80, orig=(3, 180), reply=(0, 0), age=3))
    assert collector.tick().entries == 1
    clock.t = T0 + 2 * seconds
    assert collector.tick().entries == 1
    got = [
        (
            e["jsonPayload"]["start_time"],
            e["jsonPayload"]["end_time"],
            e["jsonPayload"]["packets_sent"],
        )
        for e in stored_entries(ctx)
    ]
    from intranode.domain.flowlogs.records import time_text

    assert got == [
        (time_text(T0 + seconds - 3), time_text(T0 + seconds - 2), "1"),
        (time_text(T0 + seconds), time_text(T0 + seconds + 1), "2"),
    ]


def test_a_flow_destroyed_between_ticks_is_reported_from_its_destroy_event(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
) -> None:
    from .world import tcp

    build_world(ctx, a=log_config(), b=log_config())
    collector = make_collector()
    clock.t = T0 + 1
    collector.tick()
    # Never in a snapshot: it started and ended between two ticks.
    source.destroy(
        11, T0 + 2.5, tcp(11, CLIENT, 40003, LONELY, 80, orig=(6, 400), reply=(4, 700), age=1)
    )
    # Seen once, then destroyed with more packets than the snapshot showed.
    source.put(tcp(12, CLIENT, 40004, LONELY, 80, orig=(2, 120), reply=(1, 60), age=0))
    clock.t = T0 + 2
    collector.tick()
    source.destroy(
        12, T0 + 2.8, tcp(12, CLIENT, 40004, LONELY, 80, orig=(6, 360), reply=(5, 300), age=1)
    )
    clock.t = T0 + 3
    collector.tick()
    clock.t = T0 + 5.1
    assert collector.tick().entries == 8
    assert totals(stored_entries(ctx)) == {
        (CLIENT, 40003, LONELY, 80, "SRC"): (6, 400),
        (CLIENT, 40003, LONELY, 80, "DEST"): (6, 400),
        (LONELY, 80, CLIENT, 40003, "SRC"): (4, 700),
        (LONELY, 80, CLIENT, 40003, "DEST"): (4, 700),
        (CLIENT, 40004, LONELY, 80, "SRC"): (6, 360),
        (CLIENT, 40004, LONELY, 80, "DEST"): (6, 360),
        (LONELY, 80, CLIENT, 40004, "SRC"): (5, 300),
        (LONELY, 80, CLIENT, 40004, "DEST"): (5, 300),
    }
    first = [e for e in stored_entries(ctx) if e["jsonPayload"]["connection"]["src_port"] == 40003]
    assert {e["jsonPayload"]["start_time"] for e in first} == {"2027-01-15T08:00:00.500000000Z"}
    assert {e["jsonPayload"]["end_time"] for e in first} == {"2027-01-15T08:00:02.500000000Z"}
    # Closed and fully reported: nothing left to persist.
    assert collector.state.count() == 0


def test_a_node_ip_endpoint_has_instance_and_vpc_but_no_gke_details(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
) -> None:
    from .world import tcp

    build_world(ctx, a=log_config(), b=None)
    collector = make_collector()
    source.put(tcp(13, NODE_B, 10250, CLIENT, 5000, orig=(1, 60), reply=(0, 0)))
    clock.t = T0 + 1
    collector.tick()
    collector.drain()
    (entry,) = stored_entries(ctx)
    payload = entry["jsonPayload"]
    assert payload["reporter"] == "DEST"
    assert payload["src_instance"]["vm_name"] == "node-b"
    assert "src_gke_details" not in payload
    assert payload["dest_gke_details"] == CLIENT_GKE
    assert None not in payload.values()


@pytest.mark.parametrize("event_first", [True, False])
def test_a_reused_port_with_the_same_conntrack_id_is_a_new_incarnation(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
    event_first: bool,
) -> None:
    from .world import tcp

    build_world(ctx, a=log_config(), b=None)
    collector = make_collector()
    old = tcp(31, CLIENT, 40100, LONELY, 80, orig=(5, 400), reply=(4, 900), age=0)
    source.put(old)
    clock.t = T0 + 1
    collector.tick()
    # The old entry ends with more packets than the snapshot saw, and conntrack makes a new
    # one for the same tuple that gets the same id.
    final = tcp(31, CLIENT, 40100, LONELY, 80, orig=(6, 452), reply=(5, 952), age=1)
    new = tcp(31, CLIENT, 40100, LONELY, 80, orig=(3, 180), reply=(2, 120), age=0)
    source.table.pop(31)
    if event_first:
        source.destroy(31, T0 + 1.5, final)
    source.put(new)
    clock.t = T0 + 2
    collector.tick()
    if not event_first:  # the destroy event is late: the new entry was listed first
        source.destroy(31, T0 + 1.5, final)
        source.put(new)
    clock.t = T0 + 3
    collector.tick()
    collector.drain()
    assert totals(stored_entries(ctx)) == {
        (CLIENT, 40100, LONELY, 80, "SRC"): (9, 632),
        (LONELY, 80, CLIENT, 40100, "DEST"): (7, 1072),
    }
