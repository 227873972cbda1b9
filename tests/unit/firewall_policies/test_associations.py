"""Associations: one hierarchical policy per organization or folder, one network policy per
network; replaceExistingAssociation moves a target's association; names, get, list, remove;
a policy in use cannot be deleted; refused requests change nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.unit.firewall_policies.helpers import (
    DEFAULT_NETWORK,
    FOLDER,
    HIER,
    NET,
    ORG,
    ORG_ID,
    create_net_policy,
    create_org_policy,
    error_of,
    get,
    ok,
)


def associate(client: TestClient, url: str, target: str, **params: Any) -> Any:
    return client.post(f"{url}/addAssociation", params=params, json={"attachmentTarget": target})


def listed(client: TestClient, target: str | None = None) -> list[dict[str, Any]]:
    params = {"targetResource": target} if target else {}
    body = ok(client.get(f"{HIER}/listAssociations", params=params))
    assert body["kind"] == "compute#firewallPoliciesListAssociationsResponse"
    return body.get("associations", [])  # type: ignore[no-any-return]


def test_associate_a_hierarchical_policy_with_the_organization(client: TestClient) -> None:
    policy_id = create_org_policy(client)
    op = ok(associate(client, f"{HIER}/{policy_id}", ORG))
    assert op["operationType"] == "addAssociation"
    expected = {
        "name": f"organization-{ORG_ID}",
        "attachmentTarget": ORG,
        "firewallPolicyId": policy_id,
        "shortName": "org-pol",
        "displayName": "org-pol",
    }
    assert get(client, f"{HIER}/{policy_id}")["associations"] == [expected]
    assert listed(client, ORG) == [expected]
    assert listed(client, FOLDER) == []
    got = ok(client.get(f"{HIER}/{policy_id}/getAssociation", params={"name": expected["name"]}))
    assert got == expected


def test_one_policy_per_node_unless_replaced(client: TestClient) -> None:
    first = create_org_policy(client, "first")
    second = create_org_policy(client, "second")
    ok(associate(client, f"{HIER}/{first}", FOLDER))
    before = (get(client, f"{HIER}/{first}"), get(client, f"{HIER}/{second}"))
    r = associate(client, f"{HIER}/{second}", FOLDER)
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        f"The attachment target '{FOLDER}' already has a firewall policy associated: "
        f"'locations/global/firewallPolicies/{first}' (association 'folder-{FOLDER.split('/')[1]}'"
        "). Set replaceExistingAssociation to replace it."
    )
    assert (get(client, f"{HIER}/{first}"), get(client, f"{HIER}/{second}")) == before
    # gcloud sends the flag as Python prints it.
    ok(associate(client, f"{HIER}/{second}", FOLDER, replaceExistingAssociation="True"))
    assert "associations" not in get(client, f"{HIER}/{first}")
    assert [a["firewallPolicyId"] for a in listed(client, FOLDER)] == [second]


def test_a_policy_may_serve_both_nodes_under_distinct_names(client: TestClient) -> None:
    policy_id = create_org_policy(client)
    ok(associate(client, f"{HIER}/{policy_id}", ORG))
    ok(associate(client, f"{HIER}/{policy_id}", FOLDER))
    assert [a["attachmentTarget"] for a in listed(client)] == [ORG, FOLDER]
    before = get(client, f"{HIER}/{policy_id}")
    r = client.post(
        f"{HIER}/{policy_id}/addAssociation",
        params={"replaceExistingAssociation": "true"},
        json={"attachmentTarget": ORG, "name": f"folder-{FOLDER.split('/')[1]}"},
    )
    assert r.status_code == 400
    assert "The firewall policy already has an association with this name." in r.text
    # The refused call gave nothing away: the organization's association is still there.
    assert get(client, f"{HIER}/{policy_id}")["associations"] == before["associations"]


def test_only_the_emulated_nodes_can_be_targets(client: TestClient) -> None:
    policy_id = create_org_policy(client)
    before = get(client, f"{HIER}/{policy_id}")
    r = associate(client, f"{HIER}/{policy_id}", "folders/42")
    assert r.status_code == 403
    assert error_of(r)["message"] == (
        "Required 'compute.firewallPolicies.addAssociation' permission for 'folders/42'"
    )
    r = associate(client, f"{HIER}/{policy_id}", DEFAULT_NETWORK)
    assert r.status_code == 400
    assert "Must be of the form 'organizations/{id}' or 'folders/{id}'." in r.text
    r = client.post(f"{HIER}/{policy_id}/addAssociation", json={"name": "x"})
    assert r.status_code == 400
    assert error_of(r)["message"] == "Required field 'resource.attachmentTarget' not specified"
    r = associate(client, f"{HIER}/{policy_id}", ORG, replaceExistingAssociation="maybe")
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Invalid value at 'replace_existing_association' (TYPE_BOOL), \"maybe\""
    )
    assert get(client, f"{HIER}/{policy_id}") == before


def test_remove_association_and_unknown_names(client: TestClient) -> None:
    policy_id = create_org_policy(client)
    ok(associate(client, f"{HIER}/{policy_id}", ORG))
    r = client.post(f"{HIER}/{policy_id}/removeAssociation", params={"name": "nope"})
    assert r.status_code == 404
    assert error_of(r)["message"] == (
        f"The firewall policy '{policy_id}' has no association named 'nope'."
    )
    assert len(listed(client)) == 1
    op = ok(
        client.post(
            f"{HIER}/{policy_id}/removeAssociation", params={"name": f"organization-{ORG_ID}"}
        )
    )
    assert op["operationType"] == "removeAssociation"
    assert listed(client) == []


def test_a_policy_in_use_cannot_be_deleted(client: TestClient) -> None:
    policy_id = create_org_policy(client)
    ok(associate(client, f"{HIER}/{policy_id}", ORG))
    r = client.delete(f"{HIER}/{policy_id}")
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        f"The firewall_policy resource 'locations/global/firewallPolicies/{policy_id}' is "
        f"already being used by '{ORG}'"
    )
    assert get(client, f"{HIER}/{policy_id}")["associations"][0]["attachmentTarget"] == ORG


def test_a_network_policy_attaches_to_a_network(client: TestClient) -> None:
    create_net_policy(client)
    # gcloud sends the network's URL as the endpoint override spells it.
    target = "http://127.0.0.1:1/compute/v1/projects/test-proj/global/networks/default"
    ok(associate(client, f"{NET}/net-pol", target))
    expected = {"name": "network-default", "attachmentTarget": DEFAULT_NETWORK}
    assert get(client, f"{NET}/net-pol")["associations"] == [expected]
    got = ok(client.get(f"{NET}/net-pol/getAssociation", params={"name": "network-default"}))
    assert got == expected


def test_one_network_policy_per_network(client: TestClient) -> None:
    create_net_policy(client, "first")
    create_net_policy(client, "second")
    ok(associate(client, f"{NET}/first", "global/networks/default"))
    r = associate(client, f"{NET}/second", "global/networks/default")
    assert r.status_code == 400
    assert "already has a firewall policy associated" in error_of(r)["message"]
    assert "associations" not in get(client, f"{NET}/second")
    ok(associate(client, f"{NET}/second", "global/networks/default", replaceExistingAssociation=1))
    assert "associations" not in get(client, f"{NET}/first")
    assert get(client, f"{NET}/second")["associations"][0]["attachmentTarget"] == DEFAULT_NETWORK


def test_network_targets_must_exist_in_the_policys_project(client: TestClient) -> None:
    before = create_net_policy(client)
    r = associate(client, f"{NET}/net-pol", "global/networks/missing")
    assert r.status_code == 404
    assert error_of(r)["message"] == (
        "The resource 'projects/test-proj/global/networks/missing' was not found"
    )
    r = associate(client, f"{NET}/net-pol", "projects/other/global/networks/default")
    assert r.status_code == 400
    assert "can be associated only with networks of its project" in r.text
    r = associate(client, f"{NET}/net-pol", "global/subnetworks/x")
    assert r.status_code == 400
    assert "The URL is malformed." in r.text
    assert get(client, f"{NET}/net-pol") == before
