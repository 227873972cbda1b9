"""The firewall log writer over an in-memory nflog source: entries reach the Logging API, rules
with logging off and implied rules write nothing, the flow-log collector's denied packets are
left alone, readers a crashed run left are stopped by exact PID, and routers that go away stop
being watched."""

from __future__ import annotations

import asyncio
import errno
import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.controllers.firewall_logs import KIND_READER, OWNER, FirewallLogWriter
from intranode.domain import resources as R
from intranode.domain.firewall import FirewallInputs, Instance, VpcRule, parse_ref
from intranode.domain.firewall.logging import LoggedPacket
from intranode.domain.firewalls import firewall_document
from intranode.domain.flowlogs.observations import FiveTuple, ReaderProcess
from intranode.errors import DataplaneError
from intranode.store.ledger import SqliteLedger
from tests.unit.conftest import PROJECT

from .scenarios import policy

NS, OTHER_NS = "in-v-default", "in-v-other"
NETWORK = R.network_key(PROJECT, "default")
SUBNET = R.subnetwork_key(PROJECT, "us-central1", "default")
ZONE = "us-central1-a"
A_POD, B_POD = "10.52.0.5", "10.52.1.7"
T0 = 1795000000.25
FIREWALL_LOG = f"projects/{PROJECT}/logs/compute.googleapis.com%2Ffirewall"
NODES = (
    Instance("node-a", "0a01", "10.128.0.2", ("10.52.0.0/24",)),
    Instance("node-b", "0a02", "10.128.0.3", ("10.52.1.0/24",)),
)


def vpc_rule(rule_id: int, **body: Any) -> VpcRule:
    doc = firewall_document(PROJECT, body, now=0)
    doc["id"] = str(rule_id)
    return VpcRule.from_document(doc, PROJECT)


ALLOW_LOGGED = vpc_rule(
    11,
    name="allow-web",
    sourceRanges=["10.52.0.0/14"],
    allowed=[{"IPProtocol": "tcp", "ports": ["8080"]}],
    logConfig={"enable": True},
)
DENY_LOGGED = vpc_rule(
    12,
    name="deny-ssh",
    priority=10,
    sourceRanges=["10.52.0.0/14"],
    denied=[{"IPProtocol": "tcp", "ports": ["22"]}],
    logConfig={"enable": True},
)
DENY_QUIET = vpc_rule(
    13, name="deny-dns", priority=10, sourceRanges=["10.52.0.0/14"], denied=[{"IPProtocol": "udp"}]
)
FIREWALL = FirewallInputs(NETWORK, (ALLOW_LOGGED, DENY_LOGGED, DENY_QUIET), instances=NODES)


def tcp(dport: int, sport: int = 40000) -> FiveTuple:
    return FiveTuple(6, A_POD, B_POD, sport, dport)


def allowed(five: FiveTuple, rule: str = "I:fw:11", t: float = T0) -> LoggedPacket:
    return LoggedPacket(t, five, 60, rule, parse_ref(rule).direction)


def denied(five: FiveTuple, rule: str, t: float = T0) -> LoggedPacket:
    return LoggedPacket(t, five, 60, rule, parse_ref(rule).direction, "DENIED")


class Clock:
    def __init__(self) -> None:
        self.t = T0 + 1

    def __call__(self) -> float:
        return self.t


class FakeNflog:
    """What the writer may use of ``LinuxNflogSource``; the collector's ``denied`` queue is
    not among it, and touching it fails the test."""

    def __init__(self) -> None:
        self.allowed_q: dict[str, list[LoggedPacket]] = defaultdict(list)
        self.logging_q: dict[str, list[LoggedPacket]] = defaultdict(list)
        self.running: dict[str, ReaderProcess] = {}
        self.failing: dict[str, DataplaneError] = {}
        self.stopped: list[str] = []
        self.stale_stopped: list[ReaderProcess] = []
        self.alive_pids: set[int] = set()
        self.closed = False
        self._next_pid = 4242

    def _watch(self, netns: str) -> None:
        if netns in self.failing:
            raise self.failing[netns]
        if netns not in self.running:
            self.running[netns] = ReaderProcess(netns, self._next_pid, 900 + self._next_pid)
            self._next_pid += 1

    def allowed(self, netns: str) -> list[LoggedPacket]:
        self._watch(netns)
        out, self.allowed_q[netns] = self.allowed_q[netns], []
        return out

    def denied_for_logging(self, netns: str) -> list[LoggedPacket]:
        self._watch(netns)
        out, self.logging_q[netns] = self.logging_q[netns], []
        return out

    def denied(self, netns: str) -> list[Any]:
        raise AssertionError("the writer took the flow-log collector's denied packets")

    def readers(self) -> Mapping[str, ReaderProcess]:
        return dict(self.running)

    def stop_stale(self, process: ReaderProcess) -> bool:
        if process.pid not in self.alive_pids:
            return False
        self.stale_stopped.append(process)
        return True

    def stop_watching(self, netns: str) -> None:
        self.stopped.append(netns)
        self.running.pop(netns, None)

    def close(self) -> None:
        self.closed = True
        self.running.clear()


@pytest.fixture
def clock(ctx: Context) -> Clock:
    c = Clock()
    ctx.clock = c
    return c


@pytest.fixture
def source() -> FakeNflog:
    return FakeNflog()


@pytest.fixture
def writer(ctx: Context, clock: Clock, source: FakeNflog) -> FirewallLogWriter:
    for inst in NODES:
        put_instance(ctx, inst)
    return FirewallLogWriter(ctx, source)


def put_instance(ctx: Context, inst: Instance) -> None:
    doc = {
        "kind": "compute#instance",
        "name": inst.name,
        "zone": R.compute_link(f"projects/{PROJECT}/zones/{ZONE}"),
        "networkInterfaces": [
            {
                "network": R.compute_link(NETWORK),
                "subnetwork": R.compute_link(SUBNET),
                "networkIP": inst.ip,
                "aliasIpRanges": [{"ipCidrRange": r} for r in inst.alias_ranges],
            }
        ],
    }
    key = R.instance_key(PROJECT, ZONE, inst.name)
    ctx.resources.put(R.INSTANCE, key, f"projects/{PROJECT}/zones/{ZONE}", doc)


def firewall_entries(client: TestClient) -> list[dict[str, Any]]:
    body = {"resourceNames": [f"projects/{PROJECT}"], "filter": f'logName="{FIREWALL_LOG}"'}
    response = client.post(
        "/v2/entries:list", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    return list(response.json().get("entries", []))


def reader_rows(ctx: Context) -> list[tuple[str, dict[str, str]]]:
    return [
        (e.name, dict(e.data)) for e in SqliteLedger(ctx.db).entries(OWNER) if e.kind == KIND_READER
    ]


# -- entries ------------------------------------------------------------------------------------
def test_logged_connections_reach_the_logging_api(
    client: TestClient, ctx: Context, writer: FirewallLogWriter, source: FakeNflog
) -> None:
    source.allowed_q[NS].append(allowed(tcp(8080)))
    source.logging_q[NS].append(denied(tcp(22, 40001), "I:fw:12", T0 + 0.5))
    assert writer.tick({NS: FIREWALL}) == 2
    got = firewall_entries(client)
    subnet = ctx.resources.get(R.SUBNETWORK, SUBNET)
    assert subnet is not None
    assert [(e["timestamp"], e["jsonPayload"]["disposition"]) for e in got] == [
        ("2026-11-18T11:06:40.250Z", "ALLOWED"),
        ("2026-11-18T11:06:40.750Z", "DENIED"),
    ]
    first = got[0]
    assert first["logName"] == FIREWALL_LOG
    assert first["resource"] == {
        "type": "gce_subnetwork",
        "labels": {
            "project_id": PROJECT,
            "subnetwork_id": str(subnet.data["id"]),
            "subnetwork_name": "default",
            "location": ZONE,
        },
    }
    assert first["insertId"] and first["receiveTimestamp"]
    assert first["jsonPayload"]["rule_details"]["reference"] == "network:default/firewall:allow-web"
    assert first["jsonPayload"]["instance"]["vm_name"] == "node-b"
    assert first["jsonPayload"]["remote_instance"]["vm_name"] == "node-a"
    assert got[1]["jsonPayload"]["connection"]["dest_port"] == 22
    # Drained: the next tick has nothing new to say.
    assert writer.tick({NS: FIREWALL}) == 0
    assert len(firewall_entries(client)) == 2


def test_nothing_is_written_for_rules_with_logging_off(
    client: TestClient, writer: FirewallLogWriter, source: FakeNflog
) -> None:
    source.logging_q[NS] += [
        denied(FiveTuple(17, A_POD, B_POD, 5000, 53), "I:fw:13"),
        denied(FiveTuple(17, A_POD, B_POD, 5001, 53), "I:fw:13", T0 + 6),
    ]
    assert writer.tick({NS: FIREWALL}) == 0
    assert firewall_entries(client) == []


def test_implied_rules_never_log(
    client: TestClient, writer: FirewallLogWriter, source: FakeNflog
) -> None:
    source.logging_q[NS].append(denied(tcp(9999), "I:implied"))
    source.allowed_q[NS].append(allowed(tcp(9999), "E:implied"))
    assert writer.tick({NS: FIREWALL}) == 0
    assert firewall_entries(client) == []


def test_denied_retries_across_ticks_make_one_entry_per_window(
    client: TestClient, writer: FirewallLogWriter, source: FakeNflog, clock: Clock
) -> None:
    for second in (0, 1, 2, 6):
        source.logging_q[NS].append(denied(tcp(22), "I:fw:12", T0 + second))
        clock.t = T0 + second + 0.5
        writer.tick({NS: FIREWALL})
    assert [e["timestamp"] for e in firewall_entries(client)] == [
        "2026-11-18T11:06:40.250Z",
        "2026-11-18T11:06:46.250Z",
    ]


def test_instances_added_later_are_found(
    client: TestClient, ctx: Context, clock: Clock, source: FakeNflog
) -> None:
    put_instance(ctx, NODES[0])
    writer = FirewallLogWriter(ctx, source)
    source.allowed_q[NS].append(allowed(tcp(8080)))
    assert writer.tick({NS: FIREWALL}) == 0  # node-b, the VM it applied to, is unknown
    put_instance(ctx, NODES[1])
    source.allowed_q[NS].append(allowed(tcp(8080, 40002)))
    assert writer.tick({NS: FIREWALL}) == 1
    assert firewall_entries(client)[0]["jsonPayload"]["connection"]["src_port"] == 40002


def test_a_failing_router_does_not_hold_back_the_others(
    client: TestClient, writer: FirewallLogWriter, source: FakeNflog
) -> None:
    source.failing[OTHER_NS] = DataplaneError("tcpdump on nflog did not start: busy", errno=16)
    source.failing["in-v-gone"] = DataplaneError("no such namespace", errno=errno.ENOENT)
    source.allowed_q[NS].append(allowed(tcp(8080)))
    inputs = {OTHER_NS: FIREWALL, "in-v-gone": FIREWALL, NS: FIREWALL}
    assert writer.tick(inputs) == 1
    assert len(firewall_entries(client)) == 1


def test_a_rule_set_the_model_refuses_writes_nothing_and_says_why(
    client: TestClient, writer: FirewallLogWriter, source: FakeNflog, caplog: Any
) -> None:
    two = (policy("1", NETWORK, hierarchical=False), policy("2", NETWORK, hierarchical=False))
    broken = FirewallInputs(NETWORK, (ALLOW_LOGGED,), policies=two, instances=NODES)
    source.allowed_q[NS].append(allowed(tcp(8080)))
    assert writer.tick({NS: broken}) == 0
    assert "more than one firewall policy" in caplog.text
    assert firewall_entries(client) == []


# -- helper processes ------------------------------------------------------------------------------
def test_readers_are_recorded_and_a_crashed_runs_are_stopped_by_pid(
    ctx: Context, writer: FirewallLogWriter, source: FakeNflog
) -> None:
    writer.tick({NS: FIREWALL})
    assert reader_rows(ctx) == [("4242", {"netns": NS, "start_time": "5142"})]

    # The daemon died here (no close): the next run stops that exact process first.
    after = FakeNflog()
    after.alive_pids = {4242}
    FirewallLogWriter(ctx, after)
    assert after.stale_stopped == [ReaderProcess(NS, 4242, 5142)]
    assert reader_rows(ctx) == []


def test_a_reader_that_is_gone_already_is_only_forgotten(
    ctx: Context, writer: FirewallLogWriter, source: FakeNflog
) -> None:
    writer.tick({NS: FIREWALL})
    after = FakeNflog()  # pid 4242 no longer runs tcpdump with that start time
    FirewallLogWriter(ctx, after)
    assert after.stale_stopped == []
    assert reader_rows(ctx) == []


def test_routers_that_go_away_stop_being_watched(
    ctx: Context, writer: FirewallLogWriter, source: FakeNflog
) -> None:
    writer.tick({NS: FIREWALL, OTHER_NS: FIREWALL})
    assert {name for name, _ in reader_rows(ctx)} == {"4242", "4243"}
    writer.tick({NS: FIREWALL})
    assert source.stopped == [OTHER_NS]
    assert reader_rows(ctx) == [("4242", {"netns": NS, "start_time": "5142"})]


def test_close_writes_the_last_packets_then_stops_the_readers(
    client: TestClient, ctx: Context, writer: FirewallLogWriter, source: FakeNflog
) -> None:
    writer.tick({NS: FIREWALL})
    source.allowed_q[NS].append(allowed(tcp(8080)))
    writer.close(final={NS: FIREWALL})
    assert source.closed
    assert reader_rows(ctx) == []
    assert len(firewall_entries(client)) == 1


def test_run_ticks_until_stopped(
    client: TestClient, writer: FirewallLogWriter, source: FakeNflog
) -> None:
    source.allowed_q[NS].append(allowed(tcp(8080)))

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(writer.run(stop, lambda: {NS: FIREWALL}, every=0.01))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if not source.allowed_q[NS] and NS in source.running:
                break
        stop.set()
        await task

    asyncio.run(main())
    assert len(firewall_entries(client)) == 1
