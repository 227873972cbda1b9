"""Traffic between namespaces the test made: ping, TCP and UDP echo, a long-running TCP
conversation. Processes run with ``ip netns exec`` (which execs, so the PID is the program's)
and are stopped by PID only."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

PY = sys.executable

TCP_ECHO = textwrap.dedent(
    """
    import socket, sys, threading
    srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    def serve(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
    """
)

UDP_ECHO = textwrap.dedent(
    """
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(65536)
        s.sendto(data, peer)
    """
)

ONE_EXCHANGE = textwrap.dedent(
    """
    import socket, sys
    kind, dst, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
    if kind == "tcp":
        with socket.create_connection((dst, port), timeout=3) as s:
            s.sendall(payload)
            print(s.recv(65536).decode(), end="")
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(payload, (dst, port))
            print(s.recvfrom(65536)[0].decode(), end="")
    """
)

# Round trips of 64 bytes every 5 ms for a while over ONE connection; reports the longest
# wait between two answers and any error.
CONVERSATION = textwrap.dedent(
    """
    import json, socket, sys, time
    dst, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rounds, max_gap, error = 0, 0.0, None
    try:
        s = socket.create_connection((dst, port), timeout=5)
        print("connected", flush=True)
        last = start = time.monotonic()
        while time.monotonic() - start < seconds:
            msg = b"%064d" % rounds
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = s.recv(len(msg) - len(got))
                if not chunk:
                    raise ConnectionError("closed by peer")
                got += chunk
            if got != msg:
                raise ValueError("echo mismatch")
            now = time.monotonic()
            max_gap, last, rounds = max(max_gap, now - last), now, rounds + 1
            time.sleep(0.005)
        s.close()
    except Exception as exc:
        error = repr(exc)
    print(json.dumps({"rounds": rounds, "max_gap": max_gap, "error": error}), flush=True)
    """
)


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


@dataclass(frozen=True)
class Ping:
    received: int
    ttl: int | None
    output: str


def ping(ns: str, dst: str, count: int = 1, wait: float = 1.0) -> Ping:
    proc = subprocess.run(
        in_ns(ns, "ping", "-n", "-c", str(count), "-i", "0.2", "-W", str(wait), dst),
        capture_output=True,
        text=True,
        check=False,
    )
    received = re.search(r"(\d+) received", proc.stdout)
    ttl = re.search(r"ttl=(\d+)", proc.stdout)
    return Ping(
        received=int(received.group(1)) if received else 0,
        ttl=int(ttl.group(1)) if ttl else None,
        output=proc.stdout + proc.stderr,
    )


def exchange(ns: str, kind: str, dst: str, port: int, payload: str) -> str:
    """One TCP or UDP request from ``ns``; returns the echo ("" on failure)."""
    proc = subprocess.run(
        in_ns(ns, PY, "-c", ONE_EXCHANGE, kind, dst, str(port), payload),
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return proc.stdout


def martian_sources() -> int:
    """The kernel's count of packets dropped for a martian source (all namespaces, all CPUs:
    the counter is global, so only its growth during a test means anything)."""
    lines = Path("/proc/net/stat/rt_cache").read_text().splitlines()
    column = lines[0].split().index("in_martian_src")
    return sum(int(line.split()[column], 16) for line in lines[1:])


@dataclass
class Processes:
    """Processes a test started, stopped by PID when it ends."""

    running: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, ns: str, *argv: str, ready: str | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            in_ns(ns, *argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.running.append(proc)
        if ready is not None:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line == ready, f"{argv[:3]} in {ns} said {line!r}: {proc.stderr.read()}"  # type: ignore[union-attr]
        return proc

    def serve(self, ns: str, kind: str, ip: str, port: int) -> None:
        self.start(
            ns, PY, "-c", TCP_ECHO if kind == "tcp" else UDP_ECHO, ip, str(port), ready="ready"
        )

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.running.clear()


def conversation_result(proc: subprocess.Popen[str], timeout: float) -> dict[str, object]:
    out, _ = proc.communicate(timeout=timeout)
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result
