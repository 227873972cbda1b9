"""The three ways a container starts on an intranode node (see ``domain.images``).

- ``ProcessLauncher``: the container's command, with the host's programs, in the pod's
  network and UTS namespaces (``nsenter``), its environment from the pod spec, stdout and
  stderr appended to ``<log_dir>/<container>/<restartCount>.log``. Ready when every TCP
  containerPort accepts a connection on 127.0.0.1 inside the pod (no ports: at once). A
  missing program is kubelet's ``StartError`` (exit 128) with runc's message.
- ``ServedLauncher``: hello-app and nginx, served by the shared pod server; ready as soon as
  its socket listens. A port already taken ends it with exit code 1, as the real app would.
- ``IdleLauncher``: tool images with no command; no process, Running and Ready.

Public API::

    ProcessLauncher(pod, container, argv, sink, adopted=None)
    ServedLauncher(pod, container, spec, server)
    IdleLauncher(clock=time.time)
    container_id() -> str            containerd://<64 hex>
    tcp_ready(netns, port, timeout=1.0) -> bool
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from intranode.dataplane.runtime import linux, process
from intranode.dataplane.runtime.hello import go_log_line
from intranode.dataplane.runtime.podserver import PodServer, ServeError
from intranode.dataplane.runtime.records import KIND_PROCESS, RecordSink
from intranode.dataplane.runtime.spec import DEFAULT_PATH, ContainerRun, PodRun, container_log_path
from intranode.dataplane.runtime.status import START_ERROR
from intranode.dataplane.runtime.supervisor import Exit, Started, StartFailed
from intranode.domain.images import Behaviour, ImageSpec
from intranode.errors import DataplaneError

START_ERROR_CODE = 128


def container_id() -> str:
    return "containerd://" + secrets.token_hex(32)


def _runc_error(what: str) -> str:
    return (
        "failed to create containerd task: failed to create shim task: OCI runtime create "
        f"failed: runc create failed: unable to start container process: {what}: unknown"
    )


async def tcp_ready(netns: Path, port: int, timeout: float = 1.0) -> bool:
    """True if 127.0.0.1:``port`` accepts a TCP connection inside the namespace ``netns``."""
    try:
        sock = await linux.socket_in_netns_async(netns)
    except OSError:
        return False
    with sock:
        sock.setblocking(False)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), timeout
            )
        except (OSError, TimeoutError):
            return False
    return True


class _Forever:
    """A started container with no process of its own: it ends only when stopped."""

    def __init__(self, started_at: float, cid: str, exit_code: int | None = None) -> None:
        self.started_at = started_at
        self.container_id = cid
        self._stopped = asyncio.Event()
        self._exit_code = exit_code
        if exit_code is not None:
            self._stopped.set()

    async def wait(self) -> Exit:
        await self._stopped.wait()
        # Stopped by the runtime (pod deleted): nobody reads this code; report a clean stop.
        return Exit(self._exit_code if self._exit_code is not None else 0)

    async def stop(self, grace: float) -> None:
        self._stopped.set()

    async def ready(self) -> bool:
        return self._exit_code is None


class IdleLauncher:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    async def start(self, restart_count: int) -> Started:
        return _Forever(self.clock(), container_id())


class _Served(_Forever):
    def __init__(self, started_at: float, cid: str, server: PodServer, key: str) -> None:
        super().__init__(started_at, cid)
        self.server = server
        self.key = key

    async def stop(self, grace: float) -> None:
        # A server that is gone serves nothing; its restart re-adds only desired keys.
        with contextlib.suppress(DataplaneError, TimeoutError):
            await self.server.remove(self.key)
        await super().stop(grace)


class ServedLauncher:
    """hello-app or nginx on the shared pod server; key ``<pod uid>/<container>``."""

    def __init__(
        self,
        pod: PodRun,
        container: ContainerRun,
        spec: ImageSpec,
        server: PodServer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pod = pod
        self.container = container
        self.spec = spec
        self.server = server
        self.clock = clock
        self.key = f"{pod.uid}/{container.name}"

    async def start(self, restart_count: int) -> Started:
        web = self.spec.behaviour is Behaviour.WEB
        port_text = "" if web else self.container.env_dict().get("PORT", "")
        port = self.spec.default_port
        log = container_log_path(self.pod.log_dir, self.container.name, restart_count)
        now = self.clock()
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                log.parent.mkdir(parents=True, exist_ok=True)
                why = "invalid port" if port_text.isdigit() else "unknown port"
                address = port_text if port_text.isdigit() else f"tcp/{port_text}"
                with open(log, "a", encoding="utf-8") as f:
                    f.write(go_log_line(f"Server listening on port {port_text}", now))
                    f.write(go_log_line(f"listen tcp: address {address}: {why}", now))
                return _Forever(now, container_id(), exit_code=1)
            port = int(port_text)
        try:
            await self.server.add(
                self.key,
                str(self.pod.sandbox.netns_path),
                self.pod.sandbox.hostname,
                "web" if web else "hello",
                self.spec.version,
                port,
                str(log),
            )
        except ServeError as exc:
            return _Forever(now, container_id(), exit_code=exc.exit_code)
        except (DataplaneError, TimeoutError) as exc:
            raise StartFailed(START_ERROR_CODE, START_ERROR, _runc_error(str(exc))) from exc
        return _Served(now, container_id(), self.server, self.key)


class _ProcessStarted:
    def __init__(
        self,
        handle: process.ProcessHandle,
        started_at: float,
        cid: str,
        ports: tuple[int, ...],
        netns: Path,
        sink: RecordSink,
    ) -> None:
        self.handle = handle
        self.started_at = started_at
        self.container_id = cid
        self.ports = ports
        self.netns = netns
        self.sink = sink

    async def wait(self) -> Exit:
        code = await self.handle.wait()
        self.sink.forget(KIND_PROCESS, str(self.handle.pid))
        return Exit(code)

    async def stop(self, grace: float) -> None:
        await self.handle.stop(grace)

    async def ready(self) -> bool:
        for port in self.ports:
            if not await tcp_ready(self.netns, port):
                return False
        return True


class ProcessLauncher:
    """The container's command as a process in the pod's namespaces.

    ``adopted`` is a process the previous daemon started for this container (found in the
    records and verified by start time); the first ``start`` takes it over instead of
    starting a new one. Its record's data: started_at, container_id.
    """

    def __init__(
        self,
        pod: PodRun,
        container: ContainerRun,
        argv: tuple[str, ...],
        sink: RecordSink,
        *,
        adopted: tuple[process.ProcessHandle, float, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pod = pod
        self.container = container
        self.argv = argv
        self.sink = sink
        self.adopted = adopted
        self.clock = clock

    def _started(self, handle: process.ProcessHandle, at: float, cid: str) -> Started:
        return _ProcessStarted(
            handle, at, cid, self.container.ports, self.pod.sandbox.netns_path, self.sink
        )

    async def start(self, restart_count: int) -> Started:
        if self.adopted is not None:
            handle, started_at, cid = self.adopted
            self.adopted = None
            return self._started(handle, started_at, cid)
        env = self.container.env_dict()
        if process.find_program(self.argv[0], env.get("PATH", DEFAULT_PATH)) is None:
            raise StartFailed(
                START_ERROR_CODE,
                START_ERROR,
                _runc_error(f'exec: "{self.argv[0]}": executable file not found in $PATH'),
            )
        cwd = self.container.working_dir or "/"
        if not os.path.isdir(cwd):
            raise StartFailed(
                START_ERROR_CODE,
                START_ERROR,
                _runc_error(
                    f'chdir to cwd ("{cwd}") set in config.json failed: no such file or directory'
                ),
            )
        for ns in (self.pod.sandbox.netns_path, self.pod.sandbox.uts_path):
            if not ns.exists():
                raise StartFailed(
                    START_ERROR_CODE, START_ERROR, _runc_error(f"namespace {ns} does not exist")
                )
        log = container_log_path(self.pod.log_dir, self.container.name, restart_count)
        log.parent.mkdir(parents=True, exist_ok=True)
        cid = container_id()
        with open(log, "ab") as out:
            try:
                handle = process.spawn(
                    process.ns_argv(self.pod.sandbox, self.argv), env, cwd, stdout=out, stderr=out
                )
            except OSError as exc:
                raise StartFailed(START_ERROR_CODE, START_ERROR, _runc_error(str(exc))) from exc
        started_at = self.clock()
        self.sink.record(
            KIND_PROCESS,
            str(handle.pid),
            {
                "start_time": handle.start_time,
                "pod_uid": self.pod.uid,
                "container": self.container.name,
                "restart_count": restart_count,
                "started_at": int(started_at),
                "container_id": cid,
            },
        )
        return self._started(handle, started_at, cid)
