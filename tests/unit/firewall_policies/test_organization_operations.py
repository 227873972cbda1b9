"""Operations of hierarchical policies: named ``org-<organization id>-...`` (gcloud reads the
organization to poll from the name), found at ``locations/global/operations`` with the
``parentId`` gcloud sends, listed by node, deleted; never among a project's operations."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.compute.helpers import BASE
from tests.unit.firewall_policies.helpers import (
    HIER,
    HIER_LINK,
    ORG,
    ORG_ID,
    ORG_OPS,
    error_of,
    ok,
)


def test_gcloud_polls_the_operation_with_its_organization(client: TestClient) -> None:
    op = ok(client.post(HIER, params={"parentId": ORG}, json={"displayName": "p"}))
    assert op["name"].startswith(f"org-{ORG_ID}-")
    assert op["name"].split("-")[1] == ORG_ID  # what gcloud's poller reads
    assert op["selfLink"] == (
        f"https://www.googleapis.com/compute/v1/locations/global/operations/{op['name']}"
    )
    assert op["targetLink"] == f"{HIER_LINK}/{op['targetId']}"
    assert (op["status"], op["progress"], op["operationType"]) == ("DONE", 100, "insert")
    assert "region" not in op and "zone" not in op
    got = ok(client.get(f"{ORG_OPS}/{op['name']}", params={"parentId": ORG}))
    assert got == op


def test_list_and_delete(client: TestClient) -> None:
    op = ok(client.post(HIER, params={"parentId": ORG}, json={"displayName": "p"}))
    body = ok(client.get(ORG_OPS, params={"parentId": ORG}))
    assert body["kind"] == "compute#operationList"
    assert [o["name"] for o in body["items"]] == [op["name"]]
    assert "items" not in ok(client.get(f"{BASE}/global/operations"))
    assert ok(client.delete(f"{ORG_OPS}/{op['name']}", params={"parentId": ORG})) == {}
    r = client.get(f"{ORG_OPS}/{op['name']}", params={"parentId": ORG})
    assert r.status_code == 404
    assert error_of(r)["message"] == (
        f"The resource 'locations/global/operations/{op['name']}' was not found"
    )


def test_other_organizations_are_not_visible(client: TestClient) -> None:
    r = client.get(ORG_OPS, params={"parentId": "organizations/1"})
    assert r.status_code == 403
    assert error_of(r)["message"] == (
        "Required 'compute.globalOrganizationOperations.list' permission for 'organizations/1'"
    )
