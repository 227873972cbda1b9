"""The daemon's side of the shared pod server (``hello``): start or adopt it, keep it alive,
tell it which pods to serve.

The server process outlives the daemon on purpose (own session, recorded by PID and start
time): a restarted daemon calls ``start(adopt=records)`` and, if the recorded process is the
same one and answers, reuses it with every socket still open; otherwise it starts a new one.
While the daemon runs, a watcher notices the server's end (pidfd) and starts it again, then
re-adds every pod it was asked to serve (their sockets are reopened in their namespaces).

Public API::

    PodServer(run_dir, sink, *, python=sys.executable)
      async start(adopt: Mapping[str, Mapping] | None = None)   records of KIND_SERVER by PID
      async add(key, netns, hostname, app, version, port, log) -> bool   (True: already served)
          raises ServeError(message, exit_code) when the app cannot listen (port taken),
          DataplaneError when it cannot be served at all (no such namespace, no server)
      async remove(key) -> bool
      async served() -> dict[str, dict]        what the process serves now, by key
      async prune(keep) -> list[str]           stop serving keys not in ``keep``
      async prune_stale() -> list[str]          ... not added since this daemon started
      async ping() -> dict                      pid, pods, rss_kb
      async close(stop=True)                    stop the process (by PID) or leave it running
      pid -> int | None
    ServeError
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from intranode.dataplane.runtime import process
from intranode.dataplane.runtime.records import KIND_SERVER, RecordSink
from intranode.errors import DataplaneError

MODULE = "intranode.dataplane.runtime.hello"
PROTOCOL = 1
_RESTART_DELAYS = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)
# Where the ``intranode`` package is, so the server imports the same code as the daemon.
_SOURCE_ROOT = str(Path(__file__).resolve().parents[3])


class ServeError(DataplaneError):
    """The app could not listen; ``exit_code`` is what the real container would exit with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class PodServer:
    def __init__(self, run_dir: Path, sink: RecordSink, *, python: str = sys.executable) -> None:
        self.run_dir = run_dir
        self.control = run_dir / "pod-server.sock"
        self.log = run_dir / "pod-server.log"
        self.sink = sink
        self.python = python
        self.desired: dict[str, dict[str, Any]] = {}
        self._proc: process.ProcessHandle | None = None
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()
        self._up = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self, adopt: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Reuse a recorded server that still answers, else start one; then watch it."""
        for pid_text, data in (adopt or {}).items():
            proc = process.adopt(int(pid_text), int(data.get("start_time", -1)))
            if proc is not None and str(data.get("control")) == str(self.control):
                self._proc = proc
                try:
                    await self._connect(timeout=5.0)
                    if (await self._request({"op": "ping"})).get("protocol") == PROTOCOL:
                        break
                except (OSError, DataplaneError, TimeoutError):
                    pass
                await self._stop_process(proc)
            elif proc is not None:
                await self._stop_process(proc)
            self.sink.forget(KIND_SERVER, pid_text)
            self._proc = None
        if self._proc is None:
            await self._spawn()
        self._up.set()
        self._watch = asyncio.create_task(self._watch_loop(), name="pod-server-watch")

    async def _spawn(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            proc = process.spawn(
                [self.python, "-m", MODULE, "--control", str(self.control)],
                {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": _SOURCE_ROOT},
                "/",
                stdout=log,
                stderr=log,
            )
        self._proc = proc
        self.sink.record(
            KIND_SERVER,
            str(proc.pid),
            {"start_time": proc.start_time, "control": str(self.control)},
        )
        try:
            await self._connect(timeout=15.0)
        except (OSError, TimeoutError) as exc:
            await self._stop_process(proc)
            raise DataplaneError(f"the pod server did not start (see {self.log}): {exc}") from exc

    async def _connect(self, timeout: float) -> None:
        self._drop_conn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                self._conn = await asyncio.open_unix_connection(str(self.control))
                return
            except OSError:
                if loop.time() > deadline:
                    raise
                popen = self._proc.popen if self._proc is not None else None
                if popen is not None and popen.poll() is not None:
                    raise OSError("the pod server exited") from None
                await asyncio.sleep(0.05)

    def _drop_conn(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None

    async def _request(self, req: Mapping[str, Any]) -> dict[str, Any]:
        if self._conn is None:
            raise DataplaneError("the pod server is not connected")
        reader, writer = self._conn
        try:
            writer.write(json.dumps(req).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
        except OSError as exc:
            self._drop_conn()
            raise DataplaneError(f"the pod server connection failed: {exc}") from exc
        if not line:
            self._drop_conn()
            raise DataplaneError("the pod server closed its control connection")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def _call(self, req: Mapping[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """One request, waiting out a server restart if one is under way."""
        await asyncio.wait_for(self._up.wait(), timeout)
        async with self._lock:
            return await self._request(req)

    async def add(
        self, key: str, netns: str, hostname: str, app: str, version: str, port: int, log: str
    ) -> bool:
        args = {
            "netns": netns,
            "hostname": hostname,
            "app": app,
            "version": version,
            "port": port,
            "log": log,
        }
        reply = await self._call({"op": "add", "key": key, **args})
        if not reply.get("ok"):
            self.desired.pop(key, None)
            if reply.get("start_error"):
                raise DataplaneError(str(reply.get("error")))
            raise ServeError(str(reply.get("error")), int(reply.get("exit_code", 1)))
        self.desired[key] = args
        return bool(reply.get("existing"))

    async def remove(self, key: str) -> bool:
        self.desired.pop(key, None)
        return bool((await self._call({"op": "remove", "key": key})).get("removed"))

    async def served(self) -> dict[str, dict[str, Any]]:
        pods: dict[str, dict[str, Any]] = (await self._call({"op": "list"}))["pods"]
        return pods

    async def prune(self, keep: Collection[str]) -> list[str]:
        gone = [key for key in await self.served() if key not in keep]
        for key in gone:
            await self.remove(key)
        return gone

    async def prune_stale(self) -> list[str]:
        """After a daemon restart, once every running pod was started again: stop serving
        what an adopted server still serves for pods that are gone."""
        return await self.prune(keep=set(self.desired))

    async def ping(self) -> dict[str, Any]:
        return await self._call({"op": "ping"})

    async def _watch_loop(self) -> None:
        attempt = 0
        while not self._closing:
            proc = self._proc
            if proc is not None:
                await proc.wait()
                if self._closing:
                    return
                self._up.clear()
                self._drop_conn()
                self.sink.forget(KIND_SERVER, str(proc.pid))
                print(f"pod server {proc.pid} ended; starting it again", file=sys.stderr)
            await asyncio.sleep(_RESTART_DELAYS[min(attempt, len(_RESTART_DELAYS) - 1)])
            try:
                await self._spawn()
                async with self._lock:
                    for key, args in list(self.desired.items()):
                        reply = await self._request({"op": "add", "key": key, **args})
                        if not reply.get("ok"):
                            print(f"pod server: {key}: {reply.get('error')}", file=sys.stderr)
            except (OSError, DataplaneError) as exc:
                print(f"pod server restart failed: {exc}", file=sys.stderr)
                self._proc = None
                attempt += 1
                continue
            attempt = 0
            self._up.set()

    async def _stop_process(self, proc: process.ProcessHandle) -> None:
        proc.signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), 5.0)
        except TimeoutError:
            proc.signal_group(signal.SIGKILL)
            await proc.wait()
        self.sink.forget(KIND_SERVER, str(proc.pid))

    async def close(self, *, stop: bool = True) -> None:
        """Stop watching; with ``stop`` also end the server (its sockets close with it)."""
        self._closing = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        self._drop_conn()
        if stop and self._proc is not None:
            await self._stop_process(self._proc)
            self._proc = None
        self._up.clear()
