"""The node's shared pod server: one small asyncio process serves every hello-app (and nginx)
container of every pod, so a pod costs a listening socket, not an interpreter.

Run as ``python -m intranode.dataplane.runtime.hello --control <unix socket>``; the daemon
starts and supervises it (``server.PodServer``). For each pod it opens a listening socket
*inside the pod's network namespace* (a fresh thread ``setns``es, creates and binds it; the
socket stays in that namespace) and answers on it as the container would:

- ``hello``: Google's hello-app. Every path gets ``Hello, world!\\nVersion: <v>\\nHostname:
  <pod>\\n`` with Go's headers; its log gets ``Server listening on port <p>`` when the socket
  opens and ``Serving request: <path>`` per request, in Go's ``log`` format (UTC, the time zone
  of a container without ``/etc/localtime``). A port already taken in the pod fails the way
  Go's ``log.Fatal`` does: the line ``listen tcp :<p>: bind: address already in use`` and
  exit code 1 (reported back; the daemon's supervisor treats it as a crash).
- ``web``: nginx's default site: ``/`` and ``/index.html`` give a welcome page, other paths
  404; access-log lines in nginx's ``combined`` format (plus its ``"-"`` X-Forwarded-For).

Control channel: JSON lines over the unix socket (mode 0600), one reply line per request::

    {"op": "add", "key": K, "netns": PATH, "hostname": H, "app": "hello"|"web",
     "version": "1.0.0", "port": 8080, "log": PATH}     -> {"ok": true, "existing": bool}
                                                        or {"ok": false, "error": E, "exit_code": 1}
                                                        or {"ok": false, "error": E,
                                                            "start_error": true} (no netns)
    {"op": "remove", "key": K}                          -> {"ok": true, "removed": bool}
    {"op": "list"}                                      -> {"ok": true, "pods": {K: add-args}}
    {"op": "ping"}                                      -> {"ok": true, "pid", "pods", "rss_kb",
                                                            "protocol": 1}

``add`` with a key that exists and the same arguments changes nothing (a restarted daemon
re-adds its pods); with other arguments the old socket is closed first. ``remove`` closes the
listening socket and every open connection of the pod, so the pod's network namespace is
released when the data plane deletes it.

Pure helpers used by tests: ``go_log_line``, ``hello_body``, ``nginx_access_line``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import os
import resource
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from intranode.dataplane.runtime import linux

PROTOCOL = 1
MAX_HEAD = 64 * 1024
NGINX_VERSION = "1.27.3"
WELCOME = (
    b"<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n"
    b"<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully "
    b"installed and working.</p>\n<p><em>Served by intranode's built-in nginx.</em></p>\n"
    b"</body>\n</html>\n"
)
NOT_FOUND_PAGE = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found"
    f"</h1></center>\r\n<hr><center>nginx/{NGINX_VERSION}</center>\r\n</body>\r\n</html>\r\n"
).encode()
_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\n400 Bad Request"
)
_ADD_FIELDS = ("netns", "hostname", "app", "version", "port", "log")


def go_log_line(message: str, ts: float) -> str:
    """A line as Go's ``log.Printf`` writes it (standard flags): ``2026/11/26 09:00:00 msg``."""
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(ts)) + " " + message + "\n"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(ts: float) -> str:
    """``Wed, 26 Nov 2026 09:00:00 GMT`` (RFC 9110), whatever the process's locale."""
    t = time.gmtime(ts)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def hello_body(version: str, hostname: str) -> bytes:
    return f"Hello, world!\nVersion: {version}\nHostname: {hostname}\n".encode()


def nginx_access_line(
    peer: str, ts: float, request_line: str, status: int, size: int, referer: str, agent: str
) -> str:
    """nginx's ``main`` log format as the official image configures it."""
    t = time.gmtime(ts)
    stamp = (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{time.strftime('%H:%M:%S', t)} +0000"
    )
    return (
        f'{peer} - - [{stamp}] "{request_line}" {status} {size} "{referer or "-"}" '
        f'"{agent or "-"}" "-"\n'
    )


def _append(path: str, text: str) -> None:
    # Opened per line: a thousand pods must not hold a thousand log descriptors.
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        print(f"cannot write {path}: {exc}", file=sys.stderr, flush=True)


class Pod:
    """One served container: its add-arguments, listening server and open connections."""

    __slots__ = ("args", "conns", "server")

    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.server: asyncio.Server | None = None
        self.conns: set[asyncio.Transport] = set()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for t in list(self.conns):
            t.abort()
        self.conns.clear()


class HttpConnection(asyncio.Protocol):
    """Just enough HTTP/1.1 for wget, curl and browsers: keep-alive, bodies skipped by length."""

    __slots__ = ("buf", "peer", "pod", "transport")

    def __init__(self, pod: Pod) -> None:
        self.pod = pod
        self.buf = b""
        self.peer = "-"
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pod.conns.add(transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            host = str(peer[0])
            self.peer = host.removeprefix("::ffff:")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.pod.conns.discard(self.transport)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None:
            self.buf = self.buf.lstrip(b"\r\n")
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self._fail()
                return
            parsed = _parse_head(self.buf[:end].decode("latin-1"))
            if parsed is None:
                self._fail()
                return
            method, target, version, headers = parsed
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._fail()
                return
            if length < 0:
                self._fail()
                return
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            conn = headers.get("connection", "").lower()
            keep = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                keep = False  # bodies we do not parse: answer, then close rather than misread
            self._respond(method, target, version, headers, keep)
            if not keep:
                self.transport.close()
                return

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.write(_BAD_REQUEST)
            self.transport.close()

    def _respond(
        self, method: str, target: str, version: str, headers: dict[str, str], keep: bool
    ) -> None:
        assert self.transport is not None
        args, now = self.pod.args, time.time()
        date = http_date(now)
        path = _path_of(target)
        if args["app"] == "web":
            found = path in ("/", "/index.html")
            status, body = (200, WELCOME) if found else (404, NOT_FOUND_PAGE)
            head = (
                f"HTTP/1.1 {status} {'OK' if found else 'Not Found'}\r\n"
                f"Server: nginx/{NGINX_VERSION}\r\nDate: {date}\r\nContent-Type: text/html\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"Connection: {'keep-alive' if keep else 'close'}\r\n"
            )
            if found:
                head += "Accept-Ranges: bytes\r\n"
            request_line = f"{method} {target} {version}"
            _append(
                args["log"],
                nginx_access_line(
                    self.peer,
                    now,
                    request_line,
                    status,
                    len(body),
                    headers.get("referer", ""),
                    headers.get("user-agent", ""),
                ),
            )
        else:
            _append(args["log"], go_log_line(f"Serving request: {path}", now))
            body = hello_body(args["version"], args["hostname"])
            head = (
                f"HTTP/1.1 200 OK\r\nDate: {date}\r\nContent-Length: {len(body)}\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
            )
            if not keep:
                head += "Connection: close\r\n"
        payload = head.encode() + b"\r\n"
        if method != "HEAD":
            payload += body
        self.transport.write(payload)


def _parse_head(head: str) -> tuple[str, str, str, dict[str, str]] | None:
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        headers[name.lower()] = value.strip()
    return parts[0], parts[1], parts[2], headers


def _path_of(target: str) -> str:
    """The request's URL path, decoded, as Go's ``r.URL.Path`` gives it."""
    try:
        path = urlsplit(target).path
    except ValueError:
        return target
    return unquote(path) or "/"


def _listen(netns: str, port: int) -> socket.socket:
    """A socket listening on ``:port`` in the pod's namespace, dual-stack like Go's ``:8080``."""
    linux.enter_namespaces(net=netns)
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        address: tuple[Any, ...] = ("::", port)
    except OSError:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address = ("0.0.0.0", port)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if sock.family != socket.AF_INET6 or exc.errno == errno.EADDRINUSE:
                raise
            sock.close()  # IPv6 off in this namespace: fall back to IPv4 only
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", port))
        sock.setblocking(False)
        return sock
    except BaseException:
        sock.close()
        raise


class PodServerProcess:
    """The state of the server process: its pods by key, and the control protocol."""

    def __init__(self) -> None:
        self.pods: dict[str, Pod] = {}

    async def add(self, req: dict[str, Any]) -> dict[str, Any]:
        key = str(req["key"])
        args = {name: req[name] for name in _ADD_FIELDS}
        args["port"] = int(args["port"])
        if args["app"] not in ("hello", "web"):
            return {"ok": False, "error": f"unknown app {args['app']!r}"}
        old = self.pods.get(key)
        if old is not None:
            if old.args == args:
                return {"ok": True, "existing": True}
            old.close()
            del self.pods[key]
        if not os.path.exists(args["netns"]):
            # Not the app's failure: the sandbox is missing (the runtime's StartError).
            return {
                "ok": False,
                "error": f"{args['netns']}: no such network namespace",
                "start_error": True,
            }
        Path(args["log"]).parent.mkdir(parents=True, exist_ok=True)
        pod = Pod(args)
        port = args["port"]
        try:
            sock = await linux.in_new_thread_async(lambda: _listen(args["netns"], port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                error = f"listen tcp :{port}: bind: address already in use"
            else:
                error = f"listen tcp :{port}: {exc.strerror or exc}"
            if args["app"] == "web":
                _append(args["log"], f"nginx: [emerg] bind() to 0.0.0.0:{port} failed ({error})\n")
            else:
                _append(args["log"], go_log_line(error, time.time()))
            return {"ok": False, "error": error, "exit_code": 1}
        loop = asyncio.get_running_loop()
        pod.server = await loop.create_server(lambda: HttpConnection(pod), sock=sock, backlog=1024)
        self.pods[key] = pod
        if args["app"] == "web":
            _append(
                args["log"], "/docker-entrypoint.sh: Configuration complete; ready for start up\n"
            )
        else:
            _append(args["log"], go_log_line(f"Server listening on port {port}", time.time()))
        return {"ok": True, "existing": False}

    def remove(self, key: str) -> dict[str, Any]:
        pod = self.pods.pop(key, None)
        if pod is not None:
            pod.close()
        return {"ok": True, "removed": pod is not None}

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        try:
            if op == "add":
                return await self.add(req)
            if op == "remove":
                return self.remove(str(req["key"]))
            if op == "list":
                return {"ok": True, "pods": {k: p.args for k, p in self.pods.items()}}
            if op == "ping":
                return {
                    "ok": True,
                    "pid": os.getpid(),
                    "pods": len(self.pods),
                    "rss_kb": _rss_kb(),
                    "protocol": PROTOCOL,
                }
        except (KeyError, TypeError, ValueError) as exc:
            return {"ok": False, "error": f"bad request: {exc!r}"}
        return {"ok": False, "error": f"unknown op {op!r}"}

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise ValueError("not an object")
                except ValueError as exc:
                    reply: dict[str, Any] = {"ok": False, "error": f"bad request: {exc}"}
                else:
                    reply = await self.handle(req)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        for pod in self.pods.values():
            pod.close()
        self.pods.clear()


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def serve(control_path: Path) -> None:
    state = PodServerProcess()
    with contextlib.suppress(FileNotFoundError):
        control_path.unlink()
    control_path.parent.mkdir(parents=True, exist_ok=True)
    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(state.control, path=str(control_path))
    finally:
        os.umask(old_umask)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"pod server {os.getpid()} listening on {control_path}", file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    state.close()
    with contextlib.suppress(FileNotFoundError):
        control_path.unlink()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--control", required=True, type=Path, help="unix socket to listen on")
    opts = parser.parse_args(argv)
    # One descriptor per served container: lift the soft limit to what the system allows.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve(opts.control))


if __name__ == "__main__":
    main()
