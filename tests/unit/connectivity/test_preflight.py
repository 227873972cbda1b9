"""``intranode preflight``: exactly the same-node flows that work now and would be blocked
once intra-node visibility is on (declared ports, Services, flows seen in flow logs and in
the nodes' conntrack), the ip-masq-agent misconfiguration, the requirements; and the CLI's
formats and exit status, through the daemon's HTTP API."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from fastapi import APIRouter, Query
from fastapi.testclient import TestClient

from intranode.api.app import _api_app
from intranode.api.deps import CtxDep
from intranode.cli import preflight as cli_preflight
from intranode.cli.client import DaemonClient
from intranode.cli.target import Target
from intranode.controllers import preflight
from intranode.controllers.context import Context
from intranode.domain import resources as R
from intranode.domain.flowlogs.observations import ConntrackEntry, Counters, FiveTuple
from intranode.domain.netplan import LEDGER_NETNS
from intranode.errors import InvalidArgument, NotFound
from intranode.store.ledger import SqliteLedger
from tests.unit.conftest import PROJECT, TOKEN

from .conftest import ZONE, Cluster, add_firewall

DENY = {
    "name": "deny-8080",
    "priority": 900,
    "sourceRanges": ["10.0.0.0/8"],
    "denied": [{"IPProtocol": "tcp", "ports": ["8080"]}],
}
HTTP = [{"name": "http", "containerPort": 8080}]


def flows_of(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (b["source"]["pod"], b["destination"]["pod"], f"{b['protocol']}/{b['port']}")
        for b in report["breaking"]
    }


@pytest.fixture
def shop(inv_off: Cluster, client: TestClient) -> Cluster:
    """web-1, web-2 and client-1 on node 0; web-3 alone on node 1; a Service ``web`` (port 80
    to the named port ``http``) and a Service ``admin`` to port 9090 of web-2."""
    inv_off.pod("web-1", 0, ports=HTTP, labels={"app": "web"})
    inv_off.pod("web-2", 0, ports=HTTP, labels={"app": "web", "role": "admin"})
    inv_off.pod("client-1", 0)
    inv_off.pod("web-3", 1, ports=HTTP, labels={"app": "web"})
    done = inv_off.pod("done", 0, ports=[{"containerPort": 7070}])
    done["status"]["phase"] = "Succeeded"
    key = R.k8s_key(inv_off.key, "pods", "done", "default")
    inv_off.ctx.resources.update(R.k8s_kind("pods"), key, done)
    for name, selector, target in (
        ("web", {"app": "web"}, "http"),
        ("admin", {"role": "admin"}, 9090),
    ):
        svc = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": target}]},
        }
        key = R.k8s_key(inv_off.key, "services", name, "default")
        inv_off.ctx.resources.create(
            R.k8s_kind("services"), key, R.k8s_parent(inv_off.key, "default"), svc
        )
    return inv_off


def report(ctx: Context, cluster: Cluster, **kw: Any) -> dict[str, Any]:
    return preflight.run(ctx, PROJECT, cluster.name, **kw)


def test_exactly_the_flows_a_deny_rule_would_break(
    shop: Cluster, client: TestClient, ctx: Context
) -> None:
    add_firewall(client, DENY)
    out = report(ctx, shop)
    assert out["intraNodeVisibility"] is False and out["wouldBreak"] is True
    # Same-node only: web-3 is alone on its node; 9090 (the admin Service) stays allowed.
    # Not the finished Pod, nor the system Pods intranode only shows.
    assert flows_of(out) == {
        ("web-2", "web-1", "TCP/8080"),
        ("client-1", "web-1", "TCP/8080"),
        ("web-1", "web-2", "TCP/8080"),
        ("client-1", "web-2", "TCP/8080"),
    }
    assert out["flowsChecked"] == 6  # 4 to 8080, 2 to web-2:9090
    first = next(
        b
        for b in out["breaking"]
        if b["source"]["pod"] == "client-1" and b["destination"]["pod"] == "web-1"
    )
    assert first["from"] == ["containerPort", "service default/web"]
    assert first["node"] == shop.nodes[0]
    assert [r["displayName"] for r in first["blockedBy"]] == ["deny-8080"]
    [fix] = first["suggestions"]
    assert fix["allowRule"]["priority"] == 899
    assert fix["allowRule"]["sourceRanges"] == [f"{first['source']['ip']}/32"]
    assert out["blockingRules"] == [
        {
            "rule": "deny-8080",
            "direction": "INGRESS",
            "uri": f"projects/{PROJECT}/global/firewalls/deny-8080",
            "flows": 4,
        }
    ]
    assert out["ipMasqAgent"] == {"ok": True, "problems": []}
    assert [(r["name"], r["ok"]) for r in out["requirements"]] == [
        ("version", True),
        ("windowsNodePools", True),
    ]


def test_nothing_breaks_without_a_blocking_rule_and_an_egress_deny_breaks_it_all(
    shop: Cluster, client: TestClient, ctx: Context
) -> None:
    out = report(ctx, shop)
    assert (out["wouldBreak"], out["flowsBreaking"], out["flowsChecked"]) == (False, 0, 6)
    add_firewall(
        client,
        {
            "name": "no-egress",
            "direction": "EGRESS",
            "priority": 100,
            "destinationRanges": ["0.0.0.0/0"],
            "denied": [{"IPProtocol": "all"}],
        },
    )
    out = report(ctx, shop)
    assert out["flowsBreaking"] == 6
    assert {r["rule"] for r in out["blockingRules"]} == {"no-egress"}
    assert all(b["suggestions"][0]["direction"] == "EGRESS" for b in out["breaking"])


def test_flows_seen_in_flow_logs_and_in_node_conntrack_are_checked(
    shop: Cluster, client: TestClient, ctx: Context
) -> None:
    add_firewall(
        client, {**DENY, "name": "deny-7000", "denied": [{"IPProtocol": "tcp", "ports": ["7000"]}]}
    )
    pods = {
        r.data["metadata"]["name"]: r.data["status"]["podIP"]
        for r in ctx.resources.list_prefix(R.k8s_kind("pods"), f"{shop.key}/namespaces/default")
    }
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    gke = {"cluster": {"cluster_name": shop.name, "cluster_location": ZONE}}
    entry = {
        "logName": f"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows",
        "resource": {"type": "gce_subnetwork", "labels": {"project_id": PROJECT}},
        "timestamp": now,
        "jsonPayload": {
            "connection": {
                "src_ip": pods["client-1"],
                "dest_ip": pods["web-1"],
                "protocol": 6,
                "src_port": 40000,
                "dest_port": 7000,
            },
            "src_gke_details": gke,
            "dest_gke_details": gke,
        },
    }
    assert client.post("/v2/entries:write", json={"entries": [entry]}).status_code == 200
    assert ("client-1", "web-1", "TCP/7000") in flows_of(report(ctx, shop))
    assert ("client-1", "web-1", "TCP/7000") not in flows_of(report(ctx, shop, seen_within=0))

    class Conntrack:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def snapshot(self, netns: str) -> list[ConntrackEntry]:
            self.asked.append(netns)
            t = FiveTuple(6, pods["web-2"], pods["client-1"], 41000, 7000)
            back = FiveTuple(6, pods["client-1"], pods["web-2"], 7000, 41000)
            return [ConntrackEntry(1, t, back, Counters(1, 60), Counters(1, 60))]

    source = Conntrack()
    preflight.use_flow_source(ctx, source)  # type: ignore[arg-type]
    ctx.data_plane = True
    node = ctx.resources.get(R.k8s_kind("nodes"), R.k8s_key(shop.key, "nodes", shop.nodes[0]))
    assert node is not None
    SqliteLedger(ctx.db).record(
        LEDGER_NETNS, "", "in-n-0c01", f"node:{node.data['metadata']['uid']}"
    )
    try:
        out = report(ctx, shop, seen_within=0)
    finally:
        preflight.use_flow_source(ctx, None)
    assert source.asked == ["in-n-0c01"]
    seen = next(b for b in out["breaking"] if b["port"] == 7000)
    assert (seen["source"]["pod"], seen["destination"]["pod"], seen["from"]) == (
        "web-2",
        "client-1",
        ["seen"],
    )


def test_an_ip_masq_config_without_the_pod_range_breaks_every_same_node_flow(
    shop: Cluster, client: TestClient, ctx: Context
) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ip-masq-agent", "namespace": "kube-system"},
        "data": {"config": "nonMasqueradeCIDRs:\n  - 192.168.0.0/16\n"},
    }
    key = R.k8s_key(shop.key, "configmaps", "ip-masq-agent", "kube-system")
    ctx.resources.create(R.k8s_kind("configmaps"), key, R.k8s_parent(shop.key, "kube-system"), cm)
    out = report(ctx, shop)
    assert out["wouldBreak"] is True
    assert out["ipMasqAgent"]["ok"] is False
    [problem] = out["ipMasqAgent"]["problems"]
    assert "leaves out the Pod range" in problem
    assert out["flowsBreaking"] == out["flowsChecked"] == 6
    assert all(b["masqueraded"] and b["blockedBy"] == [] for b in out["breaking"])


def test_already_enabled_breaks_nothing_new(
    inv_on: Cluster, client: TestClient, ctx: Context
) -> None:
    add_firewall(client, DENY)
    inv_on.pod("a", 0, ports=HTTP)
    inv_on.pod("b", 0, ports=HTTP)
    out = report(ctx, inv_on)
    assert out["intraNodeVisibility"] is True and out["wouldBreak"] is False
    assert out["flowsBreaking"] == 2  # blocked already, listed for information


def test_windows_pools_fail_the_requirements(client: TestClient, ctx: Context) -> None:
    from tests.unit.container.conftest import RecordingEndpoints, create, standard

    ctx.endpoints = RecordingEndpoints()
    body = standard(name="mixed", nodes=1, inv=False)
    body["nodePools"].append(
        {"name": "win", "initialNodeCount": 1, "config": {"imageType": "WINDOWS_LTSC_CONTAINERD"}}
    )
    create(client, body)
    out = preflight.run(ctx, PROJECT, "mixed")
    windows = next(r for r in out["requirements"] if r["name"] == "windowsNodePools")
    assert windows == {
        "name": "windowsNodePools",
        "ok": False,
        "message": "Windows Server node pools cannot run with intra-node visibility: win.",
    }
    assert out["wouldBreak"] is True


def test_unknown_and_ambiguous_clusters(shop: Cluster, ctx: Context) -> None:
    with pytest.raises(NotFound, match="cluster ghost in project"):
        preflight.run(ctx, PROJECT, "ghost")
    with pytest.raises(
        NotFound,
        match=f"Not found: projects/{PROJECT}/locations/europe-west1-b/clusters/{shop.name}.",
    ):
        preflight.run(ctx, PROJECT, shop.name, "europe-west1-b")
    twin = dict(ctx.resources.get(R.CLUSTER, shop.key).data)  # type: ignore[union-attr]
    ctx.resources.create(
        R.CLUSTER,
        R.cluster_key(PROJECT, "us-east1-b", shop.name),
        f"projects/{PROJECT}/locations/us-east1-b",
        twin,
    )
    with pytest.raises(
        InvalidArgument, match="exists in us-central1-a, us-east1-b: name its location"
    ):
        preflight.run(ctx, PROJECT, shop.name)
    assert preflight.run(ctx, PROJECT, shop.name, ZONE)["location"] == ZONE


# -- the CLI -------------------------------------------------------------------------------------
# The daemon route (to add to intranode.api.intranode_api), reproduced here to drive the CLI.
route = APIRouter(prefix="/intranode/v1")


@route.get("/preflight/{cluster}")
def preflight_report(
    cluster: str,
    ctx: CtxDep,
    location: str | None = None,
    project: str | None = None,
    seen_within: float = Query(3600.0, alias="seenWithin"),
) -> dict[str, Any]:
    return preflight.run(ctx, project or ctx.settings.project, cluster, location, seen_within)


@pytest.fixture
def daemon(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    ctx.settings.daemon_file.write_text(ctx.settings.to_json())
    ctx.settings.token_path.write_text(TOKEN + "\n")
    with TestClient(_api_app(ctx, route), headers={"Authorization": f"Bearer {TOKEN}"}) as http:

        def client(target: Target) -> DaemonClient:
            c = DaemonClient(target)
            c._http = http  # type: ignore[assignment]
            return c

        monkeypatch.setattr(cli_preflight, "_client", client)
        yield


def cli(ctx: Context, *args: str) -> Result:
    return CliRunner().invoke(
        cli_preflight.preflight_command, [*args, "--state-dir", str(ctx.settings.state_dir)]
    )


def test_the_cli_prints_the_breaking_flows_and_exits_1(
    shop: Cluster, client: TestClient, ctx: Context, daemon: None
) -> None:
    add_firewall(client, DENY)
    r = cli(ctx, shop.name)
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    assert (
        lines[0]
        == f"cluster {shop.name} ({ZONE}), network projects/{PROJECT}/global/networks/default"
    )
    assert "intra-node visibility: off" in lines
    assert "same-node flows checked: 6, would break: 4" in lines
    assert sum(1 for line in lines if line.strip().startswith("BREAKS")) == 4
    assert any(
        "blocked by deny-8080 [VPC_FIREWALL_RULE, INGRESS, priority 900, DENY]" in line
        for line in lines
    )
    assert any(
        line.strip().startswith("fix: gcloud compute firewall-rules create allow-tcp-8080-")
        for line in lines
    )
    assert lines[-1] == "verdict: something would break"

    md = cli(ctx, shop.name, "--format", "markdown")
    assert md.exit_code == 1
    assert md.output.startswith(
        f"### Intra-node visibility preflight: cluster `{shop.name}` ({ZONE})"
    )
    assert "| source | destination | port | node | blocked by | fix |" in md.output
    assert md.output.count("| TCP/8080 |") == 4

    data = json.loads(cli(ctx, shop.name, "--format", "json").output)
    assert data["flowsBreaking"] == 4 and data["wouldBreak"] is True
    assert yaml.safe_load(cli(ctx, shop.name, "--format", "yaml", "--zone", ZONE).output) == data


def test_the_cli_exits_0_when_nothing_breaks_and_2_when_it_cannot_tell(
    shop: Cluster, ctx: Context, daemon: None
) -> None:
    r = cli(ctx, shop.name)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == "verdict: nothing would break"
    r = cli(ctx, "ghost")
    assert r.exit_code == 2
    assert "NOT_FOUND: Not found: cluster ghost" in r.output
    r = cli(ctx, shop.name, "--seen-within", "soon")
    assert r.exit_code == 2 and "Failed to parse duration" in r.output
