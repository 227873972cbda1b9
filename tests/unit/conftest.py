"""Unit fixtures: a daemon context on a temporary SQLite file and the API in-process.

No root, no kernel: the app is driven through Starlette's TestClient, whose event loop stays
up for the whole test so background operations run as they do in the daemon.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from intranode.api.app import create_app
from intranode.config import Settings
from intranode.controllers.bootstrap import bootstrap
from intranode.controllers.context import Context

TOKEN = "test-token"
PROJECT = "test-proj"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, port=0, project=PROJECT)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    c = Context.open(settings, TOKEN)
    bootstrap(c)
    yield c
    c.db.close()


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


@pytest.fixture
def anon_client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c
