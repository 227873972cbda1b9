"""Pod sandboxes and ``kubectl exec``: the hostname is the pod's, commands see the pod's
network, stdin and exit codes flow, a TTY works, missing programs are refused."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from intranode.dataplane.runtime.executor import PodExec, exec_in_sandbox
from intranode.dataplane.runtime.sandbox import is_uts_mount
from intranode.errors import ApiError

from .helpers import NetnsFactory, RuntimeEnv, Streams, runtime_env, wait_until

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
]

BUSYBOX = [{"name": "shell", "image": "busybox"}]


async def _idle_pod(env: RuntimeEnv, ns: str, name: str = "pod-1") -> None:
    await env.runtime.start_pod(env.pod(ns, name, BUSYBOX))
    await wait_until(lambda: bool((s := env.latest(f"uid-{name}", "shell")) and s.ready))


async def _exec(
    env: RuntimeEnv, ns: str, cmd: list[str], streams: Streams, tty: bool = False
) -> int:
    sandbox = env.sandbox(ns, "pod-1")
    context = env.runtime.exec_context("uid-pod-1", "shell")
    assert context is not None
    _, container_env, cwd = context
    return await exec_in_sandbox(sandbox, cmd, streams, tty=tty, env=container_env, cwd=cwd)


def test_hostname_is_the_pod_name_and_commands_see_the_pod_network(
    netns: NetnsFactory, run_dir: Path
) -> None:
    pod_ns, other = netns.make(2)
    netns.veth(pod_ns, "10.250.0.1/24", other, "10.250.0.2/24")

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            await _idle_pod(env, pod_ns)
            uts = env.sandbox(pod_ns, "pod-1").uts_path
            assert is_uts_mount(uts)
            s = Streams()
            assert await _exec(env, pod_ns, ["hostname"], s) == 0
            assert s.out == b"pod-1\n"
            s = Streams()
            assert await _exec(env, pod_ns, ["sh", "-c", "echo $HOSTNAME; ip -4 -o addr"], s) == 0
            assert s.out.startswith(b"pod-1\n")
            assert b"10.250.0.1/24" in s.out and b"10.250.0.2" not in s.out
            await env.runtime.stop_pod("uid-pod-1")
            assert not uts.exists()
        assert os.uname().nodename != "pod-1"

    asyncio.run(main())


def test_exec_streams_stdin_and_stderr_and_returns_exit_codes(
    netns: NetnsFactory, run_dir: Path
) -> None:
    (pod_ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            await _idle_pod(env, pod_ns)
            fds = len(os.listdir("/proc/self/fd"))
            s = Streams([b"line one\n", b"line two\n"])
            assert await _exec(env, pod_ns, ["cat"], s) == 0
            assert s.out == b"line one\nline two\n"
            s = Streams()
            code = await _exec(env, pod_ns, ["sh", "-c", "echo out; echo err >&2; exit 7"], s)
            assert (code, s.out, s.err) == (7, b"out\n", b"err\n")
            s = Streams()
            assert await _exec(env, pod_ns, ["sh", "-c", "nosuchprogram"], s) == 127
            assert b"not found" in s.err
            s = Streams([b"x" * 300_000])
            assert await _exec(env, pod_ns, ["wc", "-c"], s) == 0
            assert s.out.strip() == b"300000"
            # A command that leaves something running in the background does not outlive exec.
            s = Streams()
            assert await _exec(env, pod_ns, ["sh", "-c", "sleep 300 & echo $!"], s) == 0
            bg = int(s.out)
            await wait_until(lambda: not os.path.exists(f"/proc/{bg}"), timeout=5)
            s = Streams(close_stdin=False)  # the client never ends its input
            assert await _exec(env, pod_ns, ["true"], s) == 0
            assert len(os.listdir("/proc/self/fd")) == fds  # no descriptor leaks

    asyncio.run(main())


def test_a_missing_program_is_refused_as_containerd_refuses_it(
    netns: NetnsFactory, run_dir: Path
) -> None:
    (pod_ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            await _idle_pod(env, pod_ns)
            with pytest.raises(ApiError) as err:
                await _exec(env, pod_ns, ["nosuchprogram", "-x"], Streams())
            text = err.value.message
            assert text.startswith(
                "Internal error occurred: error executing command in container: failed to exec "
                'in container: failed to start exec "'
            )
            assert text.endswith(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: "
                '"nosuchprogram": executable file not found in $PATH: unknown'
            )

    asyncio.run(main())


def test_exec_with_a_tty_gets_a_terminal_that_follows_resizes(
    netns: NetnsFactory, run_dir: Path
) -> None:
    (pod_ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            await _idle_pod(env, pod_ns)
            s = Streams(close_stdin=False)
            task = asyncio.create_task(_exec(env, pod_ns, ["sh"], s, tty=True))

            class Size:
                width, height = 101, 33

            s.resize.put_nowait(Size())
            await asyncio.sleep(0.3)
            s.stdin.put_nowait(b"tty; stty size; echo TERM=$TERM; hostname; exit 4\n")
            code = await asyncio.wait_for(task, 10)
            assert code == 4
            text = s.out.decode()
            assert "/dev/pts/" in text
            assert "33 101" in text
            assert "TERM=xterm" in text
            assert "pod-1" in text
            assert s.err == b""

    asyncio.run(main())


def test_pod_exec_finds_the_container_by_pod_uid(netns: NetnsFactory, run_dir: Path) -> None:
    (pod_ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            await _idle_pod(env, pod_ns)
            pod = {"metadata": {"name": "pod-1", "uid": "uid-pod-1"}}
            s = Streams()
            assert await PodExec(env.runtime).run(pod, "shell", ["hostname"], s, False) == 0
            assert s.out == b"pod-1\n"
            with pytest.raises(ApiError, match=r'container not found \("other"\)'):
                await PodExec(env.runtime).run(pod, "other", ["true"], Streams(), False)

    asyncio.run(main())
