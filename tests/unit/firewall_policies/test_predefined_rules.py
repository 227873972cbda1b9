"""The predefined rules the API shows are the ones the firewall model evaluates: a stored
policy read by the model holds exactly Google's four goto_next rules, nothing added."""

from __future__ import annotations

from fastapi.testclient import TestClient

from intranode.domain.firewall import FirewallPolicy, predefined_rules
from tests.unit.conftest import PROJECT
from tests.unit.firewall_policies.helpers import (
    HIER,
    NET,
    create_net_policy,
    create_org_policy,
    get,
)


def test_the_model_reads_the_served_predefined_rules_as_its_own(client: TestClient) -> None:
    for doc in (get(client, f"{HIER}/{create_org_policy(client)}"), create_net_policy(client)):
        policy = FirewallPolicy.from_document(doc, PROJECT)
        assert policy.rules == predefined_rules()
        assert policy.id == doc["id"]


def test_a_served_user_rule_reads_back_as_sent(client: TestClient) -> None:
    create_net_policy(client)
    body = {
        "priority": 10,
        "action": "allow",
        "direction": "EGRESS",
        "ruleName": "web-out",
        "match": {
            "destIpRanges": ["10.0.0.0/8"],
            "layer4Configs": [{"ipProtocol": "tcp", "ports": ["443"]}],
        },
        "targetServiceAccounts": ["a@b.iam.gserviceaccount.com"],
    }
    assert client.post(f"{NET}/net-pol/addRule", json=body).status_code == 200
    rule = FirewallPolicy.from_document(get(client, f"{NET}/net-pol"), PROJECT).rules[0]
    assert (rule.priority, rule.direction, rule.action, rule.rule_name) == (
        10,
        "EGRESS",
        "allow",
        "web-out",
    )
    assert rule.dest_ranges == ("10.0.0.0/8",) and rule.src_ranges == ()
    assert [(m.protocol, m.ports) for m in rule.layer4] == [(6, ((443, 443),))]
    assert rule.target_service_accounts == ("a@b.iam.gserviceaccount.com",)
