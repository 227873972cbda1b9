"""The current Kubernetes objects of every cluster, kept in memory for lists (kube-apiserver's
watch cache): a list then costs a dictionary walk and a join of bytes serialised once per
revision, instead of parsing and serialising every object on every request.

A kind is loaded from the store on its first list and then follows the store's committed
changes (fed by ``ChangeFeed``). Lock order is always the store's lock, then the cache's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from intranode.store.db import Database
from intranode.store.resources import Change, Resource, ResourceStore

Obj = dict[str, Any]


def output_of(res: Resource) -> Obj:
    """A stored document as the API returns it: a copy carrying its resourceVersion."""
    data = res.data
    return {
        **data,
        "metadata": {**(data.get("metadata") or {}), "resourceVersion": str(res.revision)},
    }


@dataclass
class Cached:
    """One object at one revision; its parsed and list-item forms are made when first needed."""

    key: str
    revision: int
    raw: str  # the stored document, serialised when it was committed
    _obj: Obj | None = field(default=None, repr=False)
    _item: bytes | None = field(default=None, repr=False)

    @property
    def obj(self) -> Obj:
        if self._obj is None:
            data = json.loads(self.raw)
            meta = data.get("metadata") or {}
            data["metadata"] = {**meta, "resourceVersion": str(self.revision)}
            self._obj = data
        return self._obj

    @property
    def item(self) -> bytes:
        """The object as an item of a List (kube-apiserver leaves out apiVersion and kind)."""
        if self._item is None:
            body = {k: v for k, v in self.obj.items() if k not in ("apiVersion", "kind")}
            self._item = json.dumps(body, separators=(",", ":")).encode()
        return self._item


class ObjectCache:
    def __init__(self, store: ResourceStore, db: Database) -> None:
        self._store = store
        self._db = db
        self._lock = threading.Lock()
        # kind -> parent -> key -> entry
        self._kinds: dict[str, dict[str, dict[str, Cached]]] = {}
        self._loaded_at: dict[str, int] = {}
        self._applied = 0  # the last revision this cache has followed

    def apply(self, change: Change) -> None:
        """Follow one committed change (called by the store subscription, in commit order)."""
        res = change.resource
        raw = json.dumps(res.data, separators=(",", ":"))
        with self._lock:
            self._applied = max(self._applied, res.revision)
            parents = self._kinds.get(res.kind)
            if parents is None or res.revision <= self._loaded_at.get(res.kind, 0):
                return
            if change.type == "DELETED":
                siblings = parents.get(res.parent)
                if siblings is not None:
                    siblings.pop(res.key, None)
                    if not siblings:
                        del parents[res.parent]
                return
            parents.setdefault(res.parent, {})[res.key] = Cached(res.key, res.revision, raw)

    def _load(self, kind: str) -> dict[str, dict[str, Cached]]:
        with self._db.reading():
            with self._lock:
                parents = self._kinds.get(kind)
                if parents is not None:
                    return parents
            revision = self._db.current_revision()
            rows = self._store.find(kind)
            fresh: dict[str, dict[str, Cached]] = {}
            for r in rows:
                raw = json.dumps(r.data, separators=(",", ":"))
                fresh.setdefault(r.parent, {})[r.key] = Cached(r.key, r.revision, raw)
            with self._lock:
                self._kinds[kind] = fresh
                self._loaded_at[kind] = revision
            return fresh

    def entries(
        self, kind: str, *, parent: str | None = None, parent_prefix: str | None = None
    ) -> tuple[list[Cached], int]:
        """The objects under ``parent`` (or every parent starting with ``parent_prefix``),
        ordered by key as the store orders them, and the revision they are current at."""
        parents = self._load(kind)
        with self._lock:
            revision = max(self._applied, self._loaded_at[kind])
            picked: Iterator[dict[str, Cached]]
            if parent is not None:
                picked = iter([parents.get(parent, {})])
            elif parent_prefix is not None:
                picked = (v for p, v in parents.items() if p.startswith(parent_prefix))
            else:
                picked = iter(parents.values())
            found = [e for group in picked for e in group.values()]
        found.sort(key=lambda e: e.key)
        return found, revision
