"""A daemon stopped while a test ran finishes it at its next start (``recover``): the
operation ends done with the test as its response, and the test holds its results."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from intranode.api.app import create_app
from intranode.config import Settings
from intranode.controllers import connectivity
from intranode.controllers.context import Context
from intranode.controllers.operations import OnFailure, OperationRunner, Work
from intranode.domain import resources as R
from tests.unit.conftest import TOKEN

from .conftest import TESTS


class NeverRuns(OperationRunner):
    """A daemon that dies as soon as it has answered: the work never starts."""

    def spawn(self, name: str, work: Work, on_failure: OnFailure) -> None:
        return None


@pytest.fixture
def dying(ctx: Context) -> Iterator[TestClient]:
    ctx.runner = NeverRuns()
    with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


def test_a_run_cut_short_is_finished_at_the_next_start(
    dying: TestClient, ctx: Context, settings: Settings
) -> None:
    body = {"source": {"ipAddress": "10.0.0.5"}, "destination": {"ipAddress": "10.0.1.6"}}
    op = dying.post(TESTS, params={"testId": "t1"}, json=body).json()
    assert op["done"] is False
    assert "reachabilityDetails" not in dying.get(f"{TESTS}/t1").json()
    ctx.db.close()
    fresh = Context.open(settings, TOKEN)

    async def start() -> None:
        await connectivity.recover(fresh)
        await fresh.runner.wait_idle(10)

    asyncio.run(start())
    try:
        done = fresh.resources.get(R.NETWORK_MANAGEMENT_OPERATION, op["name"])
        assert done is not None and done.data["done"] is True
        test = fresh.resources.get(R.CONNECTIVITY_TEST, op["metadata"]["target"])
        assert test is not None
        assert test.data["reachabilityDetails"]["result"] == "UNDETERMINED"  # 10.0.0.5: nobody's
        assert done.data["response"]["reachabilityDetails"] == test.data["reachabilityDetails"]
    finally:
        fresh.db.close()
