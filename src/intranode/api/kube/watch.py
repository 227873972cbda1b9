"""Watches: one store subscription fans committed changes out to every open watch (and keeps
the object cache lists read from).

The store calls its listeners synchronously after each commit, possibly from any thread; each
watch owns an asyncio queue on its own loop and receives changes with
``loop.call_soon_threadsafe``. A short history lets a watch resume from a ``resourceVersion``
a list returned; older versions get 410 Expired, as from kube-apiserver.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from dataclasses import dataclass

from intranode.api.kube.cache import ObjectCache
from intranode.errors import ApiError
from intranode.store.resources import Change, ResourceStore


class Expired(ApiError):
    code = 410
    status = "OUT_OF_RANGE"
    reason = "Expired"


@dataclass(frozen=True)
class WatchFilter:
    """Which stored objects a watch follows: one kind, under one parent or a parent prefix."""

    cluster: str
    kind: str
    parent: str | None = None
    parent_prefix: str | None = None

    def wants(self, change: Change) -> bool:
        res = change.resource
        if res.kind != self.kind:
            return False
        if self.parent is not None:
            return res.parent == self.parent
        if self.parent_prefix is not None:
            return res.parent.startswith(self.parent_prefix)
        return True


class Watcher:
    def __init__(self, feed: ChangeFeed, filt: WatchFilter) -> None:
        self.feed = feed
        self.filter = filt
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()

    def deliver(self, change: Change | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: the watch is over
            self.loop.call_soon_threadsafe(self.queue.put_nowait, change)

    async def next(self, timeout: float) -> Change | None:
        """The next change; None when the watch is being closed. TimeoutError after ``timeout``."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        self.feed.forget(self)


class ChangeFeed:
    def __init__(self, store: ResourceStore, capacity: int = 4096) -> None:
        self._lock = threading.Lock()
        self._history: deque[Change] = deque(maxlen=capacity)
        self._dropped_upto = 0
        self._watchers: set[Watcher] = set()
        self.cache = ObjectCache(store, store.db)
        self._unsubscribe = store.subscribe(self._on_change)

    def _on_change(self, change: Change) -> None:
        if not change.resource.kind.startswith("k8s."):
            return
        self.cache.apply(change)  # before any watch hears of it: a list then already shows it
        with self._lock:
            if self._history.maxlen is not None and len(self._history) == self._history.maxlen:
                self._dropped_upto = self._history[0].resource.revision
            self._history.append(change)
            targets = [w for w in self._watchers if w.filter.wants(change)]
        for w in targets:
            w.deliver(change)

    def watch(self, filt: WatchFilter, since: int) -> Watcher:
        """A watch of changes after revision ``since`` (from history, then as they commit)."""
        with self._lock:
            if since < self._dropped_upto:
                raise Expired(f"too old resource version: {since} ({self._dropped_upto + 1})")
            w = Watcher(self, filt)
            for change in self._history:
                if change.resource.revision > since and filt.wants(change):
                    w.queue.put_nowait(change)
            self._watchers.add(w)
        return w

    def forget(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.discard(watcher)

    def close_cluster(self, cluster: str) -> None:
        """End every watch of a cluster (its endpoint is stopping)."""
        with self._lock:
            targets = [w for w in self._watchers if w.filter.cluster == cluster]
        for w in targets:
            w.deliver(None)

    def close(self) -> None:
        self._unsubscribe()
        with self._lock:
            targets = list(self._watchers)
        for w in targets:
            w.deliver(None)
