"""The one thread that touches the kernel, and the namespace system calls it makes.

Everything netlink, sysctl and namespace related runs on a single dedicated thread:

- pyroute2's sync ``IPRoute`` keeps its event loop per thread and fails inside a running
  asyncio loop, so its sockets must be made and used on one thread that runs no loop;
- a thread can ``setns`` into a namespace and back without disturbing the rest of the process,
  which makes opening a namespace's netlink socket 0.2 ms instead of pyroute2's forked helper's
  7 ms, writing its ``/proc/sys`` possible at all (pyroute2 has no sysctl API), and creating a
  namespace an ``unshare`` plus a bind mount (as ``ip netns add`` does) without a fork.

The thread always returns to the namespace it started in (the daemon's, never changed).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno as errnos
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

NETNS_DIR = Path("/run/netns")

_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MS_REC = 16384
_MS_SHARED = 1 << 20
_MNT_DETACH = 2

T = TypeVar("T")

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(result: int, what: str, target: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what} failed: {os.strerror(code)}", target)


class NamespaceThread:
    """A one-thread executor whose tasks may enter network namespaces (see module docstring)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intranode-kernel")
        self._home_fd = self._pool.submit(
            os.open, "/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC
        ).result()
        self._run_dir_ready = False

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the kernel thread and return its result (or raise its exception)."""
        return self._pool.submit(fn).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        os.close(self._home_fd)

    # -- called on the kernel thread only ------------------------------------------------------
    def enter(self, netns: str) -> None:
        """Switch this thread into ``netns``; pair with :meth:`leave` in a ``finally``."""
        fd = os.open(NETNS_DIR / netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(fd, _CLONE_NEWNET), "setns", netns)
        finally:
            os.close(fd)

    def leave(self) -> None:
        _check(_libc.setns(self._home_fd, _CLONE_NEWNET), "setns", "home")

    def in_netns(self, netns: str, fn: Callable[[], T]) -> T:
        self.enter(netns)
        try:
            return fn()
        finally:
            self.leave()

    def create_netns(self, name: str) -> bool:
        """Create ``/run/netns/<name>`` as ``ip netns add`` does; False if it already exists."""
        path = NETNS_DIR / name
        if netns_exists(name):
            return False
        self._prepare_run_dir()
        # An unmounted placeholder left by a crash is reused: mount onto it.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        try:
            _check(_libc.unshare(_CLONE_NEWNET), "unshare", name)
            try:
                _check(
                    _libc.mount(b"/proc/thread-self/ns/net", bytes(path), b"none", _MS_BIND, None),
                    "bind mount",
                    name,
                )
            finally:
                self.leave()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return True

    def remove_netns(self, name: str) -> bool:
        """Unmount and unlink ``/run/netns/<name>``; False if it did not exist. The namespace
        itself goes when its last process or socket does."""
        path = NETNS_DIR / name
        if not path.exists():
            return False
        if os.path.ismount(path) and _libc.umount2(bytes(path), _MNT_DETACH) != 0:
            code = ctypes.get_errno()
            if code not in (errnos.EINVAL, errnos.ENOENT):
                raise OSError(code, f"umount failed: {os.strerror(code)}", name)
        path.unlink(missing_ok=True)
        return True

    def _prepare_run_dir(self) -> None:
        """Make ``/run/netns`` a shared mount point, as iproute2 does, so namespaces mounted
        there are seen by every mount namespace (``ip netns exec`` makes its own)."""
        if self._run_dir_ready:
            return
        NETNS_DIR.mkdir(parents=True, exist_ok=True)
        run_dir = bytes(NETNS_DIR)
        if _libc.mount(b"", run_dir, b"none", _MS_SHARED | _MS_REC, None) != 0:
            _check(_libc.mount(run_dir, run_dir, b"none", _MS_BIND | _MS_REC, None), "mount", "")
            _check(_libc.mount(b"", run_dir, b"none", _MS_SHARED | _MS_REC, None), "mount", "")
        self._run_dir_ready = True


def netns_exists(name: str) -> bool:
    """A named namespace exists when its file is a mount point (an nsfs bind mount)."""
    return os.path.ismount(NETNS_DIR / name)


def sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")
