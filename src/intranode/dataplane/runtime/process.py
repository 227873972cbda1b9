"""Processes in a pod's namespaces: how they start, how their end is noticed, how they stop.

A process joins the pod's network and UTS namespaces through ``nsenter --net=… --uts=…``,
which execs the program in place (one PID, no helper left behind) and needs no ``preexec_fn``,
which is unsafe in the daemon's threaded process. Each process leads a session and process
group of its own (``start_new_session``), so stopping it reaches the children it made too,
as stopping a container does, and when the leader ends the rest of its group is killed, as a
container's PID namespace ends with its first process. A group number cannot be reused while
the group has members or its leader is unreaped, so signalling it never reaches a stranger.

Ends are noticed through a pidfd on the event loop, which works for the daemon's own children
and for processes adopted after a daemon restart (whose exit status is then unknowable).

Public API::

    ns_argv(sandbox, argv) -> list[str]
    find_program(name, path) -> str | None       what execvp would run, or None
    ProcessHandle(pid): pid, start_time; async wait() -> int | None; signal_group(sig);
                        async stop(grace) -> int | None
    spawn(argv, env, cwd, stdin, stdout, stderr, new_session=True) -> ProcessHandle
    adopt(pid, start_time) -> ProcessHandle | None
    pid_exited(pid) -> Awaitable[None]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO, Any

from intranode.dataplane.runtime import linux
from intranode.dataplane.runtime.sandbox import Sandbox

NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
_File = int | IO[Any] | None


def ns_argv(sandbox: Sandbox, argv: Sequence[str]) -> list[str]:
    return [
        NSENTER,
        f"--net={sandbox.netns_path}",
        f"--uts={sandbox.uts_path}",
        "--",
        *argv,
    ]


def find_program(name: str, path: str) -> str | None:
    if "/" in name:
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    return shutil.which(name, path=path)


async def pid_exited(pid: int) -> None:
    """Returns once ``pid`` has exited (it may still be a zombie awaiting its parent)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


class ProcessHandle:
    """A container's or exec's process: started here (``popen`` set) or adopted (not)."""

    def __init__(self, pid: int, start_time: int, popen: subprocess.Popen[bytes] | None) -> None:
        self.pid = pid
        self.start_time = start_time
        self.popen = popen
        self.returncode: int | None = None
        self._exited = False

    def _mine(self) -> bool:
        if self._exited:
            return False
        if self.popen is not None:
            return True  # unreaped: the PID cannot have been reused
        return linux.process_start_time(self.pid) == self.start_time

    def signal_group(self, sig: int) -> None:
        """Signal the process's group (itself and what it started), if it is still ours."""
        if not self._mine():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def wait(self) -> int | None:
        """The exit code (128+N for signal N), or None for an adopted process (unknowable)."""
        if not self._exited:
            await pid_exited(self.pid)
            # What the leader started dies with it, as in a container's PID namespace. Safe
            # even for an adopted leader already gone: Linux keeps a number allocated while a
            # process group of that number has members, so it still names our group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            self._exited = True
            if self.popen is not None:
                code = self.popen.wait()
                self.returncode = 128 - code if code < 0 else code
        return self.returncode

    async def stop(self, grace: float) -> int | None:
        """SIGTERM to the group, SIGKILL after ``grace`` seconds; the exit code."""
        self.signal_group(signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(self.wait()), grace)
        except TimeoutError:
            self.signal_group(signal.SIGKILL)
            return await self.wait()


def spawn(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str,
    *,
    stdin: _File = subprocess.DEVNULL,
    stdout: _File = None,
    stderr: _File = None,
    new_session: bool = True,
) -> ProcessHandle:
    """Start ``argv``; it leads a new session unless ``new_session`` is False (for a program
    such as ``setsid --ctty`` that makes the session itself and must not be a leader yet)."""
    popen = subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=new_session,
        close_fds=True,
    )
    start = linux.process_start_time(popen.pid) or 0
    return ProcessHandle(popen.pid, start, popen)


def adopt(pid: int, start_time: int) -> ProcessHandle | None:
    """The recorded process if it is still the same one, else None."""
    if linux.process_start_time(pid) != start_time:
        return None
    return ProcessHandle(pid, start_time, None)
