"""Reading the stored documents the controller hands the firewall: a GKE node's instance, a
firewall policy in the Compute API's form, and the matchers intranode cannot evaluate."""

from __future__ import annotations

from typing import Any

import pytest

from intranode.domain.firewall.inputs import (
    FirewallPolicy,
    Instance,
    PolicyRule,
    predefined_rules,
)
from intranode.domain.firewall.model import evaluate
from intranode.domain.firewalls import ProtocolMatch
from intranode.domain.gke_objects import NodeSpec, instance_document

from .scenarios import NETWORK, NODE_A, NODE_B, ORG, PROJECT, inputs, policy, policy_rule
from .test_model import A_POD, B_POD, TCP, packet


def test_an_instance_reads_a_gke_nodes_document() -> None:
    spec = NodeSpec(
        project=PROJECT,
        project_number="123456789",
        cluster="c1",
        cluster_id="0" * 32,
        location="us-central1-a",
        zone="us-central1-a",
        pool="default-pool",
        group="gke-c1-default-pool-1a2b3c4d-grp",
        name="gke-c1-default-pool-1a2b3c4d-x7k2",
        network=NETWORK,
        subnetwork=f"projects/{PROJECT}/regions/us-central1/subnetworks/default",
        internal_ip="10.128.0.7",
        pod_cidr="10.52.3.0/24",
        pods_range="gke-c1-pods-1a2b3c4d",
        tag="gke-c1-1a2b3c4d-node",
        version="1.33.5-gke.1000",
        windows=False,
        config={"tags": ["web"], "serviceAccount": "web@fw-proj.iam.gserviceaccount.com"},
    )
    doc = instance_document(spec, instance_id="42", now=0)
    assert Instance.from_document(doc, "3f2a") == Instance(
        name="gke-c1-default-pool-1a2b3c4d-x7k2",
        node_id="3f2a",
        ip="10.128.0.7",
        alias_ranges=("10.52.3.0/24",),
        tags=("gke-c1-1a2b3c4d-node", "web"),
        service_account="web@fw-proj.iam.gserviceaccount.com",
    )
    assert Instance.from_document(doc, "3f2a").addresses == ("10.128.0.7/32", "10.52.3.0/24")


def test_a_policy_gets_its_predefined_rules_and_normalized_associations() -> None:
    doc: dict[str, Any] = {
        "id": "555",
        "name": "net-pol",
        "rules": [
            {
                "priority": 10,
                "action": "deny",
                "direction": "EGRESS",
                "match": {
                    "destIpRanges": ["10.0.0.0/8"],
                    "layer4Configs": [
                        {"ipProtocol": "tcp", "ports": ["80", "8000-8080"]},
                        {"ipProtocol": "icmp"},
                    ],
                },
                "targetServiceAccounts": ["a@x.iam.gserviceaccount.com"],
                "enableLogging": True,
                "ruleName": "no-web",
            },
            # A stored predefined rule is not added twice.
            {
                "priority": 2147483647,
                "action": "goto_next",
                "direction": "INGRESS",
                "match": {"srcIpRanges": ["0.0.0.0/0"], "layer4Configs": [{"ipProtocol": "all"}]},
            },
        ],
        "associations": [
            {
                "name": "a",
                "attachmentTarget": (
                    f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/default"
                ),
            }
        ],
    }
    pol = FirewallPolicy.from_document(doc, PROJECT)
    assert (pol.id, pol.name, pol.associations) == ("555", "net-pol", (NETWORK,))
    assert pol.rules[0] == PolicyRule(
        priority=10,
        direction="EGRESS",
        action="deny",
        layer4=(ProtocolMatch(6, ((80, 80), (8000, 8080))), ProtocolMatch(1)),
        dest_ranges=("10.0.0.0/8",),
        target_service_accounts=("a@x.iam.gserviceaccount.com",),
        enable_logging=True,
        rule_name="no-web",
    )
    assert sorted(r.priority for r in pol.rules) == [
        10,
        *sorted(r.priority for r in predefined_rules()),
    ]
    assert len(pol.rules) == 5


def test_matchers_intranode_cannot_evaluate_match_nothing() -> None:
    only_fqdn = policy("1", ORG, policy_rule(1, "deny", match={"srcFqdns": ["example.com"]}))
    trace = evaluate(inputs(policies=(only_fqdn,)), packet(A_POD, B_POD, TCP, 80))
    assert trace.ingress is not None
    assert [h.priority for h in trace.ingress.met] == [2147483647, 65535]

    with_ranges = policy(
        "1",
        ORG,
        policy_rule(
            1, "deny", match={"srcFqdns": ["example.com"], "srcIpRanges": ["10.52.0.0/16"]}
        ),
    )
    trace = evaluate(inputs(policies=(with_ranges,)), packet(A_POD, B_POD))
    assert trace.ingress is not None and trace.ingress.deciding.priority == 1

    secure_tag = policy(
        "1", ORG, policy_rule(1, "deny", targetSecureTags=[{"name": "tagValues/1"}])
    )
    trace = evaluate(inputs(policies=(secure_tag,)), packet(A_POD, B_POD))
    assert trace.ingress is not None and trace.ingress.deciding.priority == 65535


def test_apply_security_profile_group_acts_as_allow() -> None:
    pol = policy("1", ORG, policy_rule(5, "apply_security_profile_group"))
    trace = evaluate(inputs(policies=(pol,)), packet(A_POD, B_POD))
    assert trace.allowed and trace.ingress is not None
    assert trace.ingress.deciding.action == "ALLOW"
    assert trace.ingress.instance == NODE_B.name and trace.egress is not None
    assert trace.egress.instance == NODE_A.name


def test_an_unknown_policy_action_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="firewall policy rule action 'mirror' is not known"):
        PolicyRule.from_document({"priority": 1, "action": "mirror"}, PROJECT)
