"""One container's life: start it, watch it, probe it, restart it as its pod's restartPolicy
says, with kubelet's back-off, and report every change through a callback.

What "starting" means is a ``Launcher``'s business (``launchers``: a process, a socket on the
shared pod server, or nothing at all for idle images); the supervisor only sees a ``Started``
container that ends with an ``Exit`` some day. Time is injected (``clock``, ``sleep``) so the
policy is tested with fake time.

States reported, as kubelet reports them:
- image cannot be pulled: ``waiting`` ``ErrImagePull`` (``InvalidImageName`` for a malformed
  name), then ``ImagePullBackOff`` with back-off between attempts; the pod stays Pending;
- started: ``running`` (``ready`` once ``Started.ready()`` says so, probed every second until
  then and every ``ready_interval`` after);
- ended and restarted: ``lastState.terminated`` (``Completed``/``Error``, exit code, times),
  ``restartCount`` + 1, and ``waiting`` ``CrashLoopBackOff`` while the back-off runs;
- ended for good (``Never``, or ``OnFailure`` after exit 0): ``terminated``;
- could not start (program missing): ``terminated`` ``StartError`` exit 128, then as above;
- ended unseen (adopted after a daemon restart): exit 137 ``ContainerStatusUnknown``.

Public API::

    Exit(code, message=""), Started (protocol), Launcher (protocol), StartFailed
    ContainerSupervisor(pod, container, image, launcher, on_status, clock=, sleep=)
        .run() (a task), .stop(grace), .status
    StatusCallback = Callable[[ContainerStatus], None]
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from intranode.dataplane.runtime.restart import (
    CRASH_LOOP_BACK_OFF,
    CrashBackoff,
    crash_loop_message,
    should_restart,
)
from intranode.dataplane.runtime.spec import ContainerRun, PodRun
from intranode.dataplane.runtime.status import (
    CONTAINER_CREATING,
    STATUS_UNKNOWN,
    ContainerStatus,
    Running,
    State,
    Terminated,
    Waiting,
    exit_reason,
)
from intranode.domain.images import IMAGE_PULL_BACK_OFF, ImageSpec, PullError

StatusCallback = Callable[[ContainerStatus], None]
Sleep = Callable[[float], Awaitable[None]]
UNKNOWN_EXIT_CODE = 137
UNKNOWN_EXIT_MESSAGE = (
    "The container's process was adopted after intranode restarted; its exit code is unknown"
)
PULL_ATTEMPT = 1.0


@dataclass(frozen=True)
class Exit:
    """How a container ended: its exit code, or None when nobody could see it."""

    code: int | None
    message: str = ""


class Started(Protocol):
    container_id: str
    started_at: float

    async def wait(self) -> Exit: ...

    async def stop(self, grace: float) -> None: ...

    async def ready(self) -> bool: ...


class Launcher(Protocol):
    async def start(self, restart_count: int) -> Started: ...


class StartFailed(Exception):
    """The container could not be started (kubelet: terminated, reason StartError)."""

    def __init__(self, exit_code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.reason = reason
        self.message = message


class ContainerSupervisor:
    def __init__(
        self,
        pod: PodRun,
        container: ContainerRun,
        image: ImageSpec | PullError,
        launcher: Launcher | None,
        on_status: StatusCallback,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        ready_interval: float = 10.0,
    ) -> None:
        self.pod = pod
        self.container = container
        self.image = image
        self.launcher = launcher
        self.on_status = on_status
        self.clock = clock
        self.sleep = sleep
        self.ready_interval = ready_interval
        self.restart_count = container.restart_count
        self.last_state: Terminated | None = None
        self.current: Started | None = None
        self.stopping = False
        self._stop_event = asyncio.Event()
        self.status = self._status(Waiting(CONTAINER_CREATING))

    def _status(
        self, state: State, *, ready: bool = False, started: bool = False, container_id: str = ""
    ) -> ContainerStatus:
        image_id = self.image.image_id if isinstance(self.image, ImageSpec) else ""
        return ContainerStatus(
            pod_uid=self.pod.uid,
            name=self.container.name,
            image=self.container.image,
            image_id=image_id,
            state=state,
            last_state=self.last_state,
            restart_count=self.restart_count,
            ready=ready,
            started=started,
            container_id=container_id,
        )

    def _emit(self, status: ContainerStatus) -> None:
        if self.stopping or status == self.status:
            return
        self.status = status
        self.on_status(status)

    async def run(self) -> None:
        if isinstance(self.image, PullError):
            await self._pull_failing(self.image)
            return
        assert self.launcher is not None
        backoff = CrashBackoff()
        while not self.stopping:
            term = await self._one_run(self.launcher)
            if self.stopping:
                return
            if not should_restart(self.pod.restart_policy, term.exit_code):
                self._emit(self._status(term, container_id=term.container_id))
                return
            self.last_state = term
            delay = backoff.delay(term.finished_at, self.clock())
            if delay > 0:
                message = crash_loop_message(
                    backoff.backoff,
                    self.container.name,
                    self.pod.name,
                    self.pod.namespace,
                    self.pod.uid,
                )
                self._emit(self._status(Waiting(CRASH_LOOP_BACK_OFF, message)))
                await self._pause(delay)
            backoff.advance(term.finished_at, self.clock())
            self.restart_count += 1

    async def _one_run(self, launcher: Launcher) -> Terminated:
        try:
            started = await launcher.start(self.restart_count)
        except StartFailed as failed:
            now = self.clock()
            return Terminated(failed.exit_code, failed.reason, now, now, failed.message)
        self.current = started
        if self.stopping:
            await started.stop(0)
        cid = started.container_id
        ready = await started.ready()
        self._emit(
            self._status(Running(started.started_at), ready=ready, started=True, container_id=cid)
        )
        probe = asyncio.create_task(self._probe(started, ready))
        try:
            end = await started.wait()
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
            self.current = None
        finished = self.clock()
        if end.code is None:
            return Terminated(
                UNKNOWN_EXIT_CODE,
                STATUS_UNKNOWN,
                started.started_at,
                finished,
                UNKNOWN_EXIT_MESSAGE,
                cid,
            )
        return Terminated(
            end.code, exit_reason(end.code), started.started_at, finished, end.message, cid
        )

    async def _probe(self, started: Started, ready: bool) -> None:
        while True:
            await self.sleep(self.ready_interval if ready else 1.0)
            now_ready = await started.ready()
            if now_ready != ready:
                ready = now_ready
                self._emit(
                    self._status(
                        Running(started.started_at),
                        ready=ready,
                        started=True,
                        container_id=started.container_id,
                    )
                )

    async def _pull_failing(self, error: PullError) -> None:
        self._emit(self._status(Waiting(error.reason, error.message)))
        if not error.retries:
            return
        backoff = CrashBackoff()
        while not self.stopping:
            await self._pause(PULL_ATTEMPT)
            now = self.clock()
            backoff.advance(now, now)
            self._emit(self._status(Waiting(IMAGE_PULL_BACK_OFF, error.backoff_message)))
            await self._pause(backoff.backoff)
            self._emit(self._status(Waiting(error.reason, error.message)))

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the container is stopped."""
        sleeping = asyncio.ensure_future(self.sleep(seconds))
        stopped = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({sleeping, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            stopped.cancel()

    async def stop(self, grace: float) -> None:
        """Stop the container (SIGTERM, then SIGKILL after ``grace``) and end supervision:
        ``run`` returns soon after (a start under way is stopped as soon as it completes)."""
        self.stopping = True
        self._stop_event.set()
        if self.current is not None:
            await self.current.stop(grace)
