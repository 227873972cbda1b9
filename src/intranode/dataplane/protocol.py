"""What the rest of intranode may ask of the kernel, and what the kernel side asks of the store.

:class:`Dataplane` is implemented by :class:`intranode.dataplane.linux.LinuxDataplane` (real
namespaces, root) and :class:`intranode.dataplane.fake.FakeDataplane` (in memory, for unit
tests); both raise :class:`intranode.errors.DataplaneError` with the same ``errno`` for the same
mistake. Every method is synchronous and may block on the kernel: from asyncio code call them
through ``asyncio.to_thread``.

:class:`Ledger` is the ownership record the dataplane writes *before* it creates a namespace,
a veth or an nftables table, and clears once it removed one; ``intranode.store.ledger.
SqliteLedger`` keeps it in the state database (the store layer implements this protocol
without importing it: the two layers are independent). :func:`intranode.dataplane.teardown.
teardown` removes what a ledger lists.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from intranode.domain.netplan import LedgerEntry, NetnsState, Op
from intranode.errors import DataplaneError

ObjectKind = Literal["netns", "link", "nft_table"]


def refused(what: str, code: int, stderr: str = "") -> DataplaneError:
    """The one shape of a kernel refusal: ``"<ip command>: <strerror>"`` with the errno, so
    both dataplanes word the same mistake the same way."""
    return DataplaneError(f"{what}: {os.strerror(code)}", errno=code, stderr=stderr)


@dataclass(frozen=True)
class LinkCounters:
    """A link's packet and byte counters, as ``ip -s link`` shows them."""

    rx_packets: int
    tx_packets: int
    rx_bytes: int
    tx_bytes: int


class Ledger(Protocol):
    def record(
        self, kind: str, netns: str, name: str, owner: str, data: Mapping[str, str] | None = None
    ) -> None:
        """Note an object about to be created (re-recording keeps the first ``created``)."""
        ...

    def forget(self, kind: str, netns: str, name: str) -> None:
        """Drop an object that no longer exists (unknown ones are ignored)."""
        ...

    def entries(self, owner: str | None = None) -> list[LedgerEntry]:
        """Recorded objects, oldest first; only ``owner``'s when given."""
        ...

    def entries_touching(self, netns: str) -> list[LedgerEntry]:
        """The namespace ``netns``, what lives in it, and veths with an end in it (what goes
        when it goes); the same as filtering ``entries()`` with ``netplan.touches``."""
        ...


class Dataplane(Protocol):
    def apply(self, ops: Sequence[Op], *, owner: str = "") -> None:
        """Apply a plan in order; objects created are recorded in the ledger for ``owner``.
        Stops at the first operation the kernel refuses (``DataplaneError``); since every
        operation is idempotent, applying the same plan again resumes it."""
        ...

    def delete_netns(self, name: str) -> None:
        """Remove a namespace (and so every link and route in it and each veth with an end in
        it); a missing one is already removed."""
        ...

    def exists(self, kind: ObjectKind, netns: str, name: str) -> bool:
        """Whether a namespace (``netns`` ignored), a link in ``netns``, or an nftables table
        ``"<family> <name>"`` in ``netns`` exists."""
        ...

    def read_state(self, netns: str, sysctls: Iterable[str] = ()) -> NetnsState:
        """What ``netns`` holds (see :class:`NetnsState`); ``DataplaneError`` (ENOENT) if it
        does not exist."""
        ...

    def read_sysctl(self, netns: str, key: str) -> int: ...

    def counters(self, netns: str) -> Mapping[str, LinkCounters]:
        """Per-link counters of a namespace, e.g. the router's ``n-<id>`` links: traffic that
        crossed the VPC moves them, same-node traffic without intra-node visibility does not."""
        ...

    def close(self) -> None:
        """Release sockets and worker threads; kernel objects stay."""
        ...
