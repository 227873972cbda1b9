"""Dataplane unit fixtures: the fake kernel over either ledger implementation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from intranode.dataplane.fake import FakeDataplane, MemoryLedger
from intranode.dataplane.protocol import Ledger
from intranode.store.db import Database
from intranode.store.ledger import SqliteLedger


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    db = Database(tmp_path / "state.db")
    yield SqliteLedger(db)
    db.close()


@pytest.fixture
def fake(ledger: Ledger) -> FakeDataplane:
    return FakeDataplane(ledger)
