"""The shared pod server's HTTP side: hello-app's exact body and Go log lines, nginx's page and
access log, and what bad requests get (no kernel: a fake transport stands in for the socket)."""

from __future__ import annotations

import asyncio
import calendar
from pathlib import Path
from typing import Any

import pytest

from intranode.dataplane.runtime.hello import (
    HttpConnection,
    Pod,
    PodServerProcess,
    go_log_line,
    hello_body,
    http_date,
    nginx_access_line,
)

T0 = calendar.timegm((2026, 11, 26, 9, 0, 0, 0, 0, 0))


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += bytes(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("::ffff:10.0.0.9", 40000, 0, 0) if name == "peername" else default


def _serve(tmp_path: Path, app: str, *chunks: bytes) -> tuple[FakeTransport, str, Pod]:
    log = tmp_path / "c" / "0.log"
    log.parent.mkdir()
    pod = Pod(
        {
            "netns": "/run/netns/x",
            "hostname": "pod-2",
            "app": app,
            "version": "2.0.0",
            "port": 8080,
            "log": str(log),
        }
    )
    conn = HttpConnection(pod)
    t = FakeTransport()
    conn.connection_made(t)
    for chunk in chunks:
        conn.data_received(chunk)
    return t, log.read_text() if log.exists() else "", pod


def test_go_log_lines_have_go_date_prefix() -> None:
    assert go_log_line("Server listening on port 8080", T0) == (
        "2026/11/26 09:00:00 Server listening on port 8080\n"
    )
    assert (
        go_log_line("Serving request: /", T0 + 61.9) == "2026/11/26 09:01:01 Serving request: /\n"
    )


def test_hello_body_is_three_lines() -> None:
    assert hello_body("1.0.0", "pod-2") == b"Hello, world!\nVersion: 1.0.0\nHostname: pod-2\n"


def test_http_date_and_nginx_access_line() -> None:
    assert http_date(T0) == "Thu, 26 Nov 2026 09:00:00 GMT"
    assert nginx_access_line("10.0.0.9", T0, "GET / HTTP/1.1", 200, 264, "", "Wget") == (
        '10.0.0.9 - - [26/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 264 "-" "Wget" "-"\n'
    )


def test_hello_answers_with_version_and_pod_hostname_and_logs_the_path(tmp_path: Path) -> None:
    t, log, _ = _serve(
        tmp_path, "hello", b"GET /a%20b?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    head, body = t.out.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert lines[1].startswith("Date: ")
    assert lines[2:] == [
        "Content-Length: 45",
        "Content-Type: text/plain; charset=utf-8",
        "Connection: close",
    ]
    assert body == b"Hello, world!\nVersion: 2.0.0\nHostname: pod-2\n"
    assert t.closed
    assert log.endswith(" Serving request: /a b\n")
    assert log.count("\n") == 1


def test_keep_alive_serves_pipelined_requests_split_across_reads(tmp_path: Path) -> None:
    t, log, _ = _serve(
        tmp_path,
        "hello",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /x HT",
        b"TP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    )
    assert t.out.count(b"HTTP/1.1 200 OK") == 2
    assert not t.closed
    assert [line.split(" ", 2)[2] for line in log.splitlines()] == [
        "Serving request: /",
        "Serving request: /x",
    ]


def test_head_gets_headers_only(tmp_path: Path) -> None:
    t, _, _ = _serve(tmp_path, "hello", b"HEAD / HTTP/1.0\r\n\r\n")
    assert t.out.endswith(b"Connection: close\r\n\r\n")
    assert t.closed


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    ],
)
def test_bad_requests_get_go_400_and_are_not_logged(tmp_path: Path, request_bytes: bytes) -> None:
    t, log, _ = _serve(tmp_path, "hello", request_bytes)
    assert t.out == (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Connection: close\r\n\r\n400 Bad Request"
    )
    assert t.closed
    assert log == ""


def test_nginx_serves_its_page_at_root_and_404_elsewhere(tmp_path: Path) -> None:
    t, log, _ = _serve(
        tmp_path,
        "web",
        b"GET / HTTP/1.1\r\nUser-Agent: curl/8\r\n\r\nGET /nope HTTP/1.1\r\n\r\n",
    )
    first, second = t.out.split(b"HTTP/1.1 404 Not Found")
    assert first.startswith(b"HTTP/1.1 200 OK\r\nServer: nginx/")
    assert b"<title>Welcome to nginx!</title>" in first
    assert b"<title>404 Not Found</title>" in second
    lines = log.splitlines()
    assert lines[0].startswith("10.0.0.9 - - [") and lines[0].endswith(
        '"GET / HTTP/1.1" 200 264 "-" "curl/8" "-"'
    )
    assert '"GET /nope HTTP/1.1" 404 ' in lines[1]


def test_connections_are_tracked_so_removing_a_pod_closes_them(tmp_path: Path) -> None:
    t, _, pod = _serve(tmp_path, "hello", b"GET / HTTP/1.1\r\n\r\n")
    assert pod.conns == {t}
    pod.close()
    assert t.closed
    assert pod.conns == set()


def test_control_protocol_answers_ping_list_and_refuses_bad_requests() -> None:
    async def main() -> list[dict[str, Any]]:
        state = PodServerProcess()
        return [
            await state.handle({"op": "ping"}),
            await state.handle({"op": "list"}),
            await state.handle({"op": "remove", "key": "nope"}),
            await state.handle({"op": "add", "key": "k"}),
            await state.handle(
                {
                    "op": "add",
                    "key": "k",
                    "netns": "n",
                    "hostname": "h",
                    "app": "ftp",
                    "version": "",
                    "port": 1,
                    "log": "/x",
                }
            ),
            await state.handle({"op": "frobnicate"}),
        ]

    ping, listed, removed, missing, bad_app, unknown = asyncio.run(main())
    assert ping["ok"] and ping["pods"] == 0 and ping["protocol"] == 1 and ping["rss_kb"] > 0
    assert listed == {"ok": True, "pods": {}}
    assert removed == {"ok": True, "removed": False}
    assert missing["ok"] is False and missing["error"].startswith("bad request: KeyError")
    assert bad_app == {"ok": False, "error": "unknown app 'ftp'"}
    assert unknown == {"ok": False, "error": "unknown op 'frobnicate'"}
