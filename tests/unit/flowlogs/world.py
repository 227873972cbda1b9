"""A small VPC for flow-log tests: two subnets, two GKE nodes, pods, and a fake conntrack.

``vpc1`` has ``subnet-a`` (10.0.1.0/24, us-central1) with node ``node-a`` (10.0.1.10, pods
10.4.0.0/24, zone us-central1-a) and ``subnet-b`` (10.0.2.0/24) with ``node-b`` (10.0.2.10, pods
10.4.1.0/24, zone us-central1-b). Cluster ``c1`` runs ``client-7d9b5-x2x4q`` (Deployment
``client``, 10.4.0.5) and ``server-0`` (StatefulSet ``server``, Service ``server``, 10.4.0.9)
on node-a and ``lonely`` (a bare pod, 10.4.1.7) on node-b. The router namespace is ``rt``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from intranode.controllers.context import Context
from intranode.domain.flowlogs.observations import (
    ConntrackEntry,
    Counters,
    FiveTuple,
    ReaderProcess,
)
from intranode.domain.resources import (
    CLUSTER,
    INSTANCE,
    SUBNETWORK,
    compute_link,
    k8s_key,
    k8s_kind,
    k8s_parent,
)

P = "test-proj"
NETNS = "rt"
T0 = 1_800_000_000.0  # a multiple of every aggregation interval
CLUSTER_KEY = f"projects/{P}/locations/us-central1/clusters/c1"
CLIENT, SERVER, LONELY = "10.4.0.5", "10.4.0.9", "10.4.1.7"
NODE_A, NODE_B = "10.0.1.10", "10.0.2.10"
SUBNET_A = f"projects/{P}/regions/us-central1/subnetworks/subnet-a"
SUBNET_B = f"projects/{P}/regions/us-central1/subnetworks/subnet-b"


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeSource:
    """conntrack as a dict: tests set entries, destroy them, and the collector reads."""

    def __init__(self) -> None:
        self.table: dict[int, ConntrackEntry] = {}
        self.events: list[ConntrackEntry] = []
        self.watching: set[str] = set()
        self.closed = False
        self.listings = 0

    def put(self, *entries: ConntrackEntry) -> None:
        for e in entries:
            self.table[e.ct_id] = e

    def destroy(self, ct_id: int, at: float, final: ConntrackEntry | None = None) -> None:
        entry = final or self.table[ct_id]
        self.table.pop(ct_id, None)
        self.events.append(entry._replace(time=at))

    def snapshot(self, netns: str) -> list[ConntrackEntry]:
        self.listings += 1
        return list(self.table.values())

    def destroyed(self, netns: str) -> list[ConntrackEntry]:
        self.watching.add(netns)
        out, self.events = self.events, []
        return out

    def readers(self) -> Mapping[str, ReaderProcess]:
        return {}

    def stop_stale(self, process: ReaderProcess) -> bool:
        return False

    def stop_watching(self, netns: str) -> None:
        self.watching.discard(netns)

    def close(self) -> None:
        self.closed = True


def tcp(
    ct_id: int,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    orig: tuple[int, int],
    reply: tuple[int, int],
    age: int = 0,
    start: float | None = None,
) -> ConntrackEntry:
    """A TCP entry; ``start`` (seconds) is the kernel's start timestamp, when it prints one."""
    return ConntrackEntry(
        ct_id,
        FiveTuple(6, src, dst, sport, dport),
        FiveTuple(6, dst, src, dport, sport),
        Counters(*orig),
        Counters(*reply),
        age,
        None,
        None if start is None else round(start * 1e9),
    )


def log_config(**kw: Any) -> dict[str, Any]:
    lc: dict[str, Any] = {
        "enable": True,
        "aggregationInterval": "INTERVAL_5_SEC",
        "flowSampling": 1.0,
        "metadata": "INCLUDE_ALL_METADATA",
    }
    lc.update(kw)
    return lc


def set_log_config(ctx: Context, subnet_key: str, lc: dict[str, Any] | None) -> None:
    res = ctx.resources.get(SUBNETWORK, subnet_key)
    assert res is not None
    doc = dict(res.data)
    if lc is None:
        doc.pop("logConfig", None)
        doc["enableFlowLogs"] = False
    else:
        doc["logConfig"] = lc
        doc["enableFlowLogs"] = bool(lc.get("enable"))
    ctx.resources.update(SUBNETWORK, subnet_key, doc)


def _pod(
    name: str, ip: str, labels: dict[str, str], owner: dict[str, Any] | None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": labels}
    if owner:
        meta["ownerReferences"] = [{**owner, "controller": True}]
    return {"metadata": meta, "spec": {}, "status": {"podIP": ip}}


def build_world(
    ctx: Context, *, a: dict[str, Any] | None = None, b: dict[str, Any] | None = None
) -> None:
    """The VPC above; ``a``/``b`` are the subnets' logConfig (None: flow logs off)."""
    net = compute_link(f"projects/{P}/global/networks/vpc1")
    for key, name, cidr, sid, lc in (
        (SUBNET_A, "subnet-a", "10.0.1.0/24", "1001", a),
        (SUBNET_B, "subnet-b", "10.0.2.0/24", "1002", b),
    ):
        doc: dict[str, Any] = {"name": name, "id": sid, "network": net, "ipCidrRange": cidr}
        if lc is not None:
            doc["logConfig"] = lc
            doc["enableFlowLogs"] = bool(lc.get("enable"))
        ctx.resources.create(SUBNETWORK, key, f"projects/{P}/regions/us-central1", doc)
    for name, zone, ip, pods, subnet in (
        ("node-a", "us-central1-a", NODE_A, "10.4.0.0/24", SUBNET_A),
        ("node-b", "us-central1-b", NODE_B, "10.4.1.0/24", SUBNET_B),
    ):
        ctx.resources.create(
            INSTANCE,
            f"projects/{P}/zones/{zone}/instances/{name}",
            f"projects/{P}/zones/{zone}",
            {
                "name": name,
                "networkInterfaces": [
                    {
                        "network": net,
                        "subnetwork": compute_link(subnet),
                        "networkIP": ip,
                        "aliasIpRanges": [{"ipCidrRange": pods, "subnetworkRangeName": "pods"}],
                    }
                ],
                "metadata": {
                    "items": [
                        {
                            "key": "created-by",
                            "value": f"projects/1/zones/{zone}/instanceGroupManagers/grp-{name}",
                        }
                    ]
                },
            },
        )
    ctx.resources.create(
        CLUSTER,
        CLUSTER_KEY,
        f"projects/{P}/locations/us-central1",
        {"name": "c1", "location": "us-central1", "network": "vpc1"},
    )
    objects = [
        (
            "replicasets",
            "client-7d9b5",
            {
                "kind": "ReplicaSet",
                "metadata": {
                    "name": "client-7d9b5",
                    "namespace": "default",
                    "ownerReferences": [
                        {"kind": "Deployment", "name": "client", "controller": True}
                    ],
                },
            },
        ),
        (
            "services",
            "server",
            {
                "kind": "Service",
                "metadata": {"name": "server", "namespace": "default"},
                "spec": {"selector": {"app": "server"}},
            },
        ),
        (
            "pods",
            "client-7d9b5-x2x4q",
            _pod(
                "client-7d9b5-x2x4q",
                CLIENT,
                {"app": "client"},
                {"kind": "ReplicaSet", "name": "client-7d9b5"},
            ),
        ),
        (
            "pods",
            "server-0",
            _pod("server-0", SERVER, {"app": "server"}, {"kind": "StatefulSet", "name": "server"}),
        ),
        ("pods", "lonely", _pod("lonely", LONELY, {}, None)),
    ]
    for plural, name, obj in objects:
        ctx.resources.create(
            k8s_kind(plural),
            k8s_key(CLUSTER_KEY, plural, name, "default"),
            k8s_parent(CLUSTER_KEY, "default"),
            obj,
        )


def stored_entries(ctx: Context) -> list[dict[str, Any]]:
    import json

    with ctx.db.reading() as conn:
        rows = conn.execute(
            "SELECT entry FROM log_entries WHERE log_name LIKE '%vpc_flows' ORDER BY seq"
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


def totals(entries: list[dict[str, Any]]) -> dict[tuple[Any, ...], tuple[int, int]]:
    """(src, sport, dst, dport, reporter) -> (packets, bytes) summed over entries."""
    out: dict[tuple[Any, ...], tuple[int, int]] = {}
    for e in entries:
        p = e["jsonPayload"]
        c = p["connection"]
        key = (c["src_ip"], c.get("src_port"), c["dest_ip"], c.get("dest_port"), p["reporter"])
        pk, by = out.get(key, (0, 0))
        out[key] = (pk + int(p["packets_sent"]), by + int(p["bytes_sent"]))
    return out
