"""The contract with the controller: a cluster created through the Container API leaves
instances and firewall rules in the store; read as they are stored, they give the firewall GKE
users expect (pods talk, the outside does not), and a rule added through the Compute API
changes the verdict."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain import resources as R
from intranode.domain.firewall.compile_nft import compile_router_ruleset, render
from intranode.domain.firewall.inputs import FirewallInputs, inputs_from_documents
from intranode.domain.firewall.model import FirewallModel, Packet
from tests.unit.compute.helpers import FIREWALLS
from tests.unit.conftest import PROJECT
from tests.unit.container.conftest import RecordingEndpoints, create, instances, standard

NETWORK = R.network_key(PROJECT, "default")


@pytest.fixture
def cluster_client(client: TestClient, ctx: Context) -> Iterator[TestClient]:
    ctx.endpoints = RecordingEndpoints()
    create(client, standard(name="fw", nodes=2))
    yield client


def stored_inputs(ctx: Context) -> FirewallInputs:
    nodes = sorted(instances(ctx, "fw"), key=lambda d: d["name"])
    return inputs_from_documents(
        PROJECT,
        NETWORK,
        firewalls=[r.data for r in ctx.resources.find(R.FIREWALL)],
        instances=[(doc, f"0a0{i + 1}") for i, doc in enumerate(nodes)],
    )


def pod_ip(firewall: FirewallInputs, node: int, host: int = 5) -> str:
    return firewall.instances[node].alias_ranges[0].replace(".0/24", f".{host}")


def test_stored_documents_give_gkes_firewall(cluster_client: TestClient, ctx: Context) -> None:
    firewall = stored_inputs(ctx)
    a, b = firewall.instances
    assert (a.node_id, b.node_id) == ("0a01", "0a02")
    assert {a.ip, b.ip} == {"10.128.0.2", "10.128.0.3"}
    assert a.tags == b.tags and a.tags[0].startswith("gke-fw-") and a.service_account
    names = {r.rule.name for r in firewall.rules}
    assert {"default-allow-internal", "default-allow-ssh"} <= names
    assert len([n for n in names if n.startswith("gke-fw-")]) == 5

    model = FirewallModel(firewall)
    across = Packet(pod_ip(firewall, 0), pod_ip(firewall, 1), 6, 8080, a.name, b.name)
    same_node = Packet(pod_ip(firewall, 0), pod_ip(firewall, 0, 9), 6, 8080, a.name, a.name)
    outside = Packet("203.0.113.9", pod_ip(firewall, 1), 6, 8080, None, b.name)
    assert model.evaluate(across).allowed and model.evaluate(same_node).allowed
    assert not model.evaluate(outside).allowed
    assert model.evaluate(across).met[-1].name.endswith("-all")

    # Both nodes of the pool meet the same rules: one set of chains serves them.
    text = render(compile_router_ruleset(firewall, "in-v-default"))
    assert f'"n-0a01" . {a.ip} : jump ingress_0_0' in text
    assert f'"n-0a02" . {b.ip} : jump ingress_0_0' in text
    assert "ingress_1_0" not in text


def test_a_rule_added_through_the_api_changes_the_verdict(
    cluster_client: TestClient, ctx: Context
) -> None:
    before = stored_inputs(ctx)
    pods = ".".join(pod_ip(before, 0).split(".")[:2]) + ".0.0/14"
    r = cluster_client.post(
        FIREWALLS,
        json={
            "name": "deny-8080",
            "priority": 900,
            "sourceRanges": [pods],
            "denied": [{"IPProtocol": "tcp", "ports": ["8080"]}],
        },
    )
    assert r.status_code == 200, r.text
    after = stored_inputs(ctx)
    a, b = after.instances
    packet = Packet(pod_ip(after, 0), pod_ip(after, 1), 6, 8080, a.name, b.name)
    assert FirewallModel(before).evaluate(packet).allowed
    trace = FirewallModel(after).evaluate(packet)
    assert not trace.allowed and trace.met[-1].name == "deny-8080"


def test_instances_of_other_networks_and_their_rules_are_left_out(
    cluster_client: TestClient, ctx: Context
) -> None:
    elsewhere = R.network_key(PROJECT, "other")
    firewall = inputs_from_documents(
        PROJECT,
        elsewhere,
        firewalls=[r.data for r in ctx.resources.find(R.FIREWALL)],
        instances=[(doc, "0a01") for doc in instances(ctx, "fw")],
        enforcement_order="BEFORE_CLASSIC_FIREWALL",
    )
    assert (firewall.instances, firewall.rules) == ((), ())
    assert firewall.enforcement_order == "BEFORE_CLASSIC_FIREWALL"
