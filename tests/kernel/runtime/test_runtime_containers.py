"""Generic containers as processes in the pod's namespaces: exit codes and reasons per restart
policy, logs, restarts with back-off, readiness on a port, a missing program, stopping the
whole process group, taking processes over after a daemon restart, and removing everything
from the records alone after a crash."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from intranode.dataplane.runtime.cleanup import cleanup_recorded
from intranode.dataplane.runtime.executor import PodExec
from intranode.dataplane.runtime.pods import PodRuntime
from intranode.dataplane.runtime.podserver import PodServer
from intranode.dataplane.runtime.records import (
    KIND_EXEC,
    KIND_PROCESS,
    KIND_SERVER,
    KIND_UTS,
    MemoryRecords,
)
from intranode.dataplane.runtime.status import (
    ContainerStatus,
    Running,
    Terminated,
    Waiting,
    pod_phase,
)

from .helpers import NetnsFactory, RuntimeEnv, Streams, runtime_env, wait_until

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
]


def _sh(name: str, script: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "image": "busybox:1.36",
        "command": ["sh", "-c"],
        "args": [script],
        **extra,
    }


def _state(env: RuntimeEnv, uid: str, name: str) -> object:
    s = env.latest(uid, name)
    return s.state if s is not None else None


def _terminated(env: RuntimeEnv, uid: str, name: str) -> Terminated:
    state = _state(env, uid, name)
    assert isinstance(state, Terminated), state
    return state


def test_restart_policy_never_reports_exit_codes_and_keeps_the_logs(
    netns: NetnsFactory, run_dir: Path
) -> None:
    (ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            containers = [
                _sh(
                    "fails",
                    "echo out $GREETING $(hostname); echo err >&2; exit 3",
                    env=[{"name": "GREETING", "value": "hi"}],
                ),
                _sh("works", "exit 0"),
            ]
            await env.runtime.start_pod(env.pod(ns, "job", containers, restartPolicy="Never"))
            await wait_until(
                lambda: all(
                    isinstance(_state(env, "uid-job", c), Terminated) for c in ("fails", "works")
                )
            )
            fails, works = (
                _terminated(env, "uid-job", "fails"),
                _terminated(env, "uid-job", "works"),
            )
            assert (fails.exit_code, fails.reason) == (3, "Error")
            assert (works.exit_code, works.reason) == (0, "Completed")
            assert fails.container_id.startswith("containerd://")
            log = (run_dir / "logs/job/fails/0.log").read_text()
            assert sorted(log.splitlines()) == ["err", "out hi job"]
            assert pod_phase("Never", env.runtime.statuses("uid-job")) == "Failed"

    asyncio.run(main())


def test_on_failure_restarts_until_success_and_always_crash_loops(
    netns: NetnsFactory, run_dir: Path
) -> None:
    ns1, ns2 = netns.make(2)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            # Fails the first time (no marker yet), succeeds the second.
            marker = run_dir / "marker"
            retry = _sh("retry", f"test -e {marker} && exit 0; touch {marker}; exit 1")
            await env.runtime.start_pod(env.pod(ns1, "once", [retry], restartPolicy="OnFailure"))
            await wait_until(lambda: isinstance(_state(env, "uid-once", "retry"), Terminated))
            final = env.latest("uid-once", "retry")
            assert final is not None and final.restart_count == 1
            assert final.last_state is not None and final.last_state.exit_code == 1
            assert _terminated(env, "uid-once", "retry").reason == "Completed"
            assert pod_phase("OnFailure", env.runtime.statuses("uid-once")) == "Succeeded"
            assert (run_dir / "logs/once/retry/0.log").exists()
            assert (run_dir / "logs/once/retry/1.log").exists()

            await env.runtime.start_pod(env.pod(ns2, "loop", [_sh("crash", "exit 2")]))

            def backing_off() -> bool:
                state = _state(env, "uid-loop", "crash")
                return isinstance(state, Waiting) and state.reason == "CrashLoopBackOff"

            await wait_until(backing_off)
            s = env.latest("uid-loop", "crash")
            assert s is not None and isinstance(s.state, Waiting)
            assert s.state.message == (
                "back-off 10s restarting failed container=crash pod=loop_default(uid-loop)"
            )
            assert s.restart_count == 1
            assert s.last_state is not None
            assert (s.last_state.exit_code, s.last_state.reason) == (2, "Error")
            assert pod_phase("Always", [s]) == "Running"

    asyncio.run(main())


def test_a_missing_program_is_start_error_128(netns: NetnsFactory, run_dir: Path) -> None:
    (ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            c = {"name": "c", "image": "alpine", "command": ["no-such-program"]}
            await env.runtime.start_pod(env.pod(ns, "broken", [c], restartPolicy="Never"))
            await wait_until(lambda: isinstance(_state(env, "uid-broken", "c"), Terminated))
            state = _terminated(env, "uid-broken", "c")
            assert (state.exit_code, state.reason) == (128, "StartError")
            assert state.message == (
                "failed to create containerd task: failed to create shim task: OCI runtime create "
                "failed: runc create failed: unable to start container process: exec: "
                '"no-such-program": executable file not found in $PATH: unknown'
            )

    asyncio.run(main())


def test_a_container_with_a_port_is_ready_once_it_listens(
    netns: NetnsFactory, run_dir: Path
) -> None:
    (ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            web = _sh(
                "web", "sleep 1.5; exec busybox httpd -f -p 9000", ports=[{"containerPort": 9000}]
            )
            await env.runtime.start_pod(env.pod(ns, "srv", [web]))
            await wait_until(lambda: isinstance(_state(env, "uid-srv", "web"), Running))
            first = env.latest("uid-srv", "web")
            assert first is not None and not first.ready and first.started
            await wait_until(lambda: bool((s := env.latest("uid-srv", "web")) and s.ready), 10)

    asyncio.run(main())


def test_stopping_a_pod_stops_what_its_containers_started(
    netns: NetnsFactory, run_dir: Path
) -> None:
    (ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            pidfile = run_dir / "bg.pid"
            c = _sh("tree", f"sleep 300 & echo $! > {pidfile}; trap '' TERM; wait")
            await env.runtime.start_pod(env.pod(ns, "tree", [c], terminationGracePeriodSeconds=1))
            await wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
            bg = int(pidfile.read_text())
            (main_pid,) = [int(p) for p in env.records.of_kind(KIND_PROCESS)]
            await env.runtime.stop_pod("uid-tree")
            assert not os.path.exists(f"/proc/{bg}")
            assert not os.path.exists(f"/proc/{main_pid}")

    asyncio.run(main())


def test_a_restarted_daemon_takes_running_containers_over(
    netns: NetnsFactory, run_dir: Path
) -> None:
    (ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            pod = env.pod(ns, "long", [_sh("c", "sleep 300")], terminationGracePeriodSeconds=1)
            await env.runtime.start_pod(pod)
            await wait_until(lambda: isinstance(_state(env, "uid-long", "c"), Running))
            (pid,) = list(env.records.of_kind(KIND_PROCESS))
            before = env.latest("uid-long", "c")
            # The daemon goes away leaving the container running; a restarted daemon builds a
            # runtime from the records and starts the pods the store says run.
            await env.runtime.detach()
            seen: list[ContainerStatus] = []
            adopter = PodRuntime(
                env.records, env.server, seen.append, adopt=env.records.of_kind(KIND_PROCESS)
            )
            await adopter.start_pod(pod)
            await wait_until(lambda: bool(seen))
            assert isinstance(seen[0].state, Running)
            assert before is not None and seen[0].container_id == before.container_id
            assert list(env.records.of_kind(KIND_PROCESS)) == [pid]
            # The process ends unseen by its parent: exit code unknown, as kubelet says it.
            os.kill(int(pid), 9)
            await wait_until(lambda: any(s.restart_count == 1 for s in seen))
            last = next(s for s in seen if s.restart_count == 1).last_state
            assert last is not None
            assert (last.exit_code, last.reason) == (137, "ContainerStatusUnknown")
            await adopter.stop_all(grace=1)

    asyncio.run(main())


def test_the_pod_server_stops_and_forgets_its_record(run_dir: Path) -> None:
    async def main() -> None:
        records = MemoryRecords()
        server = PodServer(run_dir, records)
        await server.start()
        await server.close(stop=True)
        assert records.items == {}

    asyncio.run(main())


def test_after_a_crash_the_records_alone_remove_everything(
    netns: NetnsFactory, run_dir: Path
) -> None:
    (ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            hello = {"name": "h", "image": "gcr.io/google-samples/hello-app:1.0"}
            pod = env.pod(ns, "crashy", [_sh("c", "sleep 300"), hello])
            await env.runtime.start_pod(pod)
            await wait_until(
                lambda: (
                    len(env.statuses) >= 2
                    and all(s.ready for s in env.runtime.statuses("uid-crashy"))
                )
            )

            def sleeper() -> asyncio.Task[int]:
                pod_ref = {"metadata": {"uid": "uid-crashy"}}
                streams = Streams(close_stdin=False)
                return asyncio.create_task(
                    PodExec(env.runtime).run(pod_ref, "c", ["sleep", "300"], streams, False)
                )

            # An exec whose client goes away is stopped and forgotten.
            gone = sleeper()
            await wait_until(lambda: bool(env.records.of_kind(KIND_EXEC)))
            (gone_pid,) = env.records.of_kind(KIND_EXEC)
            gone.cancel()
            await asyncio.gather(gone, return_exceptions=True)
            assert env.records.of_kind(KIND_EXEC) == {}
            assert not os.path.exists(f"/proc/{gone_pid}")
            left = sleeper()
            await wait_until(lambda: bool(env.records.of_kind(KIND_EXEC)))
            assert next(iter(env.records.of_kind(KIND_EXEC).values()))["container"] == "c"
            # The daemon dies: nothing is stopped, the records stay.
            await env.runtime.detach()
            await env.server.close(stop=False)
            by_kind = {
                kind: env.records.of_kind(kind)
                for kind in (KIND_PROCESS, KIND_EXEC, KIND_SERVER, KIND_UTS)
            }
            assert all(by_kind.values())
            removed = await cleanup_recorded(env.records, by_kind, grace=1.0)
            assert sorted(r.split()[0] for r in removed) == sorted(by_kind)
            assert await asyncio.wait_for(left, 5) == 143  # SIGTERM: 128 + 15
            assert env.records.items == {}
            assert not Path(next(iter(by_kind[KIND_UTS]))).exists()

    asyncio.run(main())
