"""``kubectl exec``: a command run with the host's programs inside a pod's network and UTS
namespaces, its output streamed back and its exit code returned.

``exec_in_sandbox`` is the mechanism; ``PodExec`` fits it to the API's ``PodExecutor``
protocol (``api/kube/exec.py``): it finds the pod's sandbox and the container's environment in
the ``PodRuntime`` by the pod's uid. Without a TTY the command gets pipes (stdout and stderr
apart); with one it gets a pseudo-terminal as its controlling terminal (``setsid --ctty``),
``TERM=xterm``, and follows resize messages (TIOCSWINSZ, so the shell gets SIGWINCH).

End of input (``None`` on the stdin queue) closes the command's stdin (with a TTY: sends ^D).
A session that asked for no stdin should get ``None`` at once (the API's ``serve_exec`` does
not do this yet), else the command's stdin stays open, empty, until the session ends.
The exec ends when the command exits; what it left running in the background is stopped with
it (its process group), so nothing outlives the pod unseen.

A program that does not exist is refused the way containerd refuses it on GKE: an
``ApiError`` whose text kubectl prints as ``error: Internal error occurred: error executing
command in container: failed to exec in container: failed to start exec "<id>": OCI runtime
exec failed: exec failed: unable to start container process: exec: "foo": executable file not
found in $PATH: unknown`` (kubectl exits 1). A shell's own "not found" is exit code 127 as usual.

Public API::

    ExecIO (protocol; the API's ExecStreams fits it)
    exec_in_sandbox(sandbox, command, io, *, tty, env, cwd="/", sink=None, owner=None) -> int
    PodExec(runtime).run(pod, container, command, streams, tty) -> int
    exec_refusal(command0, why) -> str
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import shutil
import struct
import termios
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from intranode.dataplane.runtime import process
from intranode.dataplane.runtime.records import KIND_EXEC, RecordSink
from intranode.dataplane.runtime.sandbox import Sandbox
from intranode.dataplane.runtime.spec import DEFAULT_PATH
from intranode.errors import ApiError

SETSID = shutil.which("setsid") or "/usr/bin/setsid"
# After the command exits, output still buffered in the pipes is drained for this long.
DRAIN_SECONDS = 2.0


class ExecIO(Protocol):
    @property
    def stdin(self) -> asyncio.Queue[bytes | None]: ...

    @property
    def resize(self) -> asyncio.Queue[Any]: ...

    async def write_stdout(self, data: bytes) -> None: ...

    async def write_stderr(self, data: bytes) -> None: ...


class ExecTargets(Protocol):
    """Where a pod's container runs (``PodRuntime`` implements it) and where exec processes
    are recorded."""

    @property
    def sink(self) -> RecordSink: ...

    def exec_context(
        self, pod_uid: str, container: str
    ) -> tuple[Sandbox, dict[str, str], str] | None: ...


def exec_refusal(command0: str, why: str) -> str:
    return (
        "Internal error occurred: error executing command in container: failed to exec in "
        f'container: failed to start exec "{secrets.token_hex(32)}": OCI runtime exec failed: '
        f'exec failed: unable to start container process: exec: "{command0}": {why}: unknown'
    )


def _check_program(command0: str, path: str) -> None:
    found = process.find_program(command0, path)
    if found is not None:
        return
    if "/" in command0:
        why = f"stat {command0}: no such file or directory"
        if os.path.exists(command0):
            why = "permission denied"
    else:
        why = "executable file not found in $PATH"
    raise ApiError(exec_refusal(command0, why))


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def _writable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


async def _pump_out(fd: int, write: Callable[[bytes], Awaitable[None]]) -> None:
    while True:
        await _readable(fd)
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            continue
        except OSError:  # EIO: the terminal's last user is gone
            return
        if not data:
            return
        await write(data)


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = os.write(fd, view)
        except BlockingIOError:
            await _writable(fd)
            continue
        view = view[sent:]


class _Once:
    """A descriptor closed exactly once, by whichever of two owners gets there first (closing
    a number twice could close a descriptor another thread has opened since)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


async def _pump_in(queue: asyncio.Queue[bytes | None], fd: _Once, tty: bool) -> None:
    try:
        while (chunk := await queue.get()) is not None:
            if fd.fd is None:
                return
            await _write_all(fd.fd, chunk)
        if tty and fd.fd is not None:
            await _write_all(fd.fd, b"\x04")
    except OSError:
        return  # the command stopped reading (EPIPE): the rest of stdin has nowhere to go
    finally:
        fd.close()  # a pipe: the command sees end of input


async def _follow_resizes(queue: asyncio.Queue[Any], fd: int) -> None:
    while True:
        size = await queue.get()
        with contextlib.suppress(OSError, AttributeError, TypeError, struct.error):
            packed = struct.pack("HHHH", int(size.height), int(size.width), 0, 0)
            fcntl.ioctl(fd, termios.TIOCSWINSZ, packed)


async def exec_in_sandbox(
    sandbox: Sandbox,
    command: Sequence[str],
    io: ExecIO,
    *,
    tty: bool,
    env: Mapping[str, str],
    cwd: str = "/",
    sink: RecordSink | None = None,
    owner: Mapping[str, str | int] | None = None,
) -> int:
    """Run ``command`` in ``sandbox``; stream its I/O through ``io``; its exit code.

    The process is recorded in ``sink`` (``KIND_EXEC``, data ``owner`` plus its start time)
    while it runs. Raises ``ApiError`` (containerd's text) if the program does not exist.
    """
    if not command:
        raise ApiError(exec_refusal("", "exec: no command"))
    env = dict(env)
    _check_program(command[0], env.get("PATH", DEFAULT_PATH))
    argv = process.ns_argv(sandbox, command)
    if not os.path.isdir(cwd):
        cwd = "/"
    tasks: list[asyncio.Task[None]] = []
    own: list[int] = []
    stdin = _Once(None)
    try:
        if tty:
            env.setdefault("TERM", "xterm")
            master, slave = os.openpty()
            own.append(master)
            try:
                # setsid(1) makes the session in place (the child is no group leader) and takes
                # the terminal as its controlling one; then nsenter and the command exec in turn.
                handle = process.spawn(
                    [SETSID, "--ctty", *argv],
                    env,
                    cwd,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    new_session=False,
                )
            finally:
                os.close(slave)
            os.set_blocking(master, False)
            stdin = _Once(os.dup(master))
            outputs = [asyncio.create_task(_pump_out(master, io.write_stdout))]
            tasks.append(asyncio.create_task(_follow_resizes(io.resize, master)))
        else:
            r_in, w_in = os.pipe()
            r_out, w_out = os.pipe()
            r_err, w_err = os.pipe()
            stdin = _Once(w_in)
            own.extend((r_out, r_err))
            try:
                handle = process.spawn(argv, env, cwd, stdin=r_in, stdout=w_out, stderr=w_err)
            finally:
                for fd in (r_in, w_out, w_err):
                    os.close(fd)
            for fd in (w_in, r_out, r_err):
                os.set_blocking(fd, False)
            outputs = [
                asyncio.create_task(_pump_out(r_out, io.write_stdout)),
                asyncio.create_task(_pump_out(r_err, io.write_stderr)),
            ]
        if sink is not None:
            sink.record(
                KIND_EXEC, str(handle.pid), {**(owner or {}), "start_time": handle.start_time}
            )
        tasks.append(asyncio.create_task(_pump_in(io.stdin, stdin, tty)))
        tasks.extend(outputs)
        try:
            code = await handle.wait()
        finally:
            if handle.returncode is None and handle.popen is not None:
                await handle.stop(1.0)  # cancelled: the client went away
            if sink is not None:
                sink.forget(KIND_EXEC, str(handle.pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*outputs), DRAIN_SECONDS)
        return code if code is not None else 1
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        stdin.close()
        for fd in own:
            with contextlib.suppress(OSError):
                os.close(fd)


class PodExec:
    """The API's ``PodExecutor``: exec into a container the ``PodRuntime`` runs."""

    def __init__(self, targets: ExecTargets) -> None:
        self.targets = targets

    async def run(
        self,
        pod: Mapping[str, Any],
        container: str,
        command: Sequence[str],
        streams: ExecIO,
        tty: bool,
    ) -> int:
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        found = self.targets.exec_context(uid, container)
        if found is None:
            raise ApiError(f'container not found ("{container}")')
        sandbox, env, cwd = found
        return await exec_in_sandbox(
            sandbox,
            command,
            streams,
            tty=tty,
            env=env,
            cwd=cwd,
            sink=self.targets.sink,
            owner={"pod_uid": uid, "container": container},
        )
