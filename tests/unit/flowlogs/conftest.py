"""Flow-log fixtures: the test VPC (:mod:`.world`) in a daemon context, a fake conntrack and
a fake clock, and a collector wired to them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from intranode.controllers.context import Context
from intranode.controllers.flowlogs import FlowCollector

from .world import NETNS, Clock, FakeSource


@pytest.fixture
def clock(ctx: Context) -> Clock:
    c = Clock()
    ctx.clock = c
    return c


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def make_collector(ctx: Context, clock: Clock, source: FakeSource) -> Callable[..., FlowCollector]:
    def make(**kw: object) -> FlowCollector:
        return FlowCollector(ctx, source, routers=lambda: {NETNS: "vpc1"}, **kw)  # type: ignore[arg-type]

    return make
