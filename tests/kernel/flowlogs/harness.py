"""A VPC router between two client namespaces, for flow-log tests and ``bench/flowlogs.py``.

``Lab.create()`` makes ``<prefix>r`` (the router: ``ip_forward=1``, ``nf_conntrack_acct=1``,
``nf_conntrack_timestamp=1`` and an nftables ``ct state`` rule so conntrack tracks), ``<prefix>a``
(10.251.1.2/24) and ``<prefix>b`` (10.251.2.2/24), each client's default route via the router,
and in each client an nftables table counting its own TCP packets and bytes at the IP level
(``output`` and ``input`` hooks). Every name starts with a fresh ``t<4 hex>-`` prefix; ``close()``
stops the processes it started (by PID) and deletes the namespaces by exact name. Nothing in the
host's root namespace is touched. Traffic stays between addresses inside these namespaces.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intranode.config import Settings
from intranode.controllers.context import Context
from intranode.domain.resources import INSTANCE, SUBNETWORK, compute_link

PY = sys.executable
A_IP, B_IP = "10.251.1.2", "10.251.2.2"
PROJECT = "flow-proj"
NETWORK = "vpc1"

ROUTER_RULES = """
table inet vpc {
  chain vpc_forward {
    type filter hook forward priority 0; policy accept;
    ct state established,related accept
    ct state new accept
  }
}
"""
# The client's own view of its TCP traffic, at the IP level (what conntrack counts too).
CLIENT_COUNTERS = """
table inet own {
  counter sent { }
  counter received { }
  chain out {
    type filter hook output priority 0; policy accept;
    ip protocol tcp counter name sent
  }
  chain in {
    type filter hook input priority 0; policy accept;
    ip protocol tcp counter name received
  }
}
"""

# Answers each connection's request "<n>\\n" with n bytes, or swallows an upload "u\\n..."
# until the peer closes; prints "ready" once listening.
SERVER = textwrap.dedent(
    """
    import asyncio, sys
    CHUNK = b"x" * 65536
    async def handle(reader, writer):
        try:
            line = await reader.readline()
            if line.startswith(b"u"):
                while await reader.read(1 << 16):
                    pass
            else:
                n = int(line)
                while n > 0:
                    writer.write(CHUNK[: min(n, len(CHUNK))])
                    n -= min(n, len(CHUNK))
                    await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()
    async def main():
        srv = await asyncio.start_server(handle, sys.argv[1], int(sys.argv[2]), backlog=4096)
        print("ready", flush=True)
        async with srv:
            await srv.serve_forever()
    asyncio.run(main())
    """
)

# Short connections: `count` requests of `size` bytes each, `concurrency` at a time, paced to
# at most `rate` connections per second (0: as fast as possible). Prints JSON: the local ports
# used, bytes received, failures.
SHORT_CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    dst, port, count, size, concurrency = sys.argv[1], *map(int, sys.argv[2:6])
    rate = float(sys.argv[6])
    ports, received, failures = [], 0, 0
    async def one():
        global received, failures
        try:
            reader, writer = await asyncio.open_connection(dst, port)
            ports.append(writer.get_extra_info("sockname")[1])
            writer.write(b"%d\\n" % size)
            await writer.drain()
            got = 0
            while chunk := await reader.read(1 << 16):
                got += len(chunk)
            received += got
            writer.close()
            if got != size:
                failures += 1
        except OSError:
            failures += 1
    async def main():
        sem = asyncio.Semaphore(concurrency)
        start = time.monotonic()
        async def gated(i):
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            async with sem:
                await one()
        await asyncio.gather(*(gated(i) for i in range(count)))
        print(json.dumps({"ports": ports, "received": received, "failures": failures,
                          "seconds": time.monotonic() - start}), flush=True)
    asyncio.run(main())
    """
)

# One long upload of `total` bytes at about `rate` bytes/s; prints "connected" then JSON.
LONG_CLIENT = textwrap.dedent(
    """
    import json, socket, sys, time
    dst, port, total, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    s = socket.create_connection((dst, port))
    local = s.getsockname()[1]
    print("connected", flush=True)
    s.sendall(b"u\\n")
    sent, start, chunk = 2, time.monotonic(), b"y" * 16384
    while sent < total:
        n = min(len(chunk), total - sent)
        s.sendall(chunk[:n])
        sent += n
        ahead = start + sent / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    print(json.dumps({"port": local, "sent": sent}), flush=True)
    """
)


# Connections one after the other from one local port (SO_REUSEADDR; the server closes first,
# so the client keeps no TIME_WAIT): each new SYN makes conntrack replace the entry of the
# last one, same tuple and often the same id. Requests "<n>\\n" for each size in turn, with
# `pause` seconds between connections; prints JSON: the port and the bytes received.
REUSE_CLIENT = textwrap.dedent(
    """
    import json, socket, sys, time
    dst, port, local, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    sizes = [int(x) for x in sys.argv[5].split(",")]
    got = []
    for size in sizes:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", local))
        s.connect((dst, port))
        s.sendall(b"%d\\n" % size)
        n = 0
        while chunk := s.recv(1 << 16):
            n += len(chunk)
        s.close()
        got.append(n)
        time.sleep(pause)
    print(json.dumps({"port": local, "received": got}), flush=True)
    """
)


def run(argv: Sequence[str], stdin: str | None = None) -> str:
    proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


@dataclass
class Lab:
    prefix: str
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    made: list[str] = field(default_factory=list)

    @property
    def router(self) -> str:
        return f"{self.prefix}r"

    @property
    def a(self) -> str:
        return f"{self.prefix}a"

    @property
    def b(self) -> str:
        return f"{self.prefix}b"

    @classmethod
    def create(cls, *, time_wait: int | None = None) -> Lab:
        lab = cls(f"t{secrets.token_hex(2)}-")
        try:
            lab._build(time_wait)
        except BaseException:
            lab.close()
            raise
        return lab

    def _build(self, time_wait: int | None) -> None:
        for ns in (self.router, self.a, self.b):
            self.made.append(ns)
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        for client, ip, link, gw in (
            (self.a, A_IP, "ra", "10.251.1.1"),
            (self.b, B_IP, "rb", "10.251.2.1"),
        ):
            run(
                [
                    "ip",
                    "link",
                    "add",
                    link,
                    "netns",
                    self.router,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    client,
                ]
            )
            run(["ip", "-n", self.router, "addr", "add", f"{gw}/24", "dev", link])
            run(["ip", "-n", self.router, "link", "set", link, "up"])
            run(["ip", "-n", client, "addr", "add", f"{ip}/24", "dev", "eth0"])
            run(["ip", "-n", client, "link", "set", "eth0", "up"])
            run(["ip", "-n", client, "route", "add", "default", "via", gw])
            run(in_ns(client, "nft", "-f", "-"), CLIENT_COUNTERS)
        sysctls = [
            "net.ipv4.ip_forward=1",
            "net.netfilter.nf_conntrack_acct=1",
            "net.netfilter.nf_conntrack_timestamp=1",
        ]
        run(in_ns(self.router, "nft", "-f", "-"), ROUTER_RULES)  # loads conntrack for the netns
        if time_wait is not None:
            sysctls.append(f"net.netfilter.nf_conntrack_tcp_timeout_time_wait={time_wait}")
        run(in_ns(self.router, "sysctl", "-qw", *sysctls))

    # -- processes ---------------------------------------------------------------------------------
    def spawn(self, ns: str, *argv: str, ready: str | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            in_ns(ns, *argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.procs.append(proc)
        if ready is not None:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != ready:
                raise RuntimeError(f"{argv[:3]} in {ns} said {line!r}")
        return proc

    def serve(self, port: int) -> subprocess.Popen[str]:
        return self.spawn(self.b, PY, "-c", SERVER, B_IP, str(port), ready="ready")

    def short_connections(
        self, port: int, count: int, size: int, *, concurrency: int = 20, rate: float = 0
    ) -> subprocess.Popen[str]:
        return self.spawn(
            self.a,
            PY,
            "-c",
            SHORT_CLIENT,
            B_IP,
            str(port),
            str(count),
            str(size),
            str(concurrency),
            str(rate),
        )

    def reused_port(
        self, port: int, local: int, sizes: Sequence[int], pause: float
    ) -> subprocess.Popen[str]:
        return self.spawn(
            self.a,
            PY,
            "-c",
            REUSE_CLIENT,
            B_IP,
            str(port),
            str(local),
            str(pause),
            ",".join(str(n) for n in sizes),
        )

    def long_upload(self, port: int, total: int, rate: float) -> subprocess.Popen[str]:
        return self.spawn(
            self.a,
            PY,
            "-c",
            LONG_CLIENT,
            B_IP,
            str(port),
            str(total),
            str(rate),
            ready="connected",
        )

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self.procs.clear()
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)
        self.made.clear()

    # -- what the kernel counted ------------------------------------------------------------------
    def client_counters(self) -> dict[str, tuple[int, int]]:
        """Client a's own TCP counters: ``sent`` and ``received`` (packets, bytes)."""
        data = json.loads(run(in_ns(self.a, "nft", "-j", "list", "counters")))
        out: dict[str, tuple[int, int]] = {}
        for item in data["nftables"]:
            c = item.get("counter")
            if c and c.get("table") == "own":
                out[c["name"]] = (int(c["packets"]), int(c["bytes"]))
        return out


def result(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"client failed ({proc.returncode}): {err.strip()}")
    value: dict[str, Any] = json.loads(lines[-1])
    return value


def make_context(state_dir: Path, *, interval: str = "INTERVAL_5_SEC") -> Context:
    """A daemon context whose store knows the two clients as VMs in two subnets, both with
    flow logs on at flowSampling 1.0."""
    ctx = Context.open(Settings(state_dir=state_dir, project=PROJECT), "token")
    net = compute_link(f"projects/{PROJECT}/global/networks/{NETWORK}")
    for name, sid, cidr in (
        ("subnet-a", "11", "10.251.1.0/24"),
        ("subnet-b", "12", "10.251.2.0/24"),
    ):
        key = f"projects/{PROJECT}/regions/us-central1/subnetworks/{name}"
        if ctx.resources.get(SUBNETWORK, key) is not None:
            continue
        ctx.resources.create(
            SUBNETWORK,
            key,
            f"projects/{PROJECT}/regions/us-central1",
            {
                "name": name,
                "id": sid,
                "network": net,
                "ipCidrRange": cidr,
                "enableFlowLogs": True,
                "logConfig": {
                    "enable": True,
                    "aggregationInterval": interval,
                    "flowSampling": 1.0,
                    "metadata": "INCLUDE_ALL_METADATA",
                },
            },
        )
    for name, ip, subnet in (("vm-a", A_IP, "subnet-a"), ("vm-b", B_IP, "subnet-b")):
        key = f"projects/{PROJECT}/zones/us-central1-a/instances/{name}"
        if ctx.resources.get(INSTANCE, key) is not None:
            continue
        ctx.resources.create(
            INSTANCE,
            key,
            f"projects/{PROJECT}/zones/us-central1-a",
            {
                "name": name,
                "networkInterfaces": [
                    {
                        "network": net,
                        "subnetwork": compute_link(
                            f"projects/{PROJECT}/regions/us-central1/subnetworks/{subnet}"
                        ),
                        "networkIP": ip,
                    }
                ],
            },
        )
    return ctx


def flow_entries(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.reading() as conn:
        rows = conn.execute(
            "SELECT entry FROM log_entries WHERE log_name LIKE '%vpc_flows'"
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


Key = tuple[str, int, str, int, str]


def record_totals(entries: list[dict[str, Any]]) -> dict[Key, tuple[int, int]]:
    out: dict[Key, tuple[int, int]] = {}
    for e in entries:
        p = e["jsonPayload"]
        c = p["connection"]
        key = (c["src_ip"], c["src_port"], c["dest_ip"], c["dest_port"], p["reporter"])
        pk, by = out.get(key, (0, 0))
        out[key] = (pk + int(p["packets_sent"]), by + int(p["bytes_sent"]))
    return out
