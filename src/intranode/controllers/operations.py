"""Runs long-running operations as asyncio tasks and keeps them from being stuck RUNNING.

An operation's document lives in the store; its work is a coroutine. Work raising
:class:`TemporaryError` is retried after its delay; any other error fails the operation with
its message. A daemon that restarts resumes or fails every unfinished operation (the owning
controller decides which), so none is ever left RUNNING.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from intranode.errors import ApiError, PermanentError, TemporaryError

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[None]]
OnFailure = Callable[[str, int], None]


class OperationRunner:
    def __init__(self, *, max_attempts: int = 20) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.max_attempts = max_attempts

    def spawn(self, name: str, work: Work, on_failure: OnFailure) -> None:
        """Run ``work`` in the background; ``on_failure(message, http_code)`` records a failure."""
        task = asyncio.get_running_loop().create_task(self._run(name, work, on_failure))
        self._tasks[name] = task
        task.add_done_callback(lambda _t: self._tasks.pop(name, None))

    def is_running(self, name: str) -> bool:
        return name in self._tasks

    async def _run(self, name: str, work: Work, on_failure: OnFailure) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await work()
                return
            except TemporaryError as exc:
                if attempt >= self.max_attempts:
                    on_failure(str(exc), 500)
                    return
                log.info("operation %s: retry in %.1fs: %s", name, exc.delay, exc)
                await asyncio.sleep(exc.delay)
            except PermanentError as exc:
                on_failure(str(exc), 400)
                return
            except ApiError as exc:
                on_failure(exc.message, exc.code)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: the operation must still end, with the reason
                log.exception("operation %s failed", name)
                on_failure(f"internal error: {type(exc).__name__}: {exc}", 500)
                return

    async def wait_idle(self, timeout: float = 30.0) -> None:
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
