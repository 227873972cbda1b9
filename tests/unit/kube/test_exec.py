"""``kubectl exec`` over the WebSocket channel protocol, with an in-memory executor."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from intranode.api.kube.exec import ExecStreams
from intranode.controllers.context import Context
from intranode.domain.resources import k8s_key, k8s_kind
from intranode.errors import FailedPrecondition
from tests.unit.kube.conftest import CLUSTER_KEY, POD_1, PODS_URL, Executors

EXEC = f"{PODS_URL}/pod-1/exec"
V5 = ["v5.channel.k8s.io"]


class Echo:
    """Echoes arguments (``echo``), stdin (``cat``), fails (``fail N``) or cannot start."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[str], bool]] = []

    async def run(
        self,
        pod: Mapping[str, Any],
        container: str,
        command: Sequence[str],
        streams: ExecStreams,
        tty: bool,
    ) -> int:
        self.seen.append((container, list(command), tty))
        if command[0] == "echo":
            await streams.write_stdout((" ".join(command[1:]) + "\n").encode())
            return 0
        if command[0] == "cat":
            while (chunk := await streams.stdin.get()) is not None:
                await streams.write_stdout(chunk)
            size = await streams.resize.get()
            await streams.write_stderr(f"{size.width}x{size.height}".encode())
            return 0
        if command[0] == "fail":
            await streams.write_stderr(b"oops\n")
            return int(command[1])
        raise FailedPrecondition(f'exec: "{command[0]}": executable file not found in $PATH')


def running(ctx: Context) -> None:
    key = k8s_key(CLUSTER_KEY, "pods", "pod-1", "default")
    res = ctx.resources.get(k8s_kind("pods"), key)
    assert res is not None
    doc = dict(res.data)
    doc["status"] = {
        **doc["status"],
        "phase": "Running",
        "containerStatuses": [
            {"name": "container-1", "ready": True, "state": {"running": {}}, "restartCount": 0}
        ],
    }
    ctx.resources.update(k8s_kind("pods"), key, doc)


@pytest.fixture
def echo(kube: TestClient, ctx: Context, executors: Executors) -> Echo:
    kube.post(PODS_URL, json=POD_1)
    running(ctx)
    executors.current = Echo()
    return executors.current


def refused(
    kube: TestClient, url: str, protocols: list[str] | None = None
) -> WebSocketDenialResponse:
    """The HTTP answer that refused a WebSocket upgrade."""
    with (
        pytest.raises(WebSocketDenialResponse) as info,
        kube.websocket_connect(url, subprotocols=protocols or V5),
    ):
        pass
    return info.value


def frames(ws: Any) -> list[tuple[int, bytes]]:
    out = []
    while True:
        msg = ws.receive()
        if msg["type"] == "websocket.close":
            return out
        data = msg["bytes"]
        out.append((data[0], data[1:]))
        if data[0] == 3:
            return out


def test_stdout_and_success_status(kube: TestClient, echo: Echo) -> None:
    with kube.websocket_connect(
        f"{EXEC}?command=echo&command=hi&container=container-1&stdout=true&stderr=true",
        subprotocols=V5,
    ) as ws:
        assert ws.accepted_subprotocol == "v5.channel.k8s.io"
        got = frames(ws)
    assert got[0] == (1, b"hi\n")
    assert got[-1][0] == 3
    assert json.loads(got[-1][1]) == {"metadata": {}, "status": "Success"}
    assert echo.seen == [("container-1", ["echo", "hi"], False)]


def test_stdin_resize_and_close_stream(kube: TestClient, echo: Echo) -> None:
    with kube.websocket_connect(
        f"{EXEC}?command=cat&stdin=true&stdout=true&stderr=true&tty=true", subprotocols=V5
    ) as ws:
        ws.send_bytes(b"\x00hello ")
        ws.send_bytes(b"\x00world")
        ws.send_bytes(b"\xff\x00")  # v5: no more stdin
        ws.send_bytes(b'\x04{"Width":80,"Height":24}')
        got = frames(ws)
    assert b"".join(d for c, d in got if c == 1) == b"hello world"
    assert (2, b"80x24") in got
    assert json.loads(got[-1][1])["status"] == "Success"


def test_a_non_zero_exit_is_reported_as_kubectl_expects(kube: TestClient, echo: Echo) -> None:
    with kube.websocket_connect(
        f"{EXEC}?command=fail&command=3&stdout=true&stderr=true", subprotocols=["v4.channel.k8s.io"]
    ) as ws:
        assert ws.accepted_subprotocol == "v4.channel.k8s.io"
        got = frames(ws)
    assert (2, b"oops\n") in got
    status = json.loads(got[-1][1])
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


def test_a_command_that_cannot_start_is_a_failure_status(kube: TestClient, echo: Echo) -> None:
    with kube.websocket_connect(f"{EXEC}?command=wget&stdout=true", subprotocols=V5) as ws:
        status = json.loads(frames(ws)[-1][1])
    assert status["status"] == "Failure"
    assert status["message"] == 'exec: "wget": executable file not found in $PATH'


def test_without_an_executor_the_user_is_told_why(
    kube: TestClient, echo: Echo, executors: Executors
) -> None:
    executors.current = None
    with kube.websocket_connect(f"{EXEC}?command=sh&stdout=true", subprotocols=V5) as ws:
        status = json.loads(frames(ws)[-1][1])
    assert status["status"] == "Failure"
    assert "no intranode data plane is attached" in status["message"]


def test_a_pending_pod_refuses_the_upgrade(kube: TestClient, executors: Executors) -> None:
    kube.post(PODS_URL, json=POD_1)
    executors.current = Echo()
    denial = refused(kube, f"{EXEC}?command=sh&stdout=true")
    assert denial.status_code == 400
    body = denial.json()
    assert body["kind"] == "Status" and body["reason"] == "BadRequest"
    assert body["message"].startswith('container not found ("container-1"): the intranode data')
    spdy = kube.post(f"{EXEC}?command=sh&stdout=true", headers={"Upgrade": "SPDY/3.1"})
    assert spdy.status_code == 400 and spdy.json()["message"] == body["message"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("stdout=true", "you must specify at least 1 command"),
        ("command=sh", "you must specify at least one of stdin, stdout, stderr"),
        ("command=sh&stdout=true&container=x", "container x is not valid for pod pod-1"),
    ],
)
def test_bad_exec_requests(kube: TestClient, echo: Echo, query: str, message: str) -> None:
    denial = refused(kube, f"{EXEC}?{query}")
    assert denial.status_code == 400
    assert denial.json()["message"] == message


def test_exec_into_a_missing_pod(kube: TestClient) -> None:
    denial = refused(kube, f"{PODS_URL}/nope/exec?command=sh&stdout=true")
    assert denial.status_code == 404
    assert denial.json()["message"] == 'pods "nope" not found'


def test_an_unknown_subprotocol_is_refused(kube: TestClient, echo: Echo) -> None:
    denial = refused(kube, f"{EXEC}?command=sh&stdout=true", ["base64.channel.k8s.io"])
    assert denial.status_code == 400
