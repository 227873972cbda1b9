"""The pod runtime: what the pod controller calls to run and stop pods on intranode's nodes.

``start_pod`` makes the pod's UTS namespace (hostname = pod name) and starts one supervisor
per container; every container status change reaches ``on_status`` (``ContainerStatus``;
``to_k8s()`` is the ``containerStatuses[]`` item, ``status.pod_phase`` gives the phase).
``stop_pod`` stops the containers (SIGTERM, SIGKILL after the grace period), closes the pod's
sockets on the shared server and removes the UTS namespace. Call it *before* the network
data plane deletes the pod's network namespace: a socket or process still inside keeps a
deleted namespace alive (and its veth with it).

After a daemon restart (records from ``LedgerSink.by_kind()``):

1. ``PodServer.start(adopt=records[KIND_SERVER])`` reuses the shared server if it still runs;
2. ``PodRuntime(..., adopt=records[KIND_PROCESS])``, then ``start_pod`` for every pod the
   store says runs: a container whose recorded process is still alive (same PID *and* start
   time) is taken over, not started twice; served containers find their socket still open;
3. ``stop_unclaimed()`` and ``PodServer.prune_stale()`` stop what no pod claimed, and
   ``cleanup.cleanup_recorded(sink, {KIND_EXEC: records[KIND_EXEC]})`` ends exec sessions
   whose client left with the old daemon.

To leave everything running for the next daemon, ``detach()`` instead of ``stop_all()``.

Public API::

    PodRuntime(sink, server, on_status, *, adopt=None, clock=time.time, sleep=asyncio.sleep)
      async start_pod(pod: PodRun)       idempotent; changed containers are restarted
      async stop_pod(uid, grace=None)    idempotent
      statuses(uid) -> list[ContainerStatus]
      exec_context(uid, container) -> (Sandbox, env, cwd) | None       (for executor.PodExec)
      async stop_unclaimed(grace=5.0) -> list[int]
      async stop_all(grace=None)
      async detach()                     leave everything running for the next daemon
      pods() -> list[str]                uids running
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from intranode.dataplane.runtime import process, sandbox
from intranode.dataplane.runtime.launchers import IdleLauncher, ProcessLauncher, ServedLauncher
from intranode.dataplane.runtime.podserver import PodServer
from intranode.dataplane.runtime.records import KIND_PROCESS, RecordSink
from intranode.dataplane.runtime.spec import ContainerRun, PodRun
from intranode.dataplane.runtime.status import ContainerStatus
from intranode.dataplane.runtime.supervisor import (
    ContainerSupervisor,
    Launcher,
    Sleep,
    StatusCallback,
)
from intranode.domain.images import Behaviour, ImageSpec, container_argv, resolve

# How long past the grace period a stopped container's supervisor may take to wind up.
STOP_SLACK = 10.0


@dataclass
class _Adoptable:
    handle: process.ProcessHandle
    started_at: float
    container_id: str
    restart_count: int


@dataclass
class _Container:
    run: ContainerRun
    supervisor: ContainerSupervisor
    task: asyncio.Task[None]


@dataclass
class _Pod:
    run: PodRun
    containers: dict[str, _Container] = field(default_factory=dict)


def _same(a: ContainerRun, b: ContainerRun) -> bool:
    # The restart count is the runtime's to keep; it does not make a container different.
    return dataclasses.replace(a, restart_count=0) == dataclasses.replace(b, restart_count=0)


class PodRuntime:
    def __init__(
        self,
        sink: RecordSink,
        server: PodServer,
        on_status: StatusCallback,
        *,
        adopt: Mapping[str, Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.sink = sink
        self.server = server
        self.on_status = on_status
        self.clock = clock
        self.sleep = sleep
        self._pods: dict[str, _Pod] = {}
        # Starting and stopping one pod never interleave (reconcilers may call both at once).
        self._locks: dict[str, asyncio.Lock] = {}
        self._adoptable: dict[tuple[str, str], _Adoptable] = {}
        for pid_text, data in (adopt or {}).items():
            handle = process.adopt(int(pid_text), int(data.get("start_time", -1)))
            if handle is None:
                sink.forget(KIND_PROCESS, pid_text)
                continue
            self._adoptable[(str(data.get("pod_uid")), str(data.get("container")))] = _Adoptable(
                handle,
                float(data.get("started_at", 0)),
                str(data.get("container_id", "")),
                int(data.get("restart_count", 0)),
            )

    def pods(self) -> list[str]:
        return list(self._pods)

    def _lock(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    async def start_pod(self, pod: PodRun) -> None:
        async with self._lock(pod.uid):
            await self._start_pod(pod)

    async def _start_pod(self, pod: PodRun) -> None:
        running = self._pods.get(pod.uid)
        if running is None:
            await asyncio.to_thread(
                sandbox.create_uts, pod.sandbox.uts_path, pod.sandbox.hostname, self.sink
            )
            running = self._pods[pod.uid] = _Pod(pod)
        running.run = pod
        wanted = {c.name: c for c in pod.containers}
        for name in list(running.containers):
            have = running.containers[name]
            if name not in wanted or not _same(have.run, wanted[name]):
                await self._stop_container(running.containers.pop(name), pod.grace_period)
        for name, c in wanted.items():
            if name not in running.containers:
                running.containers[name] = self._start_container(pod, c)

    def _start_container(self, pod: PodRun, c: ContainerRun) -> _Container:
        image = resolve(c.image)
        adopted = self._adoptable.pop((pod.uid, c.name), None)
        if adopted is not None and adopted.restart_count > c.restart_count:
            c = dataclasses.replace(c, restart_count=adopted.restart_count)
        launcher: Launcher | None = None
        if isinstance(image, ImageSpec):
            launcher = self._launcher(pod, c, image, adopted)
        supervisor = ContainerSupervisor(
            pod, c, image, launcher, self.on_status, clock=self.clock, sleep=self.sleep
        )
        task = asyncio.create_task(supervisor.run(), name=f"container {pod.uid}/{c.name}")
        return _Container(c, supervisor, task)

    def _launcher(
        self, pod: PodRun, c: ContainerRun, image: ImageSpec, adopted: _Adoptable | None
    ) -> Launcher:
        argv = container_argv(image, c.command, c.args)
        if argv:
            previous = None
            if adopted is not None:
                previous = (adopted.handle, adopted.started_at, adopted.container_id)
            return ProcessLauncher(pod, c, argv, self.sink, adopted=previous, clock=self.clock)
        if adopted is not None:
            # The container no longer runs a process (its spec changed while we were down).
            self._adoptable[(pod.uid, c.name)] = adopted
        if image.behaviour in (Behaviour.HELLO_APP, Behaviour.WEB):
            return ServedLauncher(pod, c, image, self.server, clock=self.clock)
        return IdleLauncher(self.clock)

    async def _stop_container(self, c: _Container, grace: float) -> None:
        await c.supervisor.stop(grace)
        # Let it finish rather than cancel it: a start under way (a socket being opened on the
        # pod server) must complete so that it is undone, not left behind.
        done, _ = await asyncio.wait({c.task}, timeout=grace + STOP_SLACK)
        if not done:
            c.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await c.task

    async def stop_pod(self, uid: str, grace: float | None = None) -> None:
        async with self._lock(uid):
            running = self._pods.pop(uid, None)
            if running is None:
                return
            wait = running.run.grace_period if grace is None else grace
            await asyncio.gather(
                *(self._stop_container(c, wait) for c in running.containers.values())
            )
            await asyncio.to_thread(sandbox.remove_uts, running.run.sandbox.uts_path, self.sink)
        self._locks.pop(uid, None)

    async def stop_all(self, grace: float | None = None) -> None:
        await asyncio.gather(*(self.stop_pod(uid, grace) for uid in list(self._pods)))

    async def detach(self) -> None:
        """Stop supervising and leave everything running, recorded (the daemon is going away
        and the next one adopts: its ``PodRuntime(adopt=...)`` and ``start_pod`` take over)."""
        for running in self._pods.values():
            for c in running.containers.values():
                c.task.cancel()
            for c in running.containers.values():
                with contextlib.suppress(asyncio.CancelledError):
                    await c.task
        self._pods.clear()

    async def stop_unclaimed(self, grace: float = 5.0) -> list[int]:
        """Stop recorded processes that no started pod took over; their PIDs."""
        stopped = []
        for key in list(self._adoptable):
            left = self._adoptable.pop(key)
            await left.handle.stop(grace)
            self.sink.forget(KIND_PROCESS, str(left.handle.pid))
            stopped.append(left.handle.pid)
        return stopped

    def statuses(self, uid: str) -> list[ContainerStatus]:
        running = self._pods.get(uid)
        if running is None:
            return []
        return [c.supervisor.status for c in running.containers.values()]

    def exec_context(
        self, pod_uid: str, container: str
    ) -> tuple[sandbox.Sandbox, dict[str, str], str] | None:
        running = self._pods.get(pod_uid)
        if running is None or container not in running.containers:
            return None
        c = running.containers[container].run
        return running.run.sandbox, c.env_dict(), c.working_dir or "/"
