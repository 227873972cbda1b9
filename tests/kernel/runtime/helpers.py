"""Helpers for the runtime's kernel tests (root only)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intranode.dataplane.fake.ledger import MemoryLedger
from intranode.dataplane.runtime import linux
from intranode.dataplane.runtime.cleanup import cleanup_recorded
from intranode.dataplane.runtime.pods import PodRuntime
from intranode.dataplane.runtime.podserver import PodServer
from intranode.dataplane.runtime.records import (
    KIND_EXEC,
    KIND_PROCESS,
    KIND_SERVER,
    KIND_UTS,
    LedgerSink,
)
from intranode.dataplane.runtime.sandbox import Sandbox
from intranode.dataplane.runtime.spec import PodRun, pod_run
from intranode.dataplane.runtime.status import ContainerStatus

_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def _ip_batch(lines: list[str]) -> None:
    subprocess.run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)


def _lo_up(name: str) -> None:
    sock = linux.socket_in_netns(f"/run/netns/{name}", socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        ifr = fcntl.ioctl(sock, _SIOCGIFFLAGS, struct.pack("16sH14x", b"lo", 0))
        flags = struct.unpack("16sH14x", ifr)[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


class NetnsFactory:
    """Makes ``<prefix><kind>-<4 hex>`` namespaces with lo up; removes exactly those."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.made: list[str] = []

    def make(self, count: int = 1, kind: str = "p") -> list[str]:
        names = [f"{self.prefix}{kind}-{len(self.made) + i + 1:04x}" for i in range(count)]
        self.made.extend(names)  # written down before they exist, so cleanup finds them
        _ip_batch([f"netns add {n}" for n in names])
        for n in names:
            _lo_up(n)
        return names

    def veth(self, a: str, a_ip: str, b: str, b_ip: str) -> None:
        """``eth0`` in ``a`` and ``b``, made inside ``a`` (the root namespace never sees it)."""
        subprocess.run(
            [
                "ip",
                "-n",
                a,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                b,
            ],
            check=True,
        )
        for ns, ip in ((a, a_ip), (b, b_ip)):
            subprocess.run(["ip", "-n", ns, "addr", "add", ip, "dev", "eth0"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)

    def remove_all(self) -> None:
        existing = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        gone = [n for n in self.made if n in existing]
        if gone:
            _ip_batch([f"netns del {n}" for n in gone])


class TrackingRecords(LedgerSink):
    """The runtime's records in a ledger, as the daemon keeps them (string data), remembering
    every process ever recorded to check its process group is gone at the end."""

    def __init__(self) -> None:
        super().__init__(MemoryLedger(), "runtime")
        self.pids: set[int] = set()

    def record(self, kind: str, name: str, data: Any) -> None:
        super().record(kind, name, data)
        if kind in (KIND_PROCESS, KIND_EXEC, KIND_SERVER):
            self.pids.add(int(name))

    def of_kind(self, kind: str) -> dict[str, dict[str, str | int]]:
        return self.by_kind()[kind]

    @property
    def items(self) -> dict[tuple[str, str], dict[str, str]]:
        return {(e.kind, e.name): dict(e.data) for e in self.ledger.entries()}


def process_groups_alive(groups: set[int]) -> list[int]:
    """PIDs of live processes whose process group is one of ``groups``."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) in groups:
            alive.append(int(entry))
    return alive


@dataclass
class RuntimeEnv:
    run_dir: Path
    records: TrackingRecords
    server: PodServer
    runtime: PodRuntime
    statuses: list[ContainerStatus] = field(default_factory=list)

    def sandbox(self, netns: str, hostname: str) -> Sandbox:
        return Sandbox(Path(f"/run/netns/{netns}"), self.run_dir / "uts" / netns, hostname)

    def pod(self, netns: str, name: str, containers: list[dict[str, Any]], **spec: Any) -> PodRun:
        doc = {
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"containers": containers, **spec},
        }
        return pod_run(doc, self.sandbox(netns, name), self.run_dir / "logs" / name)

    def latest(self, uid: str, container: str) -> ContainerStatus | None:
        for s in reversed(self.statuses):
            if s.pod_uid == uid and s.name == container:
                return s
        return None


async def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def runtime_env(run_dir: Path) -> AsyncIterator[RuntimeEnv]:
    """A pod server and runtime; afterwards every pod is stopped, the server ended and the
    records checked empty (so nothing of ours is left: no process, no mount)."""
    records = TrackingRecords()
    server = PodServer(run_dir, records)
    await server.start()
    statuses: list[ContainerStatus] = []
    runtime = PodRuntime(records, server, statuses.append)
    env = RuntimeEnv(run_dir, records, server, runtime, statuses)
    try:
        yield env
    finally:
        await runtime.stop_all(grace=2.0)
        await runtime.stop_unclaimed(grace=2.0)
        await server.close(stop=True)
        # Whatever a failed test left recorded goes too (by PID and start time, exact path).
        left = {kind: records.of_kind(kind) for kind in (KIND_PROCESS, KIND_EXEC, KIND_UTS)}
        await cleanup_recorded(records, left, grace=1.0)
    assert all(not v for v in left.values()), f"left recorded: {left}"
    assert not process_groups_alive(records.pids), "processes of ours are still alive"


def http_get(netns: str, host: str, port: int, path: str = "/") -> bytes:
    """An HTTP/1.0 GET from a socket in ``netns``; the whole reply."""
    sock = linux.socket_in_netns(f"/run/netns/{netns}")
    with sock:
        sock.settimeout(5)
        sock.connect((host, port))
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


class Streams:
    """What ``exec`` talks to (the shape of the API's ExecStreams)."""

    def __init__(self, stdin: list[bytes] | None = None, close_stdin: bool = True) -> None:
        self.stdin: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.resize: asyncio.Queue[Any] = asyncio.Queue()
        self.out = b""
        self.err = b""
        for chunk in stdin or []:
            self.stdin.put_nowait(chunk)
        if close_stdin:
            self.stdin.put_nowait(None)

    async def write_stdout(self, data: bytes) -> None:
        self.out += data

    async def write_stderr(self, data: bytes) -> None:
        self.err += data
