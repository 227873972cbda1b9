"""``PodExec`` behind the API's WebSocket exec (v5.channel.k8s.io): the frames kubectl gets for
output, stdin, exit codes and a missing program, from a command in a real pod sandbox."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from intranode.api.kube.exec import exec_params, serve_exec
from intranode.dataplane.runtime import sandbox
from intranode.dataplane.runtime.executor import PodExec
from intranode.dataplane.runtime.records import MemoryRecords
from intranode.dataplane.runtime.spec import DEFAULT_PATH

from .helpers import NetnsFactory

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
]
POD = {"metadata": {"name": "pod-1", "uid": "uid-1"}, "spec": {"containers": [{"name": "c"}]}}


class Targets:
    def __init__(self, box: sandbox.Sandbox) -> None:
        self.box = box
        self.sink = MemoryRecords()

    def exec_context(
        self, pod_uid: str, container: str
    ) -> tuple[sandbox.Sandbox, dict[str, str], str] | None:
        if (pod_uid, container) != ("uid-1", "c"):
            return None
        return self.box, {"PATH": DEFAULT_PATH, "HOSTNAME": "pod-1"}, "/"


@pytest.fixture
def client(netns: NetnsFactory, run_dir: Path) -> Iterator[TestClient]:
    (ns,) = netns.make(1)
    box = sandbox.Sandbox(Path(f"/run/netns/{ns}"), run_dir / "uts", "pod-1")
    records = MemoryRecords()
    sandbox.create_uts(box.uts_path, box.hostname, records)
    executor = PodExec(Targets(box))

    async def exec_ws(ws: WebSocket) -> None:
        params = exec_params(ws.query_params)
        await serve_exec(ws, POD, params, "c", executor)

    app = Starlette(routes=[WebSocketRoute("/exec", exec_ws)])
    try:
        with TestClient(app) as c:
            yield c
    finally:
        sandbox.remove_uts(box.uts_path, records)


def _session(client: TestClient, query: str, send: list[bytes]) -> tuple[bytes, bytes, Any]:
    out = err = b""
    with client.websocket_connect(f"/exec?{query}", subprotocols=["v5.channel.k8s.io"]) as ws:
        for frame in send:
            ws.send_bytes(frame)
        while True:
            frame = ws.receive_bytes()
            channel, data = frame[0], frame[1:]
            if channel == 1:
                out += data
            elif channel == 2:
                err += data
            elif channel == 3:
                return out, err, json.loads(data)


def test_output_and_a_nonzero_exit_code(client: TestClient) -> None:
    query = "command=sh&command=-c&command=hostname;echo oops>%262;exit 3&stdout=true&stderr=true"
    out, err, status = _session(client, query, [])
    assert (out, err) == (b"pod-1\n", b"oops\n")
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


def test_stdin_is_delivered_and_closed_by_the_v5_close_signal(client: TestClient) -> None:
    query = "command=cat&stdin=true&stdout=true&stderr=true"
    out, _, status = _session(client, query, [b"\x00hello ", b"\x00world\n", b"\xff\x00"])
    assert out == b"hello world\n"
    assert status == {"metadata": {}, "status": "Success"}


def test_a_missing_program_is_an_internal_error(client: TestClient) -> None:
    _, _, status = _session(client, "command=nosuch&stdout=true&stderr=true", [])
    assert status["status"] == "Failure"
    assert status["reason"] == "InternalError"
    assert status["message"].endswith('exec: "nosuch": executable file not found in $PATH: unknown')
