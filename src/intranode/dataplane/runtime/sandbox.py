"""Pod sandboxes: the pod's network namespace (made by the network data plane) plus a UTS
namespace of its own whose hostname is the pod's, kept alive by a bind mount, not a process.

``create_uts`` does what ``unshare --uts=<file>`` does, from Python: a fresh thread unshares
its UTS namespace, sets the hostname, and bind-mounts ``/proc/thread-self/ns/uts`` onto an
empty file; the thread ends and the mount keeps the namespace. Processes join it with
``nsenter --uts=<file>`` (see ``executor`` and ``supervisor``).

Public API::

    Sandbox(netns_path, uts_path, hostname)          frozen; what a pod's processes join
    netns_path(name) -> Path                          /run/netns/<name>, where ip-netns keeps it
    pod_hostname(pod_name, spec_hostname="") -> str   kubelet's hostname rule (63 chars)
    create_uts(path, hostname, sink)                  idempotent; records KIND_UTS first
    remove_uts(path, sink)                            unmount by exact path, delete, forget
    uts_hostname(path) -> str                         the hostname inside (for checks)
    is_uts_mount(path) -> bool
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from intranode.dataplane.runtime import linux
from intranode.dataplane.runtime.records import KIND_UTS, RecordSink
from intranode.errors import DataplaneError

NETNS_DIR = Path("/run/netns")
HOSTNAME_MAX = 63


@dataclass(frozen=True)
class Sandbox:
    """Where a pod's processes live: its network and UTS namespaces, and its hostname."""

    netns_path: Path
    uts_path: Path
    hostname: str


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def pod_hostname(pod_name: str, spec_hostname: str = "") -> str:
    """``spec.hostname`` or the pod's name, cut to 63 characters as kubelet cuts it."""
    name = spec_hostname or pod_name
    if len(name) <= HOSTNAME_MAX:
        return name
    return name[:HOSTNAME_MAX].rstrip("-.")


def _nsfs_device() -> int:
    return os.stat("/proc/self/ns/uts").st_dev


def is_uts_mount(path: Path) -> bool:
    """True if ``path`` is a namespace file mounted there (not the empty file under it)."""
    try:
        return os.stat(path).st_dev == _nsfs_device()
    except OSError:
        return False


def _make_uts(path: Path, hostname: str) -> None:
    linux.unshare(linux.CLONE_NEWUTS)
    linux.sethostname(hostname)
    linux.bind_mount("/proc/thread-self/ns/uts", path)


def _set_hostname_in(path: Path, hostname: str) -> None:
    linux.enter_namespaces(uts=path)
    linux.sethostname(hostname)


def create_uts(path: Path, hostname: str, sink: RecordSink) -> None:
    """A persistent UTS namespace at ``path`` whose hostname is ``hostname``.

    Idempotent: if ``path`` already holds one (a daemon restart), only the hostname is set.
    """
    if is_uts_mount(path):
        linux.in_new_thread(lambda: _set_hostname_in(path, hostname))
        return
    sink.record(KIND_UTS, str(path), {"hostname": hostname})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        linux.in_new_thread(lambda: _make_uts(path, hostname))
    except OSError as exc:
        path.unlink(missing_ok=True)
        sink.forget(KIND_UTS, str(path))
        raise DataplaneError(
            f"cannot make the UTS namespace {path}: {exc.strerror or exc}", errno=exc.errno
        ) from exc


def remove_uts(path: Path, sink: RecordSink) -> None:
    """Unmount ``path`` (exactly), delete the file and forget the record; idempotent."""
    try:
        if is_uts_mount(path):
            linux.unmount(path)
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise DataplaneError(
            f"cannot remove the UTS namespace {path}: {exc.strerror or exc}", errno=exc.errno
        ) from exc
    sink.forget(KIND_UTS, str(path))


def uts_hostname(path: Path) -> str:
    def read() -> str:
        linux.enter_namespaces(uts=path)
        return socket.gethostname()

    return linux.in_new_thread(read)
