"""filterExpr, flowSampling and metadata modes on the collector's records, and denied packets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from intranode.controllers.context import Context
from intranode.controllers.flowlogs import FlowCollector
from intranode.domain.flowlogs.metadata import BASE_FIELDS
from intranode.domain.flowlogs.observations import DeniedPacket, FiveTuple

from .world import (
    CLIENT,
    LONELY,
    NETNS,
    SERVER,
    T0,
    Clock,
    FakeSource,
    build_world,
    log_config,
    stored_entries,
    tcp,
    totals,
)


def _run(collector: FlowCollector, clock: Clock) -> None:
    clock.t = T0 + 1
    collector.tick()
    clock.t = T0 + 5.5
    collector.tick()


def _intra_node(source: FakeSource) -> None:
    source.put(tcp(7, CLIENT, 43210, SERVER, 8080, orig=(7, 1224), reply=(5, 3000)))


# -- metadata ------------------------------------------------------------------------------------
def test_exclude_all_metadata_keeps_only_the_base_fields(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(metadata="EXCLUDE_ALL_METADATA"))
    _intra_node(source)
    _run(make_collector(), clock)
    entries = stored_entries(ctx)
    assert len(entries) == 4
    for e in entries:
        assert set(e["jsonPayload"]) == {
            "connection",
            "reporter",
            "bytes_sent",
            "packets_sent",
            "start_time",
            "end_time",
        }


def test_custom_metadata_keeps_the_listed_fields_and_sub_fields(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(
        ctx,
        a=log_config(
            metadata="CUSTOM_METADATA",
            metadataFields=["src_gke_details", "dest_vpc.vpc_name", "src_location"],
        ),
    )
    _intra_node(source)
    _run(make_collector(), clock)
    for e in stored_entries(ctx):
        p = e["jsonPayload"]
        extra = set(p) - BASE_FIELDS
        assert extra == {"src_gke_details", "dest_vpc"}
        assert p["dest_vpc"] == {"vpc_name": "vpc1"}
        assert p["src_gke_details"]["cluster"]["cluster_name"] == "c1"


def test_include_all_metadata_keeps_everything_known(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(metadata="INCLUDE_ALL_METADATA"))
    _intra_node(source)
    _run(make_collector(), clock)
    for e in stored_entries(ctx):
        assert set(e["jsonPayload"]) - BASE_FIELDS == {
            "src_instance",
            "dest_instance",
            "src_vpc",
            "dest_vpc",
            "src_gke_details",
            "dest_gke_details",
        }


# -- filterExpr ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "kept"),
    [
        ("connection.dest_port == 8080", {(CLIENT, "SRC"), (CLIENT, "DEST")}),
        ("reporter == 'SRC' && connection.protocol == 6", {(CLIENT, "SRC"), (SERVER, "SRC")}),
        (
            "dest_gke_details.pod.pod_workload.workload_type == 'STATEFUL_SET'",
            {(CLIENT, "SRC"), (CLIENT, "DEST")},
        ),
        (
            "inIpRange(connection.src_ip, '10.4.0.8/29') || bytes_sent > 2000",
            {(SERVER, "SRC"), (SERVER, "DEST")},
        ),
        ("!(src_instance.vm_name == 'node-a')", set()),
        ("has(src_gke_details.service)", {(SERVER, "SRC"), (SERVER, "DEST")}),
        (
            "connection.dest_port in [8080, 9090] && packets_sent >= 7",
            {(CLIENT, "SRC"), (CLIENT, "DEST")},
        ),
        ("true", {(CLIENT, "SRC"), (CLIENT, "DEST"), (SERVER, "SRC"), (SERVER, "DEST")}),
    ],
)
def test_filter_expr_decides_which_records_are_written(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
    expr: str,
    kept: set[tuple[str, str]],
) -> None:
    build_world(ctx, a=log_config(filterExpr=expr, metadata="EXCLUDE_ALL_METADATA"))
    _intra_node(source)
    _run(make_collector(), clock)
    got = {
        (e["jsonPayload"]["connection"]["src_ip"], e["jsonPayload"]["reporter"])
        for e in stored_entries(ctx)
    }
    assert got == kept


def test_a_stored_filter_that_does_not_compile_keeps_every_record(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    build_world(ctx, a=log_config(filterExpr="connection.nope == 1"))
    _intra_node(source)
    _run(make_collector(), clock)
    assert len(stored_entries(ctx)) == 4
    assert "undefined field 'nope'" in caplog.text


# -- flowSampling --------------------------------------------------------------------------------
def _many_flows(source: FakeSource, n: int) -> None:
    for i in range(n):
        source.put(tcp(100 + i, CLIENT, 20000 + i, LONELY, 80, orig=(1, 60), reply=(0, 0)))


def _kept(ctx: Context) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {"SRC": set(), "DEST": set()}
    for e in stored_entries(ctx):
        out[e["jsonPayload"]["reporter"]].add(e["jsonPayload"]["connection"]["src_port"])
    return out


def test_flow_sampling_keeps_src_and_dest_of_a_flow_together_and_is_seeded(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(flowSampling=0.5), b=log_config(flowSampling=0.5))
    _many_flows(source, 400)
    _run(make_collector(seed="s1"), clock)
    kept = _kept(ctx)
    assert kept["SRC"] == kept["DEST"]
    assert 150 < len(kept["SRC"]) < 250

    from intranode.domain.flowlogs.sampling import keep_record

    def decided(seed: str) -> set[int]:
        return {
            20000 + i
            for i in range(400)
            if keep_record(seed, FiveTuple(6, CLIENT, LONELY, 20000 + i, 80), int(T0), 0.5)
        }

    assert kept["SRC"] == decided("s1")  # the same seed decides the same way every run
    assert decided("s2") != decided("s1")


def test_flow_sampling_rates_per_subnet_nest(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(flowSampling=0.2), b=log_config(flowSampling=0.7))
    _many_flows(source, 300)
    _run(make_collector(seed="x"), clock)
    kept = _kept(ctx)
    assert kept["SRC"] < kept["DEST"]  # node-a's 0.2 sample is inside node-b's 0.7 sample
    assert 30 < len(kept["SRC"]) < 90 and 170 < len(kept["DEST"]) < 250


def test_flow_sampling_zero_writes_nothing_and_one_writes_everything(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(flowSampling=0.0), b=log_config(flowSampling=1.0))
    _many_flows(source, 50)
    _run(make_collector(seed="x"), clock)
    kept = _kept(ctx)
    assert kept["SRC"] == set() and len(kept["DEST"]) == 50


# -- denied packets (nflog) ----------------------------------------------------------------------
@dataclass
class FakeNflog:
    packets: list[DeniedPacket] = field(default_factory=list)

    def denied(self, netns: str) -> list[DeniedPacket]:
        assert netns == NETNS
        out, self.packets = self.packets, []
        return out


@pytest.mark.parametrize("direction", ["EGRESS", "INGRESS"])
def test_denied_packets_give_a_src_record_and_never_a_dest_one(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
    direction: str,
) -> None:
    build_world(ctx, a=log_config(), b=log_config())
    nflog = FakeNflog()
    collector = make_collector(denied=nflog)
    syn = FiveTuple(6, CLIENT, LONELY, 41000, 22)
    nflog.packets = [
        DeniedPacket(T0 + 0.2, syn, 60, rule="1234567", direction=direction),  # type: ignore[arg-type]
        DeniedPacket(T0 + 1.2, syn, 60, rule="1234567", direction=direction),  # type: ignore[arg-type]
    ]
    _run(collector, clock)
    entries = stored_entries(ctx)
    assert totals(entries) == {(CLIENT, 41000, LONELY, 22, "SRC"): (2, 120)}
    (entry,) = entries
    assert entry["resource"]["labels"]["subnetwork_name"] == "subnet-a"
    assert entry["jsonPayload"]["start_time"] == "2027-01-15T08:00:00.200000000Z"
    assert entry["jsonPayload"]["end_time"] == "2027-01-15T08:00:01.200000000Z"
