"""One container's life under its restart policy, with fake time: the statuses kubelet would
write (running, CrashLoopBackOff, lastState, restartCount, image pull errors, readiness)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from intranode.dataplane.runtime.sandbox import Sandbox
from intranode.dataplane.runtime.spec import ContainerRun, PodRun
from intranode.dataplane.runtime.status import (
    ContainerStatus,
    Running,
    Terminated,
    Waiting,
    pod_phase,
)
from intranode.dataplane.runtime.supervisor import ContainerSupervisor, StartFailed
from intranode.domain.images import resolve
from tests.unit.runtime.fakes import FakeTime, Run, ScriptedLauncher

T0 = 1_000_000.0
SANDBOX = Sandbox(Path("/run/netns/t-p-0001"), Path("/tmp/uts"), "web")


def _pod(policy: str) -> PodRun:
    return PodRun(
        uid="u-1",
        name="web",
        namespace="default",
        sandbox=SANDBOX,
        log_dir=Path("/tmp/logs"),
        restart_policy=policy,
        containers=(ContainerRun("c1", "busybox"),),
    )


Scenario = Callable[[FakeTime, ContainerSupervisor, ScriptedLauncher], Awaitable[None]]


def _run(
    policy: str, runs: list[Run], scenario: Scenario, image: str = "busybox"
) -> tuple[list[ContainerStatus], ScriptedLauncher, ContainerSupervisor]:
    seen: list[ContainerStatus] = []
    time = FakeTime(T0)
    launcher = ScriptedLauncher(time, *runs)
    pod = _pod(policy)

    async def main() -> ContainerSupervisor:
        sup = ContainerSupervisor(
            pod,
            pod.containers[0],
            resolve(image),
            launcher,
            seen.append,
            clock=time.clock,
            sleep=time.sleep,
        )
        task = asyncio.create_task(sup.run())
        await scenario(time, sup, launcher)
        await sup.stop(0)
        await time.advance(1000)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return sup

    sup = asyncio.run(main())
    return seen, launcher, sup


def _brief(s: ContainerStatus) -> tuple[object, ...]:
    state = s.state
    if isinstance(state, Running):
        what: tuple[object, ...] = ("running", state.started_at - T0)
    elif isinstance(state, Waiting):
        what = ("waiting", state.reason, state.message)
    else:
        what = ("terminated", state.reason, state.exit_code)
    last = s.last_state
    return (*what, s.restart_count, s.ready, last.exit_code if last else None)


async def _advance(time: FakeTime, *steps: float) -> None:
    for step in steps:
        await time.advance(step)


def test_always_restarts_at_once_then_backs_off_10s_then_20s() -> None:
    async def scenario(time: FakeTime, sup: ContainerSupervisor, _: ScriptedLauncher) -> None:
        await _advance(time, 2, 2, 10, 2, 5)

    seen, launcher, _ = _run("Always", [Run(code=1, after=2)], scenario)
    msg = "back-off {} restarting failed container=c1 pod=web_default(u-1)"
    assert [_brief(s) for s in seen] == [
        ("running", 0.0, 0, True, None),
        ("running", 2.0, 1, True, 1),
        ("waiting", "CrashLoopBackOff", msg.format("10s"), 1, False, 1),
        ("running", 14.0, 2, True, 1),
        ("waiting", "CrashLoopBackOff", msg.format("20s"), 2, False, 1),
    ]
    assert launcher.starts == [0, 1, 2]
    last = seen[1].last_state
    assert last == Terminated(1, "Error", T0, T0 + 2, "", "containerd://" + f"{1:064x}")


def test_on_failure_stops_after_a_clean_exit_and_the_pod_succeeds() -> None:
    async def scenario(time: FakeTime, sup: ContainerSupervisor, _: ScriptedLauncher) -> None:
        await _advance(time, 5, 60)

    seen, launcher, sup = _run("OnFailure", [Run(code=3, after=5), Run(code=0, after=5)], scenario)
    assert [_brief(s) for s in seen] == [
        ("running", 0.0, 0, True, None),
        ("running", 5.0, 1, True, 3),
        ("terminated", "Completed", 0, 1, False, 3),
    ]
    assert launcher.starts == [0, 1]
    assert pod_phase("OnFailure", [sup.status]) == "Succeeded"


def test_never_reports_the_exit_code_and_the_pod_fails() -> None:
    async def scenario(time: FakeTime, sup: ContainerSupervisor, _: ScriptedLauncher) -> None:
        await _advance(time, 1, 600)

    seen, launcher, sup = _run("Never", [Run(code=3, after=1)], scenario)
    assert [_brief(s) for s in seen][-1] == ("terminated", "Error", 3, 0, False, None)
    assert launcher.starts == [0]
    assert pod_phase("Never", [sup.status]) == "Failed"
    doc = sup.status.to_k8s()
    assert doc["state"] == {
        "terminated": {
            "exitCode": 3,
            "reason": "Error",
            "startedAt": "1970-01-12T13:46:40Z",
            "finishedAt": "1970-01-12T13:46:41Z",
            "containerID": "containerd://" + f"{1:064x}",
        }
    }
    assert doc["lastState"] == {}
    assert doc["ready"] is False and doc["restartCount"] == 0
    assert doc["imageID"].startswith("docker.io/library/busybox@sha256:")


def test_a_missing_program_is_start_error_128_and_crash_loops() -> None:
    failed = StartFailed(128, "StartError", 'exec: "nope": executable file not found in $PATH')

    async def scenario(time: FakeTime, sup: ContainerSupervisor, _: ScriptedLauncher) -> None:
        await _advance(time, 0)

    _, launcher, sup = _run("Always", [Run(fail=failed)], scenario)
    assert launcher.starts == [0, 1]
    assert sup.status.restart_count == 1
    assert isinstance(sup.status.state, Waiting)
    assert sup.status.state.reason == "CrashLoopBackOff"
    assert sup.status.last_state == Terminated(128, "StartError", T0, T0, failed.message)
    assert pod_phase("Always", [sup.status]) == "Running"


def test_an_unknown_image_alternates_err_image_pull_and_image_pull_back_off() -> None:
    async def scenario(time: FakeTime, sup: ContainerSupervisor, _: ScriptedLauncher) -> None:
        await _advance(time, 1, 10, 1, 20)

    seen, launcher, sup = _run("Always", [Run()], scenario, image="nosuch/app:1")
    reasons = [s.state.reason for s in seen if isinstance(s.state, Waiting)]
    assert reasons == [
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImagePull",
    ]
    assert isinstance(seen[1].state, Waiting)
    assert seen[1].state.message == 'Back-off pulling image "nosuch/app:1"'
    assert launcher.starts == []
    assert pod_phase("Always", [sup.status]) == "Pending"


def test_an_invalid_image_name_is_reported_once() -> None:
    async def scenario(time: FakeTime, sup: ContainerSupervisor, _: ScriptedLauncher) -> None:
        await _advance(time, 100)

    seen, _, _ = _run("Always", [Run()], scenario, image="Busybox")
    assert [s.state for s in seen] == [
        Waiting(
            "InvalidImageName",
            'Failed to apply default image tag "Busybox": couldn\'t parse image reference '
            '"Busybox": invalid reference format: repository name must be lowercase',
        )
    ]


def test_readiness_is_probed_every_second_until_ready() -> None:
    run = Run(code=None, after=None, ready=False)

    async def scenario(time: FakeTime, sup: ContainerSupervisor, _: ScriptedLauncher) -> None:
        await _advance(time, 1, 1)
        run.ready = True
        await _advance(time, 0.5)
        assert not sup.status.ready
        await _advance(time, 0.5)
        assert sup.status.ready

    seen, _, _ = _run("Always", [run], scenario)
    assert [(s.ready, s.started) for s in seen] == [(False, True), (True, True)]


def test_stopping_ends_supervision_without_further_statuses() -> None:
    async def scenario(time: FakeTime, sup: ContainerSupervisor, _: ScriptedLauncher) -> None:
        await _advance(time, 1)

    seen, launcher, sup = _run("Always", [Run(code=None, after=None)], scenario)
    assert len(seen) == 1 and isinstance(seen[0].state, Running)
    assert launcher.starts == [0]
    assert sup.stopping


def test_pod_phase_follows_kubelet() -> None:
    def st(
        state: Running | Waiting | Terminated, last: Terminated | None = None
    ) -> ContainerStatus:
        return ContainerStatus("u", "c", "i", "", state, last)

    ok = Terminated(0, "Completed", 0, 1)
    bad = Terminated(1, "Error", 0, 1)
    assert pod_phase("Always", [st(Waiting("ContainerCreating"))]) == "Pending"
    assert pod_phase("Always", [st(Running(0)), st(Waiting("ErrImagePull"))]) == "Pending"
    assert pod_phase("Always", [st(Running(0)), st(Waiting("CrashLoopBackOff"), bad)]) == "Running"
    assert pod_phase("Never", [st(ok), st(bad)]) == "Failed"
    assert pod_phase("OnFailure", [st(ok), st(bad)]) == "Running"
    assert pod_phase("Never", [st(ok), st(ok)]) == "Succeeded"
    assert pod_phase("Always", [st(ok)]) == "Running"


def test_stopping_during_back_off_ends_supervision_without_waiting() -> None:
    time = FakeTime(T0)
    launcher = ScriptedLauncher(time, Run(code=1, after=1))
    pod = _pod("Always")

    async def main() -> bool:
        sup = ContainerSupervisor(
            pod,
            pod.containers[0],
            resolve("busybox"),
            launcher,
            lambda s: None,
            clock=time.clock,
            sleep=time.sleep,
        )
        task = asyncio.create_task(sup.run())
        await time.advance(1)
        await time.advance(1)
        assert isinstance(sup.status.state, Waiting)
        await sup.stop(30)
        await time.settle()
        return task.done()

    assert asyncio.run(main())
    assert launcher.starts == [0, 1]
