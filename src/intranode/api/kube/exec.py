"""``kubectl exec``: the WebSocket channel protocol (``v5.channel.k8s.io``, also ``v4``).

Every frame is binary; its first byte is the channel: 0 stdin (client to server), 1 stdout,
2 stderr, 3 the final status (JSON), 4 terminal resize (client to server), and, in v5 only,
255 "close stream" (``[255, 0]``: no more stdin). The command itself runs behind
``PodExecutor``, which the data plane provides; without one, exec explains why it cannot run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from intranode.api.kube.status import status_response
from intranode.domain.kube.pods import DATA_PLANE_WAITING
from intranode.errors import ApiError, InvalidArgument

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


@dataclass(frozen=True)
class TerminalSize:
    width: int
    height: int


class ExecStreams:
    """What a command sees: stdin chunks (None at end of input), its two outputs, resizes."""

    def __init__(self, send: Callable[[int, bytes], Awaitable[None]]) -> None:
        self._send = send
        self.stdin: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.resize: asyncio.Queue[TerminalSize] = asyncio.Queue()

    async def write_stdout(self, data: bytes) -> None:
        if data:
            await self._send(STDOUT, data)

    async def write_stderr(self, data: bytes) -> None:
        if data:
            await self._send(STDERR, data)


class PodExecutor(Protocol):
    """Runs a command in a running container; returns its exit code.

    Raises an ``ApiError`` when the command cannot start (its message reaches the user).
    """

    async def run(
        self,
        pod: Mapping[str, Any],
        container: str,
        command: Sequence[str],
        streams: ExecStreams,
        tty: bool,
    ) -> int: ...


def bad(message: str) -> InvalidArgument:
    return InvalidArgument(message, reason="BadRequest")


def exec_target(pod: Mapping[str, Any], container: str | None) -> str:
    """The container to exec into, or the 400 kube-apiserver answers (checked in its order)."""
    name = str((pod.get("metadata") or {}).get("name", ""))
    spec = pod.get("spec") or {}
    names = [str(c.get("name", "")) for c in spec.get("containers") or []]
    if not container:
        if len(names) != 1:
            raise bad(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(names)}]"
            )
        container = names[0]
    elif container not in names:
        raise bad(f"container {container} is not valid for pod {name}")
    if not spec.get("nodeName"):
        raise bad(f"pod {name} does not have a host assigned")
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise bad(f"cannot exec into a container in a completed pod; current phase is {phase}")
    return container


def not_running(pod: Mapping[str, Any], container: str) -> str | None:
    """Why the container cannot take a command now (the kubelet's ``container not found``)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container and "running" in (status.get("state") or {}):
            return None
    waiting = next(
        (
            (s.get("state") or {}).get("waiting") or {}
            for s in (pod.get("status") or {}).get("containerStatuses") or []
            if s.get("name") == container
        ),
        {},
    )
    why = waiting.get("message") or DATA_PLANE_WAITING
    return f'container not found ("{container}"): {why}'


def refusal(message: str) -> Response:
    """A refused exec: 400 with a Status (kubectl 1.32's SPDY fallback reads only a Status)."""
    return status_response(bad(message))


def _exit_status(code: int, command: Sequence[str]) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command "
            f"[{shlex.join(command)}], exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _failure_status(message: str) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


@dataclass(frozen=True)
class ExecParams:
    container: str | None
    command: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def exec_params(query: Any) -> ExecParams:
    def flag(name: str) -> bool:
        return str(query.get(name, "")).lower() in ("true", "1")

    params = ExecParams(
        container=query.get("container") or None,
        command=list(query.getlist("command")),
        stdin=flag("stdin"),
        stdout=flag("stdout"),
        stderr=flag("stderr"),
        tty=flag("tty"),
    )
    if not params.command:
        raise bad("you must specify at least 1 command")
    if not (params.stdin or params.stdout or params.stderr):
        raise bad("you must specify at least one of stdin, stdout, stderr")
    return params


async def serve_exec(
    ws: WebSocket,
    pod: Mapping[str, Any],
    params: ExecParams,
    container: str,
    executor: PodExecutor | None,
) -> None:
    """Accept the upgrade and run the command (or report, on channel 3, why it cannot run)."""
    offered = ws.scope.get("subprotocols") or []
    chosen = next((p for p in PROTOCOLS if p in offered), None)
    if chosen is None:
        await deny(
            ws,
            status_response(
                bad(
                    "unable to upgrade connection: the client must offer the "
                    f"{' or '.join(PROTOCOLS)} WebSocket subprotocol"
                )
            ),
        )
        return
    await ws.accept(subprotocol=chosen)
    lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with lock:
            await ws.send_bytes(bytes([channel]) + data)

    streams = ExecStreams(send)
    if not params.stdin:
        # Without -i the command must see end-of-input at once, or `cat` would wait forever.
        streams.stdin.put_nowait(None)
    reader = asyncio.create_task(_pump_input(ws, streams, chosen))
    try:
        if executor is None:
            status = _failure_status(
                f'unable to run {shlex.join(params.command)!r} in container "{container}": '
                "no intranode data plane is attached to run commands in pods"
            )
        else:
            try:
                code = await executor.run(pod, container, params.command, streams, params.tty)
                status = _exit_status(code, params.command)
            except ApiError as exc:
                status = _failure_status(exc.message)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await send(ERROR, json.dumps(status).encode())
            await ws.close(1000)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


async def _pump_input(ws: WebSocket, streams: ExecStreams, protocol: str) -> None:
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            streams.stdin.put_nowait(None)
            return
        data: bytes = msg.get("bytes") or (msg.get("text") or "").encode()
        if not data:
            continue
        channel, payload = data[0], data[1:]
        if channel == STDIN and payload:
            streams.stdin.put_nowait(payload)
        elif channel == RESIZE:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                size = json.loads(payload)
                streams.resize.put_nowait(TerminalSize(int(size["Width"]), int(size["Height"])))
        elif channel == CLOSE and protocol.startswith("v5") and payload[:1] == bytes([STDIN]):
            streams.stdin.put_nowait(None)


async def deny(ws: WebSocket, response: Response) -> None:
    """Refuse the upgrade with an HTTP answer (or, if the server cannot send one, a close)."""
    try:
        await ws.send_denial_response(response)
    except RuntimeError:
        await ws.close(1008)
