"""intranode's own collector: ``create_collector`` makes the backend instance and the whole
internal load balancer in one go (or nothing), ``delete_collector`` removes it, the CLI
``intranode mirror collector create|delete`` drives both over HTTP, and
``mirroring_inputs_of`` turns the store into the plan's inputs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from intranode.api.app import create_app
from intranode.cli import mirror as mirror_cli
from intranode.cli.client import DaemonClient
from intranode.cli.target import Target
from intranode.controllers import mirroring as mc
from intranode.controllers.context import Context
from intranode.domain.mirroring import COLLECTOR_LABEL, MirrorInstance, is_collector_instance
from intranode.errors import AlreadyExists, InvalidArgument
from intranode.store.resources import ResourceStore
from tests.unit.compute.helpers import LINK, get
from tests.unit.conftest import PROJECT, TOKEN
from tests.unit.load_balancing.world import (
    CHECKS,
    GROUPS,
    MIRRORINGS,
    NODE_A,
    NODE_B,
    REGIONAL,
    RULES,
    SERVICES,
    ZONAL,
    add_node,
    ok,
)

KINDS = (
    "compute.instance",
    "compute.instanceGroup",
    "compute.instanceGroupMembers",
    "compute.healthCheck",
    "compute.backendService",
    "compute.forwardingRule",
)


def counts(store: ResourceStore) -> dict[str, int]:
    return {kind: len(store.find(kind)) for kind in KINDS}


def test_create_collector_makes_a_working_internal_load_balancer(
    client: TestClient, ctx: Context
) -> None:
    add_node(ctx, NODE_A, "10.128.0.2")
    link = mc.create_collector(ctx, PROJECT, "us-central1", "col")
    assert link == f"{LINK}/regions/us-central1/forwardingRules/col"
    instance = get(client, f"{ZONAL}/instances/col-collector")
    assert instance["status"] == "RUNNING"
    assert instance["labels"] == {COLLECTOR_LABEL: "col"} and is_collector_instance(instance)
    nic = instance["networkInterfaces"][0]
    assert nic["networkIP"] == "10.128.0.3"  # the lowest free address, after the node's
    assert nic["subnetwork"] == f"{LINK}/regions/us-central1/subnetworks/default"
    members = ok(client.post(f"{GROUPS}/col/listInstances", json={}))["items"]
    assert members == [{"instance": instance["selfLink"], "status": "RUNNING"}]
    check = get(client, f"{REGIONAL}/healthChecks/col")
    assert check["type"] == "TCP"
    service = get(client, f"{SERVICES}/col")
    assert service["backends"] == [
        {"group": f"{LINK}/zones/us-central1-a/instanceGroups/col", "balancingMode": "CONNECTION"}
    ]
    assert service["healthChecks"] == [check["selfLink"]]
    rule = get(client, f"{RULES}/col")
    assert rule["isMirroringCollector"] is True and rule["allPorts"] is True
    assert rule["backendService"] == service["selfLink"]
    assert rule["IPAddress"] == "10.128.15.253"
    # And it is a collector a policy accepts.
    body = {
        "name": "pm",
        "network": {"url": "global/networks/default"},
        "collectorIlb": {"url": link},
        "mirroredResources": {"subnetworks": [{"url": "regions/us-central1/subnetworks/default"}]},
    }
    ok(client.post(MIRRORINGS, json=body))
    assert mc.collector_backends(ctx, PROJECT) == {
        "projects/test-proj/regions/us-central1/forwardingRules/col": [
            "projects/test-proj/zones/us-central1-a/instances/col-collector"
        ]
    }


def test_a_taken_name_creates_nothing(client: TestClient, ctx: Context) -> None:
    ok(
        client.post(
            CHECKS.replace("/global/", "/regions/us-central1/"), json={"name": "col", "type": "TCP"}
        )
    )
    before = counts(ctx.resources)
    with pytest.raises(AlreadyExists) as exc:
        mc.create_collector(ctx, PROJECT, "us-central1", "col")
    assert exc.value.message == (
        "The resource 'projects/test-proj/regions/us-central1/healthChecks/col' already exists"
    )
    assert counts(ctx.resources) == before
    with pytest.raises(InvalidArgument):
        mc.create_collector(ctx, PROJECT, "us-central1", "Bad")
    assert counts(ctx.resources) == before


def test_delete_collector_removes_everything_unless_in_use(
    client: TestClient, ctx: Context
) -> None:
    before = counts(ctx.resources)
    link = mc.create_collector(ctx, PROJECT, "us-central1", "col")
    body = {
        "name": "pm",
        "network": {"url": "global/networks/default"},
        "collectorIlb": {"url": link},
        "mirroredResources": {"tags": ["web"]},
    }
    ok(client.post(MIRRORINGS, json=body))
    made = counts(ctx.resources)
    with pytest.raises(InvalidArgument) as exc:
        mc.delete_collector(ctx, PROJECT, "us-central1", "col")
    assert "is already being used by" in exc.value.message
    assert counts(ctx.resources) == made
    ok(client.delete(f"{MIRRORINGS}/pm"))
    mc.delete_collector(ctx, PROJECT, "us-central1", "col")
    assert counts(ctx.resources) == before


@pytest.fixture
def cli_daemon(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The daemon's API in process, reached through the CLI's own HTTP client."""
    ctx.settings.state_dir.mkdir(parents=True, exist_ok=True)
    ctx.settings.daemon_file.write_text(ctx.settings.to_json())
    ctx.settings.token_path.write_text(TOKEN + "\n")
    with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {TOKEN}"}) as http:

        def client(target: Target) -> DaemonClient:
            c = DaemonClient(target)
            c._http = http
            return c

        monkeypatch.setattr(mirror_cli, "_client", client)
        yield http


def run(ctx: Context, *args: str) -> Result:
    return CliRunner().invoke(
        mirror_cli.mirror, [*args, "--state-dir", str(ctx.settings.state_dir)]
    )


def test_the_cli_creates_and_deletes_a_collector(cli_daemon: TestClient, ctx: Context) -> None:
    made = run(ctx, "collector", "create", "col", "--region", "us-central1")
    assert made.exit_code == 0, made.output
    assert made.stdout.strip() == f"{LINK}/regions/us-central1/forwardingRules/col"
    assert "--collector-ilb=col" in made.stderr
    assert cli_daemon.get(f"{RULES}/col").status_code == 200
    again = run(ctx, "collector", "create", "col", "--region", "us-central1")
    assert again.exit_code == 1
    assert again.output.strip() == (
        "Error: ALREADY_EXISTS: The resource 'projects/test-proj/zones/us-central1-a/instances/"
        "col-collector' already exists"
    )
    nowhere = run(ctx, "collector", "create", "c2", "--region", "mars1")
    assert nowhere.exit_code == 1
    assert "NOT_FOUND: The resource 'projects/test-proj/regions/mars1' was not found" in (
        nowhere.output
    )
    gone = run(ctx, "collector", "delete", "col", "--region", "us-central1")
    assert gone.exit_code == 0, gone.output
    assert cli_daemon.get(f"{RULES}/col").status_code == 404
    assert cli_daemon.get(f"{ZONAL}/instances/col-collector").status_code == 404


def test_inputs_of_the_store_for_the_plan(client: TestClient, ctx: Context) -> None:
    node_a = add_node(ctx, NODE_A, "10.128.0.2", tags=("web",))
    node_b = add_node(ctx, NODE_B, "10.128.0.3")
    link = mc.create_collector(ctx, PROJECT, "us-central1", "col")
    body = {
        "name": "pm",
        "network": {"url": "global/networks/default"},
        "collectorIlb": {"url": link},
        "mirroredResources": {"tags": ["web"]},
        "filter": {"IPProtocols": ["tcp", "17"], "direction": "EGRESS"},
        "priority": 7,
    }
    ok(client.post(MIRRORINGS, json=body))
    collector_key = "projects/test-proj/zones/us-central1-a/instances/col-collector"
    links = {node_a: "n-0a01", node_b: "n-0a02", collector_key: "c-0c01"}
    inputs = mc.mirroring_inputs_of(ctx, PROJECT, "default", links)
    assert inputs.network == "projects/test-proj/global/networks/default"
    assert inputs.collectors == {
        "projects/test-proj/regions/us-central1/forwardingRules/col": ("c-0c01",)
    }
    subnet = "projects/test-proj/regions/us-central1/subnetworks/default"
    assert inputs.instances == (
        MirrorInstance(collector_key, "c-0c01", subnet, ()),
        MirrorInstance(node_a, "n-0a01", subnet, ("gke-c1-1a2b3c4d-node", "web")),
        MirrorInstance(node_b, "n-0a02", subnet, ("gke-c1-1a2b3c4d-node",)),
    )
    [policy] = inputs.policies
    assert (policy.name, policy.priority, policy.protocols, policy.direction) == (
        "pm",
        7,
        (6, 17),
        "EGRESS",
    )
    assert [i.link for i in inputs.instances if inputs.selected(i)] == ["n-0a01"]
    assert mc.mirroring_inputs_of(ctx, PROJECT, "other", links).instances == ()
