"""The shared hello-app server: real answers across a veth, the guide's exec + wget, Go's
crash on a taken port, restarts of the server and of the daemon, and hundreds of pods served
by one small process."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from intranode.dataplane.runtime import linux
from intranode.dataplane.runtime.executor import exec_in_sandbox
from intranode.dataplane.runtime.podserver import PodServer
from intranode.dataplane.runtime.records import KIND_SERVER, MemoryRecords
from intranode.dataplane.runtime.status import Running, Terminated

from .helpers import NetnsFactory, Streams, http_get, runtime_env, wait_until

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
]

HELLO = "us-docker.pkg.dev/google-samples/containers/gke/hello-app:{}"
SCALE = int(os.environ.get("INTRANODE_SCALE_PODS", "200"))


def _body(reply: bytes) -> bytes:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    return body


def test_hello_app_answers_across_a_veth_with_its_version_and_the_pod_name(
    netns: NetnsFactory, run_dir: Path
) -> None:
    pod1, pod2 = netns.make(2)
    netns.veth(pod1, "10.250.0.4/24", pod2, "10.250.0.5/24")

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            for ns, name, tag in ((pod1, "pod-1", "1.0"), (pod2, "pod-2", "2.0")):
                c = [{"name": f"container-{name[-1]}", "image": HELLO.format(tag)}]
                await env.runtime.start_pod(env.pod(ns, name, c))
            await wait_until(
                lambda: bool((s := env.latest("uid-pod-2", "container-2")) and s.ready)
            )
            status = env.latest("uid-pod-2", "container-2")
            assert status is not None and isinstance(status.state, Running)
            assert status.to_k8s()["imageID"].startswith(
                "us-docker.pkg.dev/google-samples/containers/gke/hello-app@sha256:"
            )
            body = await asyncio.to_thread(lambda: _body(http_get(pod1, "10.250.0.5", 8080)))
            assert body == b"Hello, world!\nVersion: 2.0.0\nHostname: pod-2\n"
            # The guide: kubectl exec -it pod-1 -- wget -qO- POD_2_IP:8080
            context = env.runtime.exec_context("uid-pod-1", "container-1")
            assert context is not None
            s = Streams()
            code = await exec_in_sandbox(
                env.sandbox(pod1, "pod-1"),
                ["wget", "-qO-", "10.250.0.5:8080"],
                s,
                tty=False,
                env=context[1],
            )
            assert (code, s.out) == (0, b"Hello, world!\nVersion: 2.0.0\nHostname: pod-2\n")
            s = Streams()
            await exec_in_sandbox(
                env.sandbox(pod2, "pod-2"),
                ["busybox", "wget", "-qO-", "10.250.0.4:8080/hi"],
                s,
                tty=False,
                env=context[1],
            )
            assert s.out == b"Hello, world!\nVersion: 1.0.0\nHostname: pod-1\n"
            log2 = (run_dir / "logs/pod-2/container-2/0.log").read_text().splitlines()
            assert [line[20:] for line in log2] == [
                "Server listening on port 8080",
                "Serving request: /",
                "Serving request: /",
            ]
            assert all(line[4] == "/" and line[10] == " " for line in log2)
            log1 = (run_dir / "logs/pod-1/container-1/0.log").read_text()
            assert log1.endswith(" Serving request: /hi\n")
            await env.runtime.stop_pod("uid-pod-2")
            with pytest.raises(OSError):
                await asyncio.to_thread(http_get, pod1, "10.250.0.5", 8080)

    asyncio.run(main())


def test_a_taken_port_ends_the_app_with_exit_code_1_as_go_does(
    netns: NetnsFactory, run_dir: Path
) -> None:
    (ns,) = netns.make(1)

    async def main() -> None:
        async with runtime_env(run_dir) as env:
            containers = [
                {"name": "a", "image": HELLO.format("1.0")},
                {"name": "b", "image": HELLO.format("2.0")},
                {
                    "name": "c",
                    "image": HELLO.format("2.0"),
                    "env": [{"name": "PORT", "value": "9000"}],
                },
            ]
            await env.runtime.start_pod(env.pod(ns, "twins", containers, restartPolicy="Never"))
            await wait_until(
                lambda: isinstance(getattr(env.latest("uid-twins", "b"), "state", None), Terminated)
            )
            b = env.latest("uid-twins", "b")
            assert b is not None and isinstance(b.state, Terminated)
            assert (b.state.exit_code, b.state.reason) == (1, "Error")
            log = (run_dir / "logs/twins/b/0.log").read_text()
            assert log.endswith(" listen tcp :8080: bind: address already in use\n")
            await wait_until(lambda: bool((s := env.latest("uid-twins", "c")) and s.ready))
            body = await asyncio.to_thread(lambda: _body(http_get(ns, "127.0.0.1", 9000)))
            assert body == b"Hello, world!\nVersion: 2.0.0\nHostname: twins\n"

    asyncio.run(main())


def test_the_server_is_restarted_and_a_restarted_daemon_reuses_it(
    netns: NetnsFactory, run_dir: Path
) -> None:
    (ns,) = netns.make(1)
    netns_path = f"/run/netns/{ns}"
    log = str(run_dir / "logs/p/0.log")

    async def main() -> None:
        records = MemoryRecords()
        first = PodServer(run_dir, records)
        await first.start()
        second: PodServer | None = None
        try:
            await first.add("k1", netns_path, "pod-9", "hello", "1.0.0", 8080, log)
            await first.add("gone", netns_path, "pod-8", "web", "", 80, log + ".web")
            pid = first.pid
            assert pid is not None and str(pid) in records.of_kind(KIND_SERVER)
            # The daemon goes away and leaves the server running.
            await first.close(stop=False)
            second = PodServer(run_dir, records)
            await second.start(adopt=records.of_kind(KIND_SERVER))
            assert second.pid == pid
            assert set(await second.served()) == {"k1", "gone"}
            assert await second.add("k1", netns_path, "pod-9", "hello", "1.0.0", 8080, log)
            assert await second.prune_stale() == ["gone"]
            with pytest.raises(OSError):
                await asyncio.to_thread(http_get, ns, "127.0.0.1", 80)
            body = await asyncio.to_thread(lambda: _body(http_get(ns, "127.0.0.1", 8080)))
            assert body.endswith(b"Hostname: pod-9\n")
            # The server dies: the watcher starts a new one and reopens the pod's socket.
            os.kill(pid, signal.SIGKILL)
            await wait_until(lambda: second is not None and second.pid not in (None, pid))
            await asyncio.wait_for(second.ping(), 10)
            assert set(await second.served()) == {"k1"}
            assert set(records.of_kind(KIND_SERVER)) == {str(second.pid)}
            body = await asyncio.to_thread(lambda: _body(http_get(ns, "127.0.0.1", 8080)))
            assert body.endswith(b"Hostname: pod-9\n")
            assert await second.prune(keep=set()) == ["k1"]
            with pytest.raises(OSError):
                await asyncio.to_thread(http_get, ns, "127.0.0.1", 8080)
        finally:
            await first.close(stop=True)
            if second is not None:
                await second.close(stop=True)
        assert records.of_kind(KIND_SERVER) == {}
        assert linux.process_start_time(pid) is None

    asyncio.run(main())


def test_one_server_process_serves_hundreds_of_pods_cheaply(
    netns: NetnsFactory, run_dir: Path
) -> None:
    names = netns.make(SCALE)

    async def main() -> None:
        records = MemoryRecords()
        server = PodServer(run_dir, records)
        await server.start()
        try:
            before = (await server.ping())["rss_kb"]
            for i, ns in enumerate(names):
                await server.add(
                    f"k{i}",
                    f"/run/netns/{ns}",
                    f"pod-{i}",
                    "hello",
                    "1.0.0",
                    8080,
                    str(run_dir / f"logs/{i}.log"),
                )
            after = await server.ping()
            per_pod_kb = (after["rss_kb"] - before) / len(names)
            print(
                f"\n{len(names)} pods: server RSS {before} kB -> {after['rss_kb']} kB, "
                f"{per_pod_kb:.1f} kB per pod"
            )
            assert after["pods"] == len(names)
            assert per_pod_kb < 2048
            for i in (0, len(names) // 2, len(names) - 1):
                body = await asyncio.to_thread(
                    lambda i=i: _body(http_get(names[i], "127.0.0.1", 8080))
                )
                assert body == f"Hello, world!\nVersion: 1.0.0\nHostname: pod-{i}\n".encode()
            for i in range(len(names)):
                await server.remove(f"k{i}")
            assert (await server.ping())["pods"] == 0
        finally:
            await server.close(stop=True)

    asyncio.run(main())


def test_a_pod_without_its_network_namespace_cannot_start(run_dir: Path) -> None:
    async def main() -> None:
        async with runtime_env(run_dir) as env:
            c = [
                {"name": "h", "image": HELLO.format("1.0")},
                {"name": "b", "image": "busybox", "command": ["true"]},
            ]
            pod = env.pod("t0000-p-gone", "lost", c, restartPolicy="Never")
            await env.runtime.start_pod(pod)
            for name in ("h", "b"):
                await wait_until(
                    lambda n=name: isinstance(
                        getattr(env.latest("uid-lost", n), "state", None), Terminated
                    )
                )
                s = env.latest("uid-lost", name)
                assert s is not None and isinstance(s.state, Terminated)
                assert (s.state.exit_code, s.state.reason) == (128, "StartError")
                assert "t0000-p-gone" in s.state.message
            assert await env.server.served() == {}

    asyncio.run(main())
