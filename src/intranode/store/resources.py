"""Resources of every API kind in one table: (kind, key) -> JSON document with a revision.

The revision is one counter for the whole store, so it doubles as the Kubernetes
``resourceVersion`` and orders watch events. Subscribers hear of each committed change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from intranode.errors import Aborted, AlreadyExists, NotFound
from intranode.store.db import Database

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class Resource:
    kind: str
    key: str
    parent: str
    data: dict[str, Any]
    revision: int
    created: float


@dataclass(frozen=True)
class Change:
    type: ChangeType
    resource: Resource


Listener = Callable[[Change], None]


class WriteHook(Protocol):
    def changed(self, change: Change) -> None: ...

    def invalidate(self) -> None: ...


@dataclass
class _Pending:
    changes: list[Change] = field(default_factory=list)


class ResourceStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._listeners: list[Listener] = []
        self._hooks: list[WriteHook] = []
        self._pending: _Pending | None = None

    # -- notification -------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes; listeners hear of them only once the whole group commits.

        The database lock is taken first, so the list of pending changes belongs to the one
        thread inside; nested calls join the outer group."""
        pending: _Pending | None = None
        try:
            with self.db.transaction():
                outer = self._pending is None
                if outer:
                    self._pending = _Pending()
                try:
                    yield
                finally:
                    if outer:
                        pending, self._pending = self._pending, None
        except BaseException:
            if pending is not None:
                # Hooks saw writes that did not commit: they rebuild from the store.
                for hook in self._hooks:
                    hook.invalidate()
            raise
        if pending is not None:
            for change in pending.changes:
                self._emit(change)

    def add_hook(self, hook: WriteHook) -> None:
        """``hook`` sees every change inside its transaction, before commit (listeners see it
        after): derived indexes stay exact for the next read in the same transaction."""
        self._hooks.append(hook)

    def _record(self, change: Change) -> None:
        for hook in self._hooks:
            hook.changed(change)
        if self._pending is not None:
            self._pending.changes.append(change)
        else:
            self._emit(change)

    def _emit(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    # -- reads ----------------------------------------------------------------------------
    def get(self, kind: str, key: str) -> Resource | None:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT kind, key, parent, data, revision, created FROM resources "
                "WHERE kind = ? AND key = ?",
                (kind, key),
            ).fetchone()
        return None if row is None else _row(row)

    def find(self, kind: str, parent: str | None = None) -> list[Resource]:
        """Every resource of ``kind``, or those directly under ``parent``, ordered by key."""
        sql = "SELECT kind, key, parent, data, revision, created FROM resources WHERE kind = ?"
        args: tuple[Any, ...] = (kind,)
        if parent is not None:
            sql += " AND parent = ?"
            args = (kind, parent)
        with self.db.reading() as conn:
            rows = conn.execute(sql + " ORDER BY key", args).fetchall()
        return [_row(r) for r in rows]

    def list_prefix(self, kind: str, parent_prefix: str) -> list[Resource]:
        """Resources whose parent starts with ``parent_prefix`` (e.g. every location)."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT kind, key, parent, data, revision, created FROM resources "
                "WHERE kind = ? AND substr(parent, 1, ?) = ? ORDER BY key",
                (kind, len(parent_prefix), parent_prefix),
            ).fetchall()
        return [_row(r) for r in rows]

    def fields(
        self, kind: str, parent_prefix: str, paths: Sequence[str]
    ) -> list[tuple[str, list[Any]]]:
        """``(key, [value at each JSON path])`` for every resource of ``kind`` whose parent
        starts with ``parent_prefix``, read by SQLite without decoding whole documents (what
        a scheduler needs of a thousand pods). Paths are SQLite's: ``$.spec.nodeName``."""
        columns = ", ".join("json_extract(data, ?)" for _ in paths)
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT key, {columns} FROM resources "
                "WHERE kind = ? AND substr(parent, 1, ?) = ? ORDER BY key",
                (*paths, kind, len(parent_prefix), parent_prefix),
            ).fetchall()
        return [(str(r[0]), list(r[1:])) for r in rows]

    def kinds(self, prefix: str) -> list[str]:
        """The kinds held whose name starts with ``prefix`` (e.g. every ``k8s.`` kind)."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT DISTINCT kind FROM resources WHERE substr(kind, 1, ?) = ? ORDER BY kind",
                (len(prefix), prefix),
            ).fetchall()
        return [str(r[0]) for r in rows]

    # -- writes ---------------------------------------------------------------------------
    def create(self, kind: str, key: str, parent: str, data: dict[str, Any]) -> Resource:
        with self.transaction(), self.db.transaction() as conn:
            exists = conn.execute(
                "SELECT 1 FROM resources WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            if exists:
                raise AlreadyExists(f"The resource '{key}' already exists")
            revision = self.db.next_revision(conn)
            now = time.time()
            conn.execute(
                "INSERT INTO resources (kind, key, parent, data, revision, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (kind, key, parent, json.dumps(data), revision, now),
            )
            res = Resource(kind, key, parent, data, revision, now)
            self._record(Change("ADDED", res))
            return res

    def update(
        self,
        kind: str,
        key: str,
        data: dict[str, Any],
        *,
        expect_revision: int | None = None,
    ) -> Resource:
        with self.transaction(), self.db.transaction() as conn:
            row = conn.execute(
                "SELECT parent, revision, created FROM resources WHERE kind = ? AND key = ?",
                (kind, key),
            ).fetchone()
            if row is None:
                raise NotFound(f"The resource '{key}' was not found")
            if expect_revision is not None and int(row[1]) != expect_revision:
                raise Aborted(f"The resource '{key}' was changed by another request")
            revision = self.db.next_revision(conn)
            conn.execute(
                "UPDATE resources SET data = ?, revision = ? WHERE kind = ? AND key = ?",
                (json.dumps(data), revision, kind, key),
            )
            res = Resource(kind, key, str(row[0]), data, revision, float(row[2]))
            self._record(Change("MODIFIED", res))
            return res

    def put(self, kind: str, key: str, parent: str, data: dict[str, Any]) -> Resource:
        """Create or replace, for state the daemon owns (not user requests)."""
        with self.transaction():
            if self.get(kind, key) is None:
                return self.create(kind, key, parent, data)
            return self.update(kind, key, data)

    def delete(self, kind: str, key: str) -> Resource | None:
        with self.transaction(), self.db.transaction() as conn:
            row = conn.execute(
                "SELECT kind, key, parent, data, revision, created FROM resources "
                "WHERE kind = ? AND key = ?",
                (kind, key),
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM resources WHERE kind = ? AND key = ?", (kind, key))
            revision = self.db.next_revision(conn)
            old = _row(row)
            res = Resource(old.kind, old.key, old.parent, old.data, revision, old.created)
            self._record(Change("DELETED", res))
            return res


def _row(row: tuple[Any, ...]) -> Resource:
    return Resource(
        kind=str(row[0]),
        key=str(row[1]),
        parent=str(row[2]),
        data=json.loads(row[3]),
        revision=int(row[4]),
        created=float(row[5]),
    )
