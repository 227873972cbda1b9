"""Namespace system calls the runtime needs, for Python 3.11 (which has no ``os.setns``).

Namespace membership is per thread on Linux, so every call that enters a namespace runs on a
*fresh* thread that ends afterwards: no pooled thread is ever left inside a pod. What such a
thread makes stays where it was made: a socket opened in a pod's network namespace lives
there, and a UTS namespace bind-mounted onto a file outlives the thread that created it.

Public API::

    in_new_thread(fn) -> T                     run fn on a fresh thread, return or raise its result
    in_new_thread_async(fn) -> Awaitable[T]     the same without blocking the event loop
    enter_namespaces(net=path, uts=path)        (only inside such a thread) setns(2)
    socket_in_netns(netns, family, type) -> socket   (and socket_in_netns_async)
    bind_mount(source, target), unmount(target)
    unshare(flags), sethostname(name)
    process_start_time(pid) -> int | None       /proc/<pid>/stat field 22: tells PIDs apart
    CLONE_NEWNET, CLONE_NEWUTS
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def sethostname(name: str) -> None:
    socket.sethostname(name)


def bind_mount(source: str | Path, target: str | Path) -> None:
    src, dst = os.fsencode(str(source)), os.fsencode(str(target))
    _check(_libc.mount(src, dst, None, ctypes.c_ulong(_MS_BIND), None), f"mount {target}")


def unmount(target: str | Path) -> None:
    """Unmount exactly ``target`` (lazily, so a process still inside cannot block it)."""
    _check(_libc.umount2(os.fsencode(str(target)), ctypes.c_int(_MNT_DETACH)), f"umount {target}")


def enter_namespaces(*, net: str | Path | None = None, uts: str | Path | None = None) -> None:
    """setns(2) the *calling thread*; only for threads made by ``in_new_thread``."""
    for path, kind in ((net, CLONE_NEWNET), (uts, CLONE_NEWUTS)):
        if path is None:
            continue
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(fd, kind)
        finally:
            os.close(fd)


def in_new_thread(fn: Callable[[], T]) -> T:
    """``fn()`` on a thread of its own, which ends with it."""
    box: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name="intranode-ns", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


async def in_new_thread_async(fn: Callable[[], T]) -> T:
    """``in_new_thread`` that lets the event loop run while ``fn`` works."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name="intranode-ns", daemon=True).start()
    return await future


def socket_in_netns(
    netns: str | Path, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM
) -> socket.socket:
    """A new socket that belongs to the network namespace at ``netns``."""
    return in_new_thread(lambda: _socket_in(netns, family, kind))


async def socket_in_netns_async(
    netns: str | Path, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM
) -> socket.socket:
    return await in_new_thread_async(lambda: _socket_in(netns, family, kind))


def _socket_in(netns: str | Path, family: int, kind: int) -> socket.socket:
    enter_namespaces(net=netns)
    return socket.socket(family, kind)


def process_start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if no such process is alive.

    A PID and its start time name one process for good, so a recorded PID is never mistaken for
    a later process that reuses the number.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields restart after the last ')'.
    fields = text[text.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])
