"""The operation runner: retries temporary errors, fails the rest with their message."""

from __future__ import annotations

import asyncio

from intranode.controllers.operations import OperationRunner
from intranode.errors import InvalidArgument, PermanentError, TemporaryError


def _run(work_factory: object, runner: OperationRunner | None = None) -> list[tuple[str, int]]:
    failures: list[tuple[str, int]] = []

    async def main() -> None:
        r = runner or OperationRunner()
        r.spawn("op", work_factory, lambda m, c: failures.append((m, c)))  # type: ignore[arg-type]
        await r.wait_idle(5)

    asyncio.run(main())
    return failures


def test_temporary_errors_are_retried_until_the_work_succeeds() -> None:
    calls = []

    async def work() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise TemporaryError("not yet", delay=0.01)

    assert _run(work) == []
    assert len(calls) == 3


def test_temporary_errors_give_up_after_max_attempts() -> None:
    async def work() -> None:
        raise TemporaryError("never", delay=0)

    assert _run(work, OperationRunner(max_attempts=3)) == [("never", 500)]


def test_permanent_and_api_errors_fail_with_their_message_and_code() -> None:
    async def permanent() -> None:
        raise PermanentError("cannot")

    async def invalid() -> None:
        raise InvalidArgument("bad field")

    assert _run(permanent) == [("cannot", 400)]
    assert _run(invalid) == [("bad field", 400)]


def test_a_bug_still_ends_the_operation_with_the_reason() -> None:
    async def buggy() -> None:
        raise KeyError("x")

    [(message, code)] = _run(buggy)
    assert code == 500 and "KeyError" in message
