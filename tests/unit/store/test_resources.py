"""The resource store: revisions, conflicts, grouped notifications, durability across a kill."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from intranode.errors import Aborted, AlreadyExists, NotFound
from intranode.store.db import Database
from intranode.store.resources import Change, ResourceStore


@pytest.fixture
def store(tmp_path: Path) -> ResourceStore:
    return ResourceStore(Database(tmp_path / "s.db"))


def test_every_write_gets_a_higher_revision_across_kinds(store: ResourceStore) -> None:
    a = store.create("k1", "a", "p", {"v": 1})
    b = store.create("k2", "b", "p", {"v": 2})
    a2 = store.update("k1", "a", {"v": 3})
    assert a.revision < b.revision < a2.revision
    assert store.get("k1", "a") is not None and store.get("k1", "a").data == {"v": 3}  # type: ignore[union-attr]


def test_create_twice_is_already_exists_and_keeps_the_first(store: ResourceStore) -> None:
    store.create("k", "a", "p", {"v": 1})
    with pytest.raises(AlreadyExists):
        store.create("k", "a", "p", {"v": 2})
    assert store.get("k", "a").data == {"v": 1}  # type: ignore[union-attr]


def test_update_with_a_stale_revision_is_aborted(store: ResourceStore) -> None:
    r = store.create("k", "a", "p", {"v": 1})
    store.update("k", "a", {"v": 2})
    with pytest.raises(Aborted):
        store.update("k", "a", {"v": 3}, expect_revision=r.revision)
    with pytest.raises(NotFound):
        store.update("k", "missing", {})
    assert store.get("k", "a").data == {"v": 2}  # type: ignore[union-attr]


def test_find_by_parent_and_prefix(store: ResourceStore) -> None:
    store.create("k", "x/a/1", "x/a", {})
    store.create("k", "x/b/1", "x/b", {})
    store.create("k", "y/a/1", "y/a", {})
    assert [r.key for r in store.find("k", "x/a")] == ["x/a/1"]
    assert [r.key for r in store.list_prefix("k", "x/")] == ["x/a/1", "x/b/1"]
    assert len(store.find("k")) == 3


def test_listeners_hear_of_a_transaction_only_after_it_commits(store: ResourceStore) -> None:
    heard: list[Change] = []
    store.subscribe(heard.append)
    with store.transaction():
        store.create("k", "a", "p", {})
        store.update("k", "a", {"v": 1})
        assert heard == []
    assert [c.type for c in heard] == ["ADDED", "MODIFIED"]
    heard.clear()
    with pytest.raises(RuntimeError), store.transaction():
        store.create("k", "b", "p", {})
        raise RuntimeError("boom")
    assert heard == []
    assert store.get("k", "b") is None
    store.delete("k", "a")
    assert [c.type for c in heard] == ["DELETED"]


def test_an_accepted_write_survives_sigkill(tmp_path: Path) -> None:
    db_path = tmp_path / "s.db"
    script = textwrap.dedent(f"""
        import os, signal
        from intranode.store.db import Database
        from intranode.store.resources import ResourceStore
        s = ResourceStore(Database({str(db_path)!r}))
        s.create("k", "a", "p", {{"accepted": True}})
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=os.environ.copy())
    assert proc.returncode == -9
    again = ResourceStore(Database(db_path))
    assert again.get("k", "a").data == {"accepted": True}  # type: ignore[union-attr]


def test_kinds_lists_what_is_held_under_a_prefix(store: ResourceStore) -> None:
    store.create("k8s.pods", "a", "p", {})
    store.create("k8s.nodes", "b", "p", {})
    store.create("compute.network", "c", "p", {})
    assert store.kinds("k8s.") == ["k8s.nodes", "k8s.pods"]
