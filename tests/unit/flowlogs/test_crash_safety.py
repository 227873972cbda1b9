"""A collector killed at any point resumes every flow from its last committed records."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from intranode.controllers import flowlogs as flowlogs_controller
from intranode.controllers.context import Context
from intranode.controllers.flowlogs import FlowCollector
from intranode.errors import StoreError

from .world import (
    CLIENT,
    LONELY,
    T0,
    Clock,
    FakeSource,
    build_world,
    log_config,
    stored_entries,
    tcp,
    totals,
)


def _grow(source: FakeSource, n: int, clock: Clock) -> None:
    """The flow started at T0; conntrack's age grows with the clock."""
    age = int(clock.t - T0)
    source.put(
        tcp(21, CLIENT, 45000, LONELY, 80, orig=(n, n * 1000), reply=(n // 2, n * 50), age=age)
    )


def test_a_flow_in_progress_at_a_crash_is_reported_from_where_it_left_off(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(), b=log_config())
    first = make_collector()
    for step, n in enumerate((10, 20, 30, 40), start=1):
        clock.t = T0 + 2 * step  # ticks at 2, 4, 6 (flushes [0, 5)), 8
        _grow(source, n, clock)
        first.tick()
    assert first.state.count() == 1  # the flow's accounted counters are on disk
    del first  # SIGKILL: the open interval [5, 10) held 20 packets that were never written

    second = make_collector()
    for step, n in enumerate((50, 60), start=5):
        clock.t = T0 + 2 * step
        _grow(source, n, clock)
        second.tick()
    second.drain()
    assert totals(stored_entries(ctx)) == {
        (CLIENT, 45000, LONELY, 80, "SRC"): (60, 60_000),
        (CLIENT, 45000, LONELY, 80, "DEST"): (60, 60_000),
        (LONELY, 80, CLIENT, 45000, "SRC"): (30, 3_000),
        (LONELY, 80, CLIENT, 45000, "DEST"): (30, 3_000),
    }


def test_a_write_that_fails_changes_nothing_and_the_next_tick_writes_it_all(
    ctx: Context,
    clock: Clock,
    source: FakeSource,
    make_collector: Callable[..., FlowCollector],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build_world(ctx, a=log_config(), b=None)
    collector = make_collector()
    clock.t = T0 + 1
    _grow(source, 10, clock)
    collector.tick()

    def broken(ctx: Context, entries: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(flowlogs_controller, "write_entries", broken)
    clock.t = T0 + 6
    _grow(source, 12, clock)
    with pytest.raises(StoreError):
        collector.tick()
    assert stored_entries(ctx) == [] and collector.state.count() == 0
    monkeypatch.undo()
    clock.t = T0 + 7
    collector.tick()
    collector.drain()
    assert totals(stored_entries(ctx)) == {
        (CLIENT, 45000, LONELY, 80, "SRC"): (12, 12_000),
        (LONELY, 80, CLIENT, 45000, "DEST"): (6, 600),
    }


def test_a_restart_after_everything_was_reported_reports_nothing_again(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(), b=log_config())
    first = make_collector()
    clock.t = T0 + 1
    _grow(source, 10, clock)
    first.tick()
    first.drain()
    assert len(stored_entries(ctx)) == 4
    del first
    second = make_collector()
    clock.t = T0 + 20
    second.tick()
    second.drain()
    assert len(stored_entries(ctx)) == 4
    # The flow ends (destroy event): its row goes with it.
    source.destroy(21, T0 + 21)
    clock.t = T0 + 22
    second.tick()
    assert second.state.count() == 0


def test_a_flow_that_vanished_without_an_event_is_closed_after_the_grace(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    build_world(ctx, a=log_config(), b=None)
    collector = make_collector(gone_grace=10.0)
    clock.t = T0 + 1
    _grow(source, 10, clock)
    collector.tick()
    clock.t = T0 + 6
    collector.tick()
    assert collector.state.count() == 1
    source.table.clear()  # gone, and its destroy event lost
    clock.t = T0 + 7
    collector.tick()
    assert collector.state.count() == 1
    clock.t = T0 + 18
    collector.tick()
    assert collector.state.count() == 0
    assert totals(stored_entries(ctx))[(CLIENT, 45000, LONELY, 80, "SRC")] == (10, 10_000)


def test_readers_left_by_a_crashed_run_are_stopped_by_pid(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    from intranode.domain.flowlogs.observations import ReaderProcess
    from intranode.store.flowstate import FlowStateStore

    left = ReaderProcess("rt", 4242, 99)
    FlowStateStore(ctx.db).set_readers([left])
    asked: list[ReaderProcess] = []
    source.stop_stale = lambda p: asked.append(p) or True  # type: ignore[method-assign]
    collector = make_collector()
    assert asked == [left]
    assert collector.state.readers() == []


def test_run_ticks_until_stopped_and_close_stops_the_source(
    ctx: Context, clock: Clock, source: FakeSource, make_collector: Callable[..., FlowCollector]
) -> None:
    import asyncio

    build_world(ctx, a=log_config(), b=None)
    collector = make_collector(tick_seconds=0.02)

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(collector.run(stop))
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 1.0)

    asyncio.run(go())
    assert source.watching == {"rt"}
    collector.close()
    assert source.closed
