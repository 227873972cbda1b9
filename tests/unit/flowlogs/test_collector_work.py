"""How much the collector does per tick: exact incarnations of reused ports, how often it lists
a busy router, when it rebuilds its inventory, and what it forgets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from intranode.controllers import flowlogs as flowlogs_controller
from intranode.controllers.context import Context
from intranode.controllers.flowlogs import FlowCollector
from intranode.controllers.logs import write_entries
from intranode.domain.flowlogs.inventory import Inventory
from intranode.domain.resources import NETWORK

from .world import (
    CLIENT,
    LONELY,
    SUBNET_A,
    T0,
    Clock,
    FakeSource,
    P,
    build_world,
    log_config,
    set_log_config,
    stored_entries,
    tcp,
    totals,
)


def _conn(orig: tuple[int, int], reply: tuple[int, int], start: float, age: int = 0):  # type: ignore[no-untyped-def]
    # Every incarnation: the same tuple and the same conntrack id (the worst case).
    return tcp(31, CLIENT, 40100, LONELY, 80, orig=orig, reply=reply, age=age, start=start)


def test_three_incarnations_of_one_tuple_between_two_listings_are_counted_exactly(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(), b=None)
    collector = make_collector()
    first = _conn((5, 400), (4, 900), start=T0 + 0.5)
    source.put(first)
    clock.t = T0 + 1
    collector.tick()
    # Before the next listing the port is reused twice: the first incarnation ends with more
    # than was listed, the second lives and dies unlisted, the third is listed with counters
    # that cover neither's... and all three destroy events are late, in reverse order.
    ends = [
        _conn((6, 452), (5, 952), start=T0 + 0.5)._replace(time=T0 + 1.2),
        _conn((7, 500), (6, 1000), start=T0 + 1.25)._replace(time=T0 + 1.5),
    ]
    third = _conn((3, 180), (2, 120), start=T0 + 1.6)
    source.table.clear()
    source.put(third)
    clock.t = T0 + 2
    collector.tick()
    source.events = list(reversed(ends))
    source.destroy(31, T0 + 2.5, _conn((4, 240), (3, 180), start=T0 + 1.6, age=1))
    clock.t = T0 + 3
    collector.tick()
    collector.drain()
    assert totals(stored_entries(ctx)) == {
        (CLIENT, 40100, LONELY, 80, "SRC"): (6 + 7 + 4, 452 + 500 + 240),
        (LONELY, 80, CLIENT, 40100, "DEST"): (5 + 6 + 3, 952 + 1000 + 180),
    }
    # Every incarnation is closed and reported: nothing is remembered, in memory or on disk.
    assert collector.aggregator.flow_count() == 0 and collector.state.count() == 0


def test_a_busy_router_is_listed_every_five_seconds_and_its_events_read_every_tick(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(), b=None)
    collector = make_collector(busy_table=1)
    for port in (40001, 40002, 40003):
        source.put(tcp(port, CLIENT, port, LONELY, 80, orig=(2, 120), reply=(1, 60), start=T0))
    listed_at = []
    for second in range(1, 12):
        clock.t = T0 + second + 0.25
        before = source.listings
        if second == 3:
            end = tcp(40001, CLIENT, 40001, LONELY, 80, orig=(9, 900), reply=(1, 60), start=T0)
            source.destroy(40001, T0 + 2.5, end)
        collector.tick()
        if source.listings > before:
            listed_at.append(second)
    # Listed first (its size unknown), then on the first tick after each multiple of 5 s.
    assert listed_at == [1, 5, 10]
    got = totals(stored_entries(ctx))
    # The destroy event was read at once: its packets are in the interval it happened in,
    # and the record ends when the connection did.
    assert got[(CLIENT, 40001, LONELY, 80, "SRC")] == (9, 900)
    times = {
        e["jsonPayload"]["connection"]["src_port"]: (
            e["jsonPayload"]["start_time"],
            e["jsonPayload"]["end_time"],
        )
        for e in stored_entries(ctx)
        if e["jsonPayload"]["reporter"] == "SRC"
    }
    assert times == {
        40001: ("2027-01-15T08:00:00.000000000Z", "2027-01-15T08:00:02.500000000Z"),
        40002: ("2027-01-15T08:00:00.000000000Z", "2027-01-15T08:00:01.250000000Z"),
        40003: ("2027-01-15T08:00:00.000000000Z", "2027-01-15T08:00:01.250000000Z"),
    }


def test_a_small_router_is_listed_every_tick(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(), b=None)
    collector = make_collector()
    source.put(tcp(7, CLIENT, 40007, LONELY, 80, orig=(1, 60), reply=(0, 0), start=T0))
    for second in range(1, 5):
        clock.t = T0 + second
        collector.tick()
    assert source.listings == 4


def test_the_inventory_is_rebuilt_only_when_what_it_reads_changes(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build_world(ctx, a=log_config(), b=None)
    builds: list[Inventory] = []
    real = flowlogs_controller.build_inventory

    def counted(c: Context) -> Inventory:
        builds.append(real(c))
        return builds[-1]

    monkeypatch.setattr(flowlogs_controller, "build_inventory", counted)
    collector = make_collector()
    source.put(tcp(7, CLIENT, 40007, LONELY, 80, orig=(1, 60), reply=(0, 0), start=T0 + 0.5))
    clock.t = T0 + 1
    collector.tick()
    clock.t = T0 + 5.5
    assert collector.tick().entries == 1  # its own log writes moved the store's revision
    # Neither other kinds nor log entries make it read the store again...
    ctx.resources.create(
        NETWORK, f"projects/{P}/global/networks/other", f"projects/{P}/global", {"name": "other"}
    )
    write_entries(
        ctx,
        [{"logName": f"projects/{P}/logs/app", "resource": {"type": "global"}, "textPayload": "x"}],
    )
    clock.t = T0 + 6
    collector.tick()
    assert len(builds) == 1
    # ... a subnet's logConfig does, and takes effect at the next tick: flow logs off.
    set_log_config(ctx, SUBNET_A, None)
    source.put(tcp(8, CLIENT, 40008, LONELY, 80, orig=(1, 60), reply=(0, 0), start=T0 + 6.5))
    clock.t = T0 + 7
    collector.tick()
    clock.t = T0 + 10.5
    assert collector.tick().entries == 0
    assert len(builds) == 2
    # Closing the collector stops listening to the store.
    collector.close()
    set_log_config(ctx, SUBNET_A, log_config())
    assert collector._stale is False


def test_a_flow_given_up_on_is_a_tombstone_until_its_late_event_cannot_come(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(), b=None)
    collector = make_collector(gone_grace=10.0)
    source.put(tcp(7, CLIENT, 40007, LONELY, 80, orig=(3, 180), reply=(0, 0), start=T0 + 0.5))
    clock.t = T0 + 1
    collector.tick()
    source.table.clear()  # gone, its event lost for now
    for t in (2, 6, 13):
        clock.t = T0 + t
        collector.tick()
    assert collector.aggregator.flow_count() == 1  # closed at 12, kept for a late event
    source.destroy(
        7, T0 + 1.5, tcp(7, CLIENT, 40007, LONELY, 80, orig=(4, 240), reply=(0, 0), start=T0 + 0.5)
    )
    clock.t = T0 + 14
    collector.tick()
    collector.drain()
    # The late event added only what the listing had not shown.
    assert totals(stored_entries(ctx)) == {(CLIENT, 40007, LONELY, 80, "SRC"): (4, 240)}
    assert collector.aggregator.flow_count() == 0


def test_a_collector_behind_on_its_writes_keeps_listing_and_catches_up_exactly(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(), b=None)
    collector = make_collector()
    collector._flush_limit = lambda: 1  # type: ignore[method-assign]  # one bucket per tick
    for port in (40001, 40002, 40003):
        source.put(tcp(port, CLIENT, port, LONELY, 80, orig=(2, 120), reply=(1, 60), start=T0))
    written = []
    for second in range(1, 12):
        clock.t = T0 + second
        written.append(collector.tick().entries)
    # Six records were due at 5 s: one per tick from then on, a listing every tick meanwhile.
    assert written == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0]
    assert source.listings == 11
    assert totals(stored_entries(ctx)) == {
        **{(CLIENT, p, LONELY, 80, "SRC"): (2, 120) for p in (40001, 40002, 40003)},
        **{(LONELY, 80, CLIENT, p, "DEST"): (1, 60) for p in (40001, 40002, 40003)},
    }
