"""Hierarchical firewall policies: create under the organization or the folder, what a new
policy holds, list by parent, describe, update with its fingerprint, move, delete; the
emulated hierarchy's 400/403 answers; nothing changes after a refused request."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.unit.firewall_policies.helpers import (
    FOLDER,
    HIER,
    HIER_LINK,
    ORG,
    PREDEFINED,
    create_org_policy,
    error_of,
    get,
    ok,
    rule,
)


def listed(client: TestClient, parent: str) -> list[str]:
    body = ok(client.get(HIER, params={"parentId": parent}))
    return [p["shortName"] for p in body.get("items", [])]


def test_a_new_policy_holds_the_predefined_rules_and_its_names(client: TestClient) -> None:
    op = ok(
        client.post(
            HIER, params={"parentId": ORG}, json={"displayName": "org-pol", "description": "d"}
        )
    )
    policy_id = op["targetId"]
    assert re.fullmatch(r"\d{12}", policy_id)  # gcloud takes 9-15 digits for an id
    policy = get(client, f"{HIER}/{policy_id}")
    assert policy["kind"] == "compute#firewallPolicy"
    assert policy["id"] == policy["name"] == policy_id
    assert policy["shortName"] == policy["displayName"] == "org-pol"
    assert policy["parent"] == ORG
    assert policy["description"] == "d"
    assert policy["selfLink"] == policy["selfLinkWithId"] == f"{HIER_LINK}/{policy_id}"
    assert policy["fingerprint"]
    assert "associations" not in policy
    assert [r["priority"] for r in policy["rules"]] == PREDEFINED
    assert [(r["direction"], r["action"]) for r in policy["rules"]] == [
        ("EGRESS", "goto_next"),
        ("INGRESS", "goto_next"),
        ("EGRESS", "goto_next"),
        ("INGRESS", "goto_next"),
    ]
    assert policy["rules"][3]["match"] == {
        "srcIpRanges": ["0.0.0.0/0"],
        "layer4Configs": [{"ipProtocol": "all"}],
    }
    assert policy["rules"][0]["description"] == "default egress rule"
    assert all(r["ruleTupleCount"] == 2 for r in policy["rules"])
    assert policy["ruleTupleCount"] == 8
    assert op["targetLink"] == f"{HIER_LINK}/{policy_id}"


def test_short_name_may_come_as_short_name_too(client: TestClient) -> None:
    op = ok(client.post(HIER, params={"parentId": FOLDER}, json={"shortName": "f-pol"}))
    policy = get(client, f"{HIER}/{op['targetId']}")
    assert (policy["shortName"], policy["displayName"], policy["parent"]) == (
        "f-pol",
        "f-pol",
        FOLDER,
    )


def test_list_by_parent(client: TestClient) -> None:
    create_org_policy(client, "a-pol")
    create_org_policy(client, "b-pol", parent=FOLDER)
    assert listed(client, ORG) == ["a-pol"]
    assert listed(client, FOLDER) == ["b-pol"]
    body = ok(client.get(HIER, params={"parentId": ORG}))
    assert body["kind"] == "compute#firewallPolicyList"


def test_rules_in_the_insert_body_are_validated_and_kept(client: TestClient) -> None:
    body = {"shortName": "with-rules", "rules": [rule(10), rule(20, "allow")]}
    op = ok(client.post(HIER, params={"parentId": ORG}, json=body))
    policy = get(client, f"{HIER}/{op['targetId']}")
    assert [r["priority"] for r in policy["rules"]] == [10, 20, *PREDEFINED]
    assert policy["ruleTupleCount"] == 8 + 2 + 2


BAD_INSERTS = [
    (
        {"parentId": "organizations/999"},
        {"displayName": "x"},
        403,
        "Required 'compute.firewallPolicies.create' permission for 'organizations/999'",
    ),
    (
        {"parentId": "projects/p"},
        {"displayName": "x"},
        400,
        "Invalid value for field 'parentId': 'projects/p'. Must be of the form "
        "'organizations/{id}' or 'folders/{id}'.",
    ),
    ({}, {"displayName": "x"}, 400, "Required field 'parentId' not specified"),
    ({"parentId": ORG}, {}, 400, "Required field 'resource.shortName' not specified"),
    (
        {"parentId": ORG},
        {"displayName": "Bad_Name"},
        400,
        "Invalid value for field 'resource.shortName': 'Bad_Name'. Must be a match of regex",
    ),
    (
        {"parentId": ORG},
        {"displayName": "x", "color": "red"},
        400,
        "Invalid JSON payload received. Unknown name \"color\" at 'resource': Cannot find field.",
    ),
    (
        {"parentId": ORG},
        {"displayName": "x", "rules": [rule(5), rule(5)]},
        400,
        "Invalid value for field 'resource.rules[1].priority': '5'. Cannot have rules with "
        "the same priorities.",
    ),
    (
        {"parentId": ORG},
        {"displayName": "x", "associations": [{"attachmentTarget": ORG}]},
        400,
        "Associations are made with addAssociation",
    ),
    (
        {"parentId": ORG},
        {"displayName": "x", "packetMirroringRules": [rule(5)]},
        501,
        "intranode does not serve packet mirroring rules",
    ),
]


@pytest.mark.parametrize(("params", "body", "code", "message"), BAD_INSERTS)
def test_bad_insert_is_refused_and_creates_nothing(
    client: TestClient, params: dict[str, str], body: dict[str, object], code: int, message: str
) -> None:
    r = client.post(HIER, params=params, json=body)
    assert r.status_code == code, r.text
    assert message in error_of(r)["message"]
    assert listed(client, ORG) == [] and listed(client, FOLDER) == []


def test_short_names_are_unique_in_the_organization(client: TestClient) -> None:
    create_org_policy(client, "dup", parent=FOLDER)
    r = client.post(HIER, params={"parentId": ORG}, json={"displayName": "dup"})
    assert r.status_code == 409
    assert error_of(r)["message"] == (
        f"A firewall policy with the short name 'dup' already exists in '{ORG}'"
    )
    assert listed(client, ORG) == []


def test_update_description_with_the_current_fingerprint(client: TestClient) -> None:
    policy_id = create_org_policy(client)
    before = get(client, f"{HIER}/{policy_id}")
    op = ok(
        client.patch(
            f"{HIER}/{policy_id}",
            json={"description": "changed", "fingerprint": before["fingerprint"]},
        )
    )
    assert op["operationType"] == "patch"
    after = get(client, f"{HIER}/{policy_id}")
    assert after["description"] == "changed"
    assert after["fingerprint"] != before["fingerprint"]
    assert after["rules"] == before["rules"]


def test_a_stale_fingerprint_is_412_and_changes_nothing(client: TestClient) -> None:
    policy_id = create_org_policy(client)
    stale = get(client, f"{HIER}/{policy_id}")["fingerprint"]
    ok(client.post(f"{HIER}/{policy_id}/addRule", json=rule()))
    before = get(client, f"{HIER}/{policy_id}")
    r = client.patch(f"{HIER}/{policy_id}", json={"description": "x", "fingerprint": stale})
    assert r.status_code == 412
    assert error_of(r)["errors"][0]["reason"] == "conditionNotMet"
    assert get(client, f"{HIER}/{policy_id}") == before


def test_patch_with_rules_replaces_the_users_rules_and_keeps_the_predefined(
    client: TestClient,
) -> None:
    policy_id = create_org_policy(client)
    ok(client.post(f"{HIER}/{policy_id}/addRule", json=rule(1)))
    exported = get(client, f"{HIER}/{policy_id}")["rules"]
    # gcloud's import-rules sends the whole list, predefined rules included.
    new_rules = [rule(7, "allow"), *exported[1:]]
    ok(client.patch(f"{HIER}/{policy_id}", json={"rules": new_rules}))
    after = get(client, f"{HIER}/{policy_id}")
    assert [r["priority"] for r in after["rules"]] == [7, *PREDEFINED]
    assert after["rules"][1:] == exported[1:]


def test_the_short_name_cannot_change(client: TestClient) -> None:
    policy_id = create_org_policy(client)
    before = get(client, f"{HIER}/{policy_id}")
    r = client.patch(f"{HIER}/{policy_id}", json={"shortName": "other"})
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Invalid value for field 'resource.shortName': 'other'. The short name cannot be changed."
    )
    assert get(client, f"{HIER}/{policy_id}") == before


def test_move_between_the_organization_and_the_folder(client: TestClient) -> None:
    policy_id = create_org_policy(client, "mover")
    op = ok(client.post(f"{HIER}/{policy_id}/move", params={"parentId": FOLDER}))
    assert op["operationType"] == "move"
    assert get(client, f"{HIER}/{policy_id}")["parent"] == FOLDER
    assert listed(client, ORG) == [] and listed(client, FOLDER) == ["mover"]
    r = client.post(f"{HIER}/{policy_id}/move", params={"parentId": "folders/1"})
    assert r.status_code == 403
    assert get(client, f"{HIER}/{policy_id}")["parent"] == FOLDER


def test_delete_and_unknown_ids(client: TestClient) -> None:
    policy_id = create_org_policy(client)
    op = ok(client.delete(f"{HIER}/{policy_id}"))
    assert op["operationType"] == "delete"
    r = client.get(f"{HIER}/{policy_id}")
    assert r.status_code == 404
    assert error_of(r)["message"] == (
        f"The resource 'locations/global/firewallPolicies/{policy_id}' was not found"
    )
    assert client.delete(f"{HIER}/{policy_id}").status_code == 404
    assert listed(client, ORG) == []
