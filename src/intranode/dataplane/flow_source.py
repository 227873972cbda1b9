"""Where the flow-log collector reads the VPC router's connections from.

:class:`FlowSource` is implemented by :class:`intranode.dataplane.linux.conntrack.
LinuxFlowSource` (``conntrack`` in the router namespace, root) and by in-memory fakes in unit
tests. Methods block on the kernel: from asyncio code call them through ``asyncio.to_thread``.
Failures raise :class:`intranode.errors.DataplaneError` with the tool's exit code (``errno``
``ENOENT`` when the namespace does not exist) and its stderr.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from intranode.domain.flowlogs.observations import ConntrackEntry, DeniedPacket, ReaderProcess

__all__ = ["DeniedSource", "FlowSource", "ReaderProcess"]


class FlowSource(Protocol):
    def snapshot(self, netns: str) -> list[ConntrackEntry]:
        """Every connection conntrack holds in ``netns`` now, with counters, ids and (where
        the kernel keeps timestamps) start times. An entry unchanged since the last snapshot
        may be returned as the very same object: the collector then skips it cheaply."""
        ...

    def destroyed(self, netns: str) -> list[ConntrackEntry]:
        """Connections removed from ``netns`` since the last call, with final counters, the
        time of removal and their start time. The first call starts watching (and returns
        what it has, usually nothing); call it before the first snapshot."""
        ...

    def readers(self) -> Mapping[str, ReaderProcess]:
        """The helper processes running now, by namespace."""
        ...

    def stop_stale(self, process: ReaderProcess) -> bool:
        """Stop a reader an earlier run left behind, if that exact process still runs."""
        ...

    def stop_watching(self, netns: str) -> None:
        """Stop the helper process of one namespace (a router that went away)."""
        ...

    def close(self) -> None:
        """Stop watching every namespace (stops the helper processes)."""
        ...


class DeniedSource(Protocol):
    """Packets the firewall denied (nflog), drained per router namespace. The firewall's nflog
    reader implements it; the collector turns them into ``SRC`` records."""

    def denied(self, netns: str) -> list[DeniedPacket]: ...
