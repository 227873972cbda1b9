"""Fake time and scripted containers for supervisor tests (no processes, no waiting)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass

from intranode.dataplane.runtime.supervisor import Exit, Started, StartFailed


class FakeTime:
    """A clock that moves only when a test calls ``advance``; ``sleep`` waits for it."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._ids), fut))
        await fut

    async def settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, fut = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            if not fut.done():
                fut.set_result(None)
            await self.settle()
        self.now = target
        await self.settle()


@dataclass
class Run:
    """One scripted start: exit with ``code`` after ``after`` seconds (None: run until
    stopped), or fail to start with ``fail``."""

    code: int | None = 0
    after: float | None = 0.0
    fail: StartFailed | None = None
    ready: bool = True


class ScriptedStarted:
    def __init__(self, run: Run, time: FakeTime, cid: str) -> None:
        self.run = run
        self.time = time
        self.container_id = cid
        self.started_at = time.now
        self.stopped = asyncio.Event()

    async def wait(self) -> Exit:
        if self.run.after is None:
            await self.stopped.wait()
            return Exit(143)
        sleeper = asyncio.ensure_future(self.time.sleep(self.run.after))
        stop = asyncio.ensure_future(self.stopped.wait())
        await asyncio.wait({sleeper, stop}, return_when=asyncio.FIRST_COMPLETED)
        sleeper.cancel()
        stop.cancel()
        return Exit(143 if self.stopped.is_set() else self.run.code)

    async def stop(self, grace: float) -> None:
        self.stopped.set()

    async def ready(self) -> bool:
        return self.run.ready


class ScriptedLauncher:
    def __init__(self, time: FakeTime, *runs: Run) -> None:
        self.time = time
        self.runs = list(runs)
        self.starts: list[int] = []

    async def start(self, restart_count: int) -> Started:
        self.starts.append(restart_count)
        run = self.runs.pop(0) if len(self.runs) > 1 else self.runs[0]
        if run.fail is not None:
            raise run.fail
        return ScriptedStarted(run, self.time, f"containerd://{len(self.starts):064x}")
