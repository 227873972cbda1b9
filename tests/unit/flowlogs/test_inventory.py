"""Who is behind an IP: instances by primary IP and alias range, pods with workload and
services."""

from __future__ import annotations

from typing import Any

from intranode.domain.flowlogs.inventory import (
    InstanceInfo,
    Inventory,
    InventoryInput,
    LogConfig,
    SubnetInfo,
    pods_of_cluster,
)


def _pod(name: str, ip: str, owner: tuple[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "labels": {"app": name}}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {"metadata": meta, "spec": spec, "status": {"podIP": ip}}


def _owner(kind: str, name: str, parent: tuple[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if parent:
        meta["ownerReferences"] = [{"kind": parent[0], "name": parent[1], "controller": True}]
    return {"kind": kind, "metadata": meta}


def _svc(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"selector": selector}}


def test_workloads_are_top_level_controllers_and_services_are_capped() -> None:
    pods = pods_of_cluster(
        network="vpc",
        cluster="c",
        location="z",
        pods=[
            _pod("web", "10.4.0.2", ("ReplicaSet", "web-5d")),
            _pod("orphan-rs", "10.4.0.3", ("ReplicaSet", "bare")),
            _pod("batch", "10.4.0.4", ("Job", "nightly-27")),
            _pod("agent", "10.4.0.5", ("DaemonSet", "agent")),
            _pod("host", "10.0.0.2", ("DaemonSet", "agent"), hostNetwork=True),
            _pod("pending", "", None),
        ],
        owners=[
            _owner("ReplicaSet", "web-5d", ("Deployment", "web")),
            _owner("ReplicaSet", "bare", None),
            _owner("Job", "nightly-27", ("CronJob", "nightly")),
        ],
        services=[
            _svc("web", {"app": "web"}),
            _svc("agent-a", {"app": "agent"}),
            _svc("agent-b", {"app": "agent"}),
            _svc("agent-c", {"app": "agent"}),
            _svc("headless", {}),
        ],
    )
    got = {p.name: (p.workload_name, p.workload_type, p.services) for p in pods}
    assert got == {
        "web": ("web", "DEPLOYMENT", (("web", "ns"),)),
        "orphan-rs": ("bare", "REPLICA_SET", ()),
        "batch": ("nightly", "CRON_JOB", ()),
        "agent": ("agent", "DAEMON_SET", (("MANY_SERVICES", ""),)),
    }


def test_addresses_resolve_by_primary_ip_then_alias_range_within_the_network() -> None:
    subnet = SubnetInfo("s", "1", "s", "p", "r", "vpc", LogConfig(enabled=True))
    inv = Inventory(
        InventoryInput(
            [subnet],
            [
                InstanceInfo("i/a", "a", "p", "r-a", "vpc", "s", "10.0.0.2", ("10.4.0.0/24",)),
                InstanceInfo("i/b", "b", "p", "r-a", "vpc", "s", "10.0.0.3", ("10.4.1.0/24",)),
                InstanceInfo("i/x", "x", "p", "r-a", "other", "s", "10.0.0.4", ()),
            ],
        )
    )
    found = {
        ip: (ep.instance.name if ep else None)
        for ip in ("10.0.0.2", "10.4.0.77", "10.4.1.255", "10.4.2.1", "10.0.0.4", "bogus")
        for ep in [inv.endpoint("vpc", ip)]
    }
    assert found == {
        "10.0.0.2": "a",
        "10.4.0.77": "a",
        "10.4.1.255": "b",
        "10.4.2.1": None,
        "10.0.0.4": None,  # another network's VM
        "bogus": None,
    }


def test_log_config_from_subnet_documents() -> None:
    assert LogConfig.of_subnet({}) == LogConfig(enabled=False)
    assert LogConfig.of_subnet({"enableFlowLogs": True}).enabled
    lc = LogConfig.of_subnet(
        {
            "logConfig": {
                "enable": True,
                "aggregationInterval": "INTERVAL_10_MIN",
                "flowSampling": 0.25,
                "metadata": "CUSTOM_METADATA",
                "metadataFields": ["src_vpc"],
                "filterExpr": "true",
            }
        }
    )
    assert lc == LogConfig(True, 600, 0.25, "CUSTOM_METADATA", ("src_vpc",), "true")
