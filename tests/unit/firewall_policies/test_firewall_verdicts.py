"""The contract with the firewall wiring: ``policies_for_network`` gives the policies that apply
to a network and the project's ancestry; fed with the stored rules and instances of a real GKE
cluster to the firewall model, they give Google's verdicts (§C3-C4). Every write to a policy,
a rule or an association is a change of ``compute.firewallPolicy`` that listeners hear."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.controllers.firewall_policies import policies_for_network
from intranode.domain import resources as R
from intranode.domain.firewall import FirewallInputs, Packet, Trace, evaluate, inputs_from_documents
from intranode.store.resources import Change
from tests.unit.conftest import PROJECT
from tests.unit.container.conftest import RecordingEndpoints, create, instances, standard
from tests.unit.firewall_policies.helpers import (
    FOLDER,
    HIER,
    NET,
    ORG,
    create_net_policy,
    create_org_policy,
    ok,
    rule,
)

NETWORK = R.network_key(PROJECT, "default")
TCP = 6


@pytest.fixture
def cluster_client(client: TestClient, ctx: Context) -> Iterator[TestClient]:
    ctx.endpoints = RecordingEndpoints()
    create(client, standard(name="fw", nodes=2))
    yield client


def firewall(ctx: Context) -> FirewallInputs:
    policies, ancestry = policies_for_network(ctx, PROJECT, NETWORK)
    net = ctx.resources.get(R.NETWORK, NETWORK)
    assert net is not None
    nodes = sorted(instances(ctx, "fw"), key=lambda d: d["name"])
    return inputs_from_documents(
        PROJECT,
        NETWORK,
        firewalls=[r.data for r in ctx.resources.find(R.FIREWALL)],
        instances=[(doc, f"0a0{i + 1}") for i, doc in enumerate(nodes)],
        policies=policies,
        ancestry=ancestry,
        enforcement_order=net.data.get("networkFirewallPolicyEnforcementOrder"),
    )


def pod_to_pod(ctx: Context, port: int = 8080) -> Trace:
    """A new TCP connection from a Pod on node 1 to a Pod on node 2."""
    inputs = firewall(ctx)
    a, b = inputs.instances
    src = a.alias_ranges[0].replace(".0/24", ".5")
    dst = b.alias_ranges[0].replace(".0/24", ".7")
    return evaluate(inputs, Packet(src, dst, TCP, port, a.name, b.name))


def pod_range(ctx: Context) -> str:
    first = firewall(ctx).instances[0].alias_ranges[0]
    return ".".join(first.split(".")[:2]) + ".0.0/14"


def org_policy(client: TestClient, node: str, *rules: dict[str, object]) -> str:
    policy_id = create_org_policy(client, f"pol-{len(rules)}-{node.split('/')[0]}")
    for body in rules:
        ok(client.post(f"{HIER}/{policy_id}/addRule", json=body))
    ok(client.post(f"{HIER}/{policy_id}/addAssociation", json={"attachmentTarget": node}))
    return policy_id


def test_what_applies_and_the_ancestry(cluster_client: TestClient, ctx: Context) -> None:
    assert policies_for_network(ctx, PROJECT, NETWORK) == ([], (ORG, FOLDER))
    unassociated = create_org_policy(cluster_client, "idle")
    org = org_policy(cluster_client, ORG)
    create_net_policy(cluster_client, "elsewhere")
    create_net_policy(cluster_client)
    ok(
        cluster_client.post(
            f"{NET}/net-pol/addAssociation", json={"attachmentTarget": "global/networks/default"}
        )
    )
    docs, ancestry = policies_for_network(ctx, PROJECT, NETWORK)
    assert ancestry == (ORG, FOLDER)
    assert sorted(d["name"] for d in docs) == sorted([org, "net-pol"])
    assert unassociated not in [d["name"] for d in docs]
    # Each document is the policy exactly as the API returns it.
    assert ok(cluster_client.get(f"{HIER}/{org}")) in docs
    assert policies_for_network(ctx, PROJECT, R.network_key(PROJECT, "other"))[0] == [
        ok(cluster_client.get(f"{HIER}/{org}"))
    ]


def test_an_organization_deny_beats_a_vpc_allow(cluster_client: TestClient, ctx: Context) -> None:
    before = pod_to_pod(ctx)
    assert before.allowed
    assert before.ingress is not None and before.ingress.deciding.name.endswith("-all")
    deny = rule(1000, "deny", match={"srcIpRanges": [pod_range(ctx)], "layer4Configs": [
        {"ipProtocol": "tcp", "ports": ["8080"]}]})  # fmt: skip
    policy_id = org_policy(cluster_client, ORG, deny)
    after = pod_to_pod(ctx)
    assert not after.allowed
    assert after.ingress is not None
    hit = after.ingress.deciding
    assert (hit.rule_type, hit.priority, hit.action) == (
        "HIERARCHICAL_FIREWALL_POLICY_RULE",
        1000,
        "DENY",
    )
    assert hit.ref.id == policy_id
    assert pod_to_pod(ctx, port=9090).allowed  # another port: the VPC rule still decides


def test_goto_next_falls_through_to_the_folder_and_the_vpc(
    cluster_client: TestClient, ctx: Context
) -> None:
    pods = pod_range(ctx)
    l4 = [{"ipProtocol": "tcp", "ports": ["8080"]}]
    org_policy(
        cluster_client,
        ORG,
        rule(10, "goto_next", match={"srcIpRanges": [pods], "layer4Configs": l4}),
        rule(20, "deny", match={"srcIpRanges": [pods], "layer4Configs": l4}),
    )
    trace = pod_to_pod(ctx)
    assert trace.allowed
    assert trace.ingress is not None
    met = [(h.rule_type, h.priority, h.action) for h in trace.ingress.met]
    assert met[0] == ("HIERARCHICAL_FIREWALL_POLICY_RULE", 10, "GOTO_NEXT")
    assert met[-1][0] == "VPC_FIREWALL_RULE"
    # The folder's policy is the next step: its deny decides before the VPC rules.
    org_policy(
        cluster_client, FOLDER, rule(30, "deny", match={"srcIpRanges": [pods], "layer4Configs": l4})
    )
    folder_trace = pod_to_pod(ctx)
    assert not folder_trace.allowed
    assert folder_trace.ingress is not None
    assert [h.priority for h in folder_trace.ingress.met] == [10, 30]


def test_network_policy_order_against_the_vpc_rules(
    cluster_client: TestClient, ctx: Context
) -> None:
    create_net_policy(cluster_client)
    deny = rule(
        5, "deny", match={"srcIpRanges": [pod_range(ctx)], "layer4Configs": [{"ipProtocol": "tcp"}]}
    )
    ok(cluster_client.post(f"{NET}/net-pol/addRule", json=deny))
    ok(
        cluster_client.post(
            f"{NET}/net-pol/addAssociation", json={"attachmentTarget": "global/networks/default"}
        )
    )
    # AFTER_CLASSIC_FIREWALL (the default): GKE's VPC allow decides first.
    assert pod_to_pod(ctx).allowed
    net = ctx.resources.get(R.NETWORK, NETWORK)
    assert net is not None
    order = {**net.data, "networkFirewallPolicyEnforcementOrder": "BEFORE_CLASSIC_FIREWALL"}
    ctx.resources.update(R.NETWORK, NETWORK, order)
    trace = pod_to_pod(ctx)
    assert not trace.allowed
    assert trace.ingress is not None
    assert trace.ingress.deciding.rule_type == "NETWORK_FIREWALL_POLICY_RULE"


def test_every_policy_write_is_a_change_listeners_hear(client: TestClient, ctx: Context) -> None:
    heard: list[tuple[str, str, str]] = []

    def listen(change: Change) -> None:
        if change.resource.kind == R.FIREWALL_POLICY:
            heard.append(
                (
                    change.type,
                    change.resource.key,
                    str(len(change.resource.data.get("associations") or [])),
                )
            )

    ctx.resources.subscribe(listen)
    policy_id = create_org_policy(client)
    key = R.hierarchical_policy_key(policy_id)
    ok(client.post(f"{HIER}/{policy_id}/addRule", json=rule()))
    ok(client.post(f"{HIER}/{policy_id}/addAssociation", json={"attachmentTarget": ORG}))
    ok(
        client.post(
            f"{HIER}/{policy_id}/removeAssociation",
            params={"name": "organization-" + ORG.split("/")[1]},
        )
    )
    assert heard == [
        ("ADDED", key, "0"),
        ("MODIFIED", key, "0"),
        ("MODIFIED", key, "1"),
        ("MODIFIED", key, "0"),
    ]
    refused = client.post(f"{HIER}/{policy_id}/addRule", json=rule(-5))
    assert refused.status_code == 400
    assert len(heard) == 4
