"""Firewall Rules Logging: what the routers' firewalls logged to nflog -> ``compute.googleapis.com
/firewall`` log entries in the store (:mod:`intranode.domain.firewall.logging` builds them).

Every tick, per router namespace with a firewall in force, the writer drains the source's
allowed connections (nflog group 6) and its copy of the denied packets (group 5, a queue of
their own: the flow-log collector drains the other), finds each packet's rule in the
network's :class:`~intranode.domain.firewall.FirewallInputs` and the VM it applied to in the
instances of the store, and writes the entries with
:func:`intranode.controllers.logs.write_entries`. The instance inventory is re-read on the next
tick after an instance or subnetwork changed; rule lookups are rebuilt when a network's inputs
change.

The source's helper processes are recorded in the ledger (kind :data:`KIND_READER`, owner
:data:`OWNER`, name = PID, data: namespace and start time), so that the next run stops the
ones a crash left behind, by exact PID and start time, before any reader starts (a stale
reader holds the nflog groups, and a new one could not bind them).

Public API (the daemon wires it; nothing here starts by itself)::

    FirewallLogWriter(ctx, source, *, denied_window=5.0, connection_idle=60.0)
        .tick(inputs_by_network) -> int     entries written; blocking (asyncio.to_thread)
        await .run(stop, inputs, every=1.0) tick until ``stop`` is set (``inputs`` is called
                                            each time: router netns -> FirewallInputs)
        .close(final=None)                  a last tick over ``final`` if given, then stop the
                                            source's readers and forget their records
    FirewallLogSource                       what the writer needs of its source
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from intranode.controllers.context import Context
from intranode.controllers.flowlogs import build_inventory
from intranode.controllers.logs import write_entries
from intranode.domain import resources as R
from intranode.domain.firewall import FirewallInputs
from intranode.domain.firewall.logging import (
    CONNECTION_IDLE,
    DENIED_WINDOW,
    Deduplicator,
    LoggedPacket,
    RuleBook,
    build_entries,
)
from intranode.domain.flowlogs.inventory import Inventory
from intranode.domain.flowlogs.observations import ReaderProcess
from intranode.errors import DataplaneError
from intranode.store.ledger import SqliteLedger
from intranode.store.resources import Change

log = logging.getLogger(__name__)

OWNER = "firewall-logs"
KIND_READER = "nflog-reader"
# What the inventory of VMs is made of (pods are not instances: their node is).
INVENTORY_KINDS = frozenset({R.INSTANCE, R.SUBNETWORK})
Inputs = Mapping[str, FirewallInputs]


class FirewallLogSource(Protocol):
    """``LinuxNflogSource`` on the kernel; in-memory fakes in unit tests."""

    def allowed(self, netns: str) -> list[LoggedPacket]: ...

    def denied_for_logging(self, netns: str) -> list[LoggedPacket]: ...

    def readers(self) -> Mapping[str, ReaderProcess]: ...

    def stop_stale(self, process: ReaderProcess) -> bool: ...

    def stop_watching(self, netns: str) -> None: ...

    def close(self) -> None: ...


class FirewallLogWriter:
    def __init__(
        self,
        ctx: Context,
        source: FirewallLogSource,
        *,
        denied_window: float = DENIED_WINDOW,
        connection_idle: float = CONNECTION_IDLE,
    ) -> None:
        self.ctx = ctx
        self.source = source
        self.ledger = SqliteLedger(ctx.db)
        self.dedup = Deduplicator(denied_window=denied_window, connection_idle=connection_idle)
        self._stop_stale()
        self._recorded: dict[str, ReaderProcess] = {}
        self._books: dict[str, RuleBook] = {}
        self._watched: set[str] = set()
        self._inventory: Inventory | None = None
        self._stale = True
        self._warned: set[tuple[str, str]] = set()
        self._unsubscribe = ctx.resources.subscribe(self._changed)

    # -- helper processes --------------------------------------------------------------------------
    def _stop_stale(self) -> None:
        for entry in self.ledger.entries(OWNER):
            if entry.kind != KIND_READER:
                continue
            try:
                stale = ReaderProcess(
                    entry.data.get("netns", ""), int(entry.name), int(entry.data["start_time"])
                )
            except (KeyError, ValueError):
                stale = None
            if stale is not None and self.source.stop_stale(stale):
                log.info("stopped nflog reader %s left by an earlier run", stale.pid)
            self.ledger.forget(entry.kind, entry.netns, entry.name)

    def _sync_readers(self) -> None:
        running = dict(self.source.readers())
        for netns, gone in self._recorded.items():
            if running.get(netns) != gone:
                self.ledger.forget(KIND_READER, "", str(gone.pid))
        for netns, new in running.items():
            if self._recorded.get(netns) != new:
                data = {"netns": netns, "start_time": str(new.start_time)}
                self.ledger.record(KIND_READER, "", str(new.pid), OWNER, data)
        self._recorded = running

    # -- lookups -----------------------------------------------------------------------------------
    def _changed(self, change: Change) -> None:
        if change.resource.kind in INVENTORY_KINDS:
            self._stale = True

    def _refresh_inventory(self) -> Inventory:
        if self._stale or self._inventory is None:
            self._stale = False  # before reading: a change meanwhile marks it stale again
            try:
                self._inventory = build_inventory(self.ctx)
            except BaseException:
                self._stale = True
                raise
        return self._inventory

    def _book(self, netns: str, inputs: FirewallInputs) -> RuleBook | None:
        book = self._books.get(netns)
        if book is not None and (book.inputs is inputs or book.inputs == inputs):
            return book
        try:
            book = RuleBook(inputs)
        except ValueError as err:  # e.g. two policies associated with one target
            self._warn(netns, str(err))
            self._books.pop(netns, None)
            return None
        self._books[netns] = book
        return book

    def _warn(self, netns: str, message: str) -> None:
        if (netns, message) not in self._warned:
            self._warned.add((netns, message))
            log.warning("firewall logs of %s: %s", netns, message)

    # -- ticks -------------------------------------------------------------------------------------
    def tick(self, inputs_by_network: Inputs) -> int:
        """Write the entries of what every router in ``inputs_by_network`` (router netns ->
        the firewall in force there) logged since the last tick; returns how many."""
        inventory = self._refresh_inventory()
        entries: list[dict[str, Any]] = []
        for netns, inputs in inputs_by_network.items():
            try:
                packets = self.source.allowed(netns) + self.source.denied_for_logging(netns)
            except DataplaneError as err:
                if err.errno != errno.ENOENT:  # a router going away is no news
                    log.warning("firewall logs: %s", err)
                continue
            book = self._book(netns, inputs)
            if book is None or not packets:
                continue
            packets.sort(key=lambda p: p.time)  # the two groups, merged in time order
            entries += build_entries(packets, book, inventory, self.dedup)
        for netns in self._watched - set(inputs_by_network):
            self.source.stop_watching(netns)
            self._books.pop(netns, None)
        self._watched = set(inputs_by_network)
        if entries:
            write_entries(self.ctx, entries)
        self.dedup.expire(self.ctx.clock())
        self._sync_readers()
        return len(entries)

    async def run(
        self, stop: asyncio.Event, inputs: Callable[[], Inputs], every: float = 1.0
    ) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
                return
            except TimeoutError:
                pass
            try:
                await asyncio.to_thread(self.tick, dict(inputs()))
            except Exception:
                log.exception("firewall log tick failed")

    def close(self, final: Inputs | None = None) -> None:
        """Stop the source's readers (after a last tick over ``final``, if given)."""
        try:
            if final is not None:
                self.tick(final)
        finally:
            self._unsubscribe()
            self.source.close()
            for gone in self._recorded.values():
                self.ledger.forget(KIND_READER, "", str(gone.pid))
            self._recorded = {}
