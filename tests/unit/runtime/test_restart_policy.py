"""Restart policy and kubelet's crash-loop back-off as pure logic over explicit times."""

from __future__ import annotations

import pytest

from intranode.dataplane.runtime.restart import (
    CrashBackoff,
    crash_loop_message,
    go_duration,
    should_restart,
)


@pytest.mark.parametrize(
    ("policy", "code", "restart"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 2, True),
        ("Never", 0, False),
        ("Never", 137, False),
    ],
)
def test_restart_policy(policy: str, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


def test_a_container_that_crashes_at_once_restarts_now_then_after_10_20_40_s() -> None:
    b = CrashBackoff()
    t = 100.0
    waits = []
    for _ in range(8):
        finished = t + 1  # each run lasts one second
        delay = b.delay(finished, finished)
        waits.append(delay)
        t = finished + delay
        b.advance(finished, t)
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300]


def test_the_delay_counts_from_when_the_container_finished() -> None:
    b = CrashBackoff()
    b.advance(0, 0)  # first restart: back-off now 10 s
    assert b.delay(finished_at=5, now=5) == 10
    assert b.delay(finished_at=5, now=12) == 3
    assert b.delay(finished_at=5, now=20) == 0


def test_a_container_that_ran_longer_than_twice_the_cap_starts_over_at_10s() -> None:
    b = CrashBackoff()
    t = 0.0
    for _ in range(6):
        b.advance(t, t)
        t += 1
    assert b.backoff == 300
    assert b.delay(finished_at=t + 601, now=t + 601) == 0
    b.advance(t + 601, t + 601)
    assert b.backoff == 10


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(10, "10s"), (20, "20s"), (80, "1m20s"), (160, "2m40s"), (300, "5m0s"), (3600, "1h0m0s")],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_crash_loop_message_names_container_and_pod() -> None:
    assert crash_loop_message(40, "c1", "web", "default", "u-1") == (
        "back-off 40s restarting failed container=c1 pod=web_default(u-1)"
    )
