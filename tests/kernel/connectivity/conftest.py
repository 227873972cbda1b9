"""Kernel fixtures for the live prober (root only): two namespaces of a fresh ``t<4 hex>-``
prefix joined by a veth pair (``<prefix>p-0a01`` 10.77.0.1, ``<prefix>p-0a02`` 10.77.0.2),
made by the production data plane and recorded in a ledger of their own, with servers in the
destination. Everything is removed by exact name from that ledger whatever the tests do;
afterwards no namespace of the prefix is left and the host's own links, routes, rules and
nftables tables are as they were. Traffic only flows between these two namespaces."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from intranode.dataplane.fake.ledger import MemoryLedger
from intranode.dataplane.linux import LinuxDataplane
from intranode.dataplane.runtime import linux
from intranode.dataplane.runtime.sandbox import netns_path
from intranode.dataplane.teardown import teardown
from intranode.domain.netplan import (
    AddAddress,
    CreateNetns,
    CreateVethPair,
    LinkUp,
    NftRuleset,
)

SRC_IP, DST_IP = "10.77.0.1", "10.77.0.2"
TCP_OPEN, TCP_CLOSED, TCP_DROPPED_AT_DST, TCP_DROPPED_AT_SRC = 8080, 8081, 8082, 8083
UDP_ECHO, UDP_CLOSED, UDP_SILENT = 5353, 5354, 5355
TABLE = "tprobe"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.kernel)


def _host_state() -> dict[str, str]:
    return {
        name: subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        for name, argv in {
            "links": ["ip", "-o", "link"],
            "routes": ["ip", "route", "show", "table", "all"],
            "rules": ["ip", "rule"],
            "nft": ["nft", "list", "tables"],
        }.items()
    }


def _netns_list() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def _drops(ns: str, hook: str, rules: list[list[dict[str, object]]]) -> NftRuleset:
    chain = {"family": "inet", "table": TABLE, "name": hook, "type": "filter", "hook": hook}
    commands: list[dict[str, object]] = [
        {"add": {"chain": {**chain, "prio": 0, "policy": "accept"}}},
        *(
            {"add": {"rule": {"family": "inet", "table": TABLE, "chain": hook, "expr": expr}}}
            for expr in rules
        ),
    ]
    return NftRuleset(ns, "inet", TABLE, json.dumps(commands))


def _match(protocol: str, fld: str, value: object) -> dict[str, object]:
    left = {"payload": {"protocol": protocol, "field": fld}}
    return {"match": {"op": "==", "left": left, "right": value}}


@dataclass
class ProbeLab:
    prefix: str
    ledger: MemoryLedger = field(default_factory=MemoryLedger)
    dp: LinuxDataplane = field(init=False)
    sockets: list[socket.socket] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def src(self) -> str:
        return f"{self.prefix}p-0a01"

    @property
    def dst(self) -> str:
        return f"{self.prefix}p-0a02"

    def build(self) -> None:
        self.dp = LinuxDataplane(self.ledger)
        owner = "probe-lab"
        self.dp.apply(
            [
                CreateNetns(self.src),
                CreateNetns(self.dst),
                CreateVethPair(self.src, "eth0", self.dst, "eth0", 1500),
                AddAddress(self.src, "eth0", f"{SRC_IP}/24"),
                AddAddress(self.dst, "eth0", f"{DST_IP}/24"),
                LinkUp(self.src, "eth0"),
                LinkUp(self.dst, "eth0"),
                LinkUp(self.src, "lo"),
                LinkUp(self.dst, "lo"),
                _drops(
                    self.dst,
                    "input",
                    [
                        [_match("tcp", "dport", TCP_DROPPED_AT_DST), {"drop": None}],
                        [_match("icmp", "type", "echo-request"), {"drop": None}],
                    ],
                ),
                _drops(
                    self.src,
                    "output",
                    [[_match("tcp", "dport", TCP_DROPPED_AT_SRC), {"drop": None}]],
                ),
            ],
            owner=owner,
        )
        self._serve()

    def allow_echo(self, allowed: bool) -> None:
        """Echo requests are dropped at the destination's input unless ``allowed``."""
        rules = [[_match("tcp", "dport", TCP_DROPPED_AT_DST), {"drop": None}]]
        if not allowed:
            rules.append([_match("icmp", "type", "echo-request"), {"drop": None}])
        self.dp.apply([_drops(self.dst, "input", rules)], owner="probe-lab")

    def _socket(self, kind: int) -> socket.socket:
        path = netns_path(self.dst)

        def make() -> socket.socket:
            linux.enter_namespaces(net=path)
            return socket.socket(socket.AF_INET, kind)

        sock = linux.in_new_thread(make)
        sock.settimeout(0.2)
        self.sockets.append(sock)
        return sock

    def _serve(self) -> None:
        tcp = self._socket(socket.SOCK_STREAM)
        tcp.bind((DST_IP, TCP_OPEN))
        tcp.listen(64)
        echo = self._socket(socket.SOCK_DGRAM)
        echo.bind((DST_IP, UDP_ECHO))
        silent = self._socket(socket.SOCK_DGRAM)
        silent.bind((DST_IP, UDP_SILENT))

        def accept() -> None:
            while not self.stop.is_set():
                with suppress(OSError):
                    conn, _ = tcp.accept()
                    conn.close()

        def answer() -> None:
            while not self.stop.is_set():
                with suppress(OSError):
                    data, peer = echo.recvfrom(2048)
                    echo.sendto(data, peer)

        for fn in (accept, answer):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self.threads.append(t)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=2)
        for sock in self.sockets:
            sock.close()
        if not hasattr(self, "dp"):
            return
        try:
            teardown(self.ledger, self.dp)
        finally:
            self.dp.close()


@pytest.fixture(scope="session")
def lab() -> Iterator[ProbeLab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    before = _host_state()
    made = ProbeLab(f"t{secrets.token_hex(2)}-")
    try:
        made.build()
        yield made
    finally:
        made.close()
        assert [n for n in _netns_list() if n.startswith(made.prefix)] == []
        assert _host_state() == before
