"""Unmanaged instance groups: insert as gcloud sends it, members through addInstances /
removeInstances / listInstances, the size and network they give the group, refusals that
change nothing, and the managed groups GKE's node pools imply."""

from __future__ import annotations

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from tests.unit.compute.helpers import BASE, LINK, error_of, get

from .world import (
    GROUP_BASE,
    GROUPS,
    NODE_A,
    NODE_B,
    ZONAL,
    ZONE,
    add_network,
    add_node,
    collector,
    link,
    ok,
)


def members(client: TestClient, group: str = "ig1") -> list[dict[str, str]]:
    items: list[dict[str, str]] = ok(client.post(f"{GROUPS}/{group}/listInstances", json={})).get(
        "items", []
    )
    return items


def add(client: TestClient, *names: str, group: str = "ig1") -> object:
    refs = [{"instance": f"{LINK}/zones/{ZONE}/instances/{n}"} for n in names]
    return client.post(f"{GROUPS}/{group}/addInstances", json={"instances": refs})


def test_insert_is_a_zonal_operation_and_an_empty_group(client: TestClient) -> None:
    op = ok(client.post(GROUPS, json={"name": "ig1"}))
    assert op["operationType"] == "insert" and op["status"] == "DONE"
    assert op["zone"] == f"{LINK}/zones/{ZONE}"
    assert op["targetLink"] == f"{LINK}/zones/{ZONE}/instanceGroups/ig1"
    group = get(client, f"{GROUPS}/ig1")
    assert group["kind"] == "compute#instanceGroup"
    assert group["id"] == op["targetId"]
    assert group["size"] == 0
    assert group["zone"] == f"{LINK}/zones/{ZONE}"
    assert "network" not in group and "subnetwork" not in group
    assert ok(client.get(f"{ZONAL}/operations/{op['name']}"))["status"] == "DONE"


def test_members_give_the_group_its_size_and_network(client: TestClient, ctx: Context) -> None:
    add_node(ctx, NODE_A, "10.128.0.2")
    add_node(ctx, NODE_B, "10.128.0.3")
    ok(client.post(GROUPS, json={"name": "ig1"}))
    op = ok(add(client, NODE_A, NODE_B))
    assert op["operationType"] == "addInstances"
    group = get(client, f"{GROUPS}/ig1")
    assert group["size"] == 2
    assert group["network"] == f"{LINK}/global/networks/default"
    assert group["subnetwork"] == f"{LINK}/regions/us-central1/subnetworks/default"
    assert members(client) == [
        {"instance": f"{LINK}/zones/{ZONE}/instances/{NODE_A}", "status": "RUNNING"},
        {"instance": f"{LINK}/zones/{ZONE}/instances/{NODE_B}", "status": "RUNNING"},
    ]
    ok(
        client.post(
            f"{GROUPS}/ig1/removeInstances",
            json={"instances": [{"instance": link(f"{ZONAL}/instances/{NODE_A}")}]},
        )
    )
    assert [m["instance"].rsplit("/", 1)[1] for m in members(client)] == [NODE_B]
    assert get(client, f"{GROUPS}/ig1")["size"] == 1


def test_lists_and_aggregated_list_show_the_group(client: TestClient, ctx: Context) -> None:
    add_node(ctx, NODE_A, "10.128.0.2")
    ok(client.post(GROUPS, json={"name": "ig1", "description": "d"}))
    ok(add(client, NODE_A))
    listed = ok(client.get(GROUPS))
    assert listed["kind"] == "compute#instanceGroupList"
    assert [(g["name"], g["size"]) for g in listed["items"]] == [("ig1", 1)]
    agg = ok(client.get(f"{BASE}/aggregated/instanceGroups"))
    assert [g["name"] for g in agg["items"][f"zones/{ZONE}"]["instanceGroups"]] == ["ig1"]


def test_an_instance_joins_once(client: TestClient, ctx: Context) -> None:
    add_node(ctx, NODE_A, "10.128.0.2")
    ok(client.post(GROUPS, json={"name": "ig1"}))
    ok(add(client, NODE_A))
    r = add(client, NODE_A)
    assert r.status_code == 400  # type: ignore[attr-defined]
    err = error_of(r)
    assert err["errors"][0]["reason"] == "memberAlreadyExists"
    assert err["message"] == (
        f"Resource '{LINK}/zones/{ZONE}/instances/{NODE_A}' is already a member of "
        f"'{LINK}/zones/{ZONE}/instanceGroups/ig1'"
    )
    assert len(members(client)) == 1


def test_refused_additions_change_nothing(client: TestClient, ctx: Context) -> None:
    add_node(ctx, NODE_A, "10.128.0.2")
    add_network(client, "other", "10.200.0.0/20")
    add_node(ctx, NODE_B, "10.200.0.2", network="other", subnet="other")
    ok(client.post(GROUPS, json={"name": "ig1"}))
    ok(add(client, NODE_A))
    missing = add(client, "nope")
    assert missing.status_code == 404  # type: ignore[attr-defined]
    assert error_of(missing)["message"] == (
        f"The resource 'projects/test-proj/zones/{ZONE}/instances/nope' was not found"
    )
    other_net = add(client, NODE_B)
    assert other_net.status_code == 400  # type: ignore[attr-defined]
    assert "must be in the network" in error_of(other_net)["message"]
    elsewhere = client.post(
        f"{GROUPS}/ig1/addInstances",
        json={"instances": [{"instance": f"zones/us-central1-b/instances/{NODE_A}"}]},
    )
    assert elsewhere.status_code == 400
    assert error_of(elsewhere)["message"] == (
        "Invalid value for field 'instances[0].instance': "
        f"'zones/us-central1-b/instances/{NODE_A}'. The instance must be in the zone of the "
        f"group, {ZONE}."
    )
    empty = client.post(f"{GROUPS}/ig1/addInstances", json={})
    assert error_of(empty)["message"] == "Required field 'instances' not specified"
    assert [m["instance"].rsplit("/", 1)[1] for m in members(client)] == [NODE_A]


def test_removing_a_stranger_is_refused(client: TestClient, ctx: Context) -> None:
    add_node(ctx, NODE_A, "10.128.0.2")
    ok(client.post(GROUPS, json={"name": "ig1"}))
    r = client.post(
        f"{GROUPS}/ig1/removeInstances",
        json={"instances": [{"instance": f"zones/{ZONE}/instances/{NODE_A}"}]},
    )
    assert r.status_code == 400
    assert "is not a member of" in error_of(r)["message"]


def test_bad_names_zones_and_bodies(client: TestClient) -> None:
    bad = client.post(GROUPS, json={"name": "Bad_Name"})
    assert bad.status_code == 400
    assert error_of(bad)["message"].startswith(
        "Invalid value for field 'resource.name': 'Bad_Name'. Must be a match of regex"
    )
    unknown = client.post(GROUPS, json={"name": "ig1", "color": "red"})
    assert error_of(unknown)["message"] == (
        "Invalid JSON payload received. Unknown name \"color\" at 'resource': Cannot find field."
    )
    nowhere = client.post(f"{BASE}/zones/mars-north1-a/instanceGroups", json={"name": "ig1"})
    assert nowhere.status_code == 404
    assert error_of(nowhere)["message"] == (
        "The resource 'projects/test-proj/zones/mars-north1-a' was not found"
    )
    assert client.get(f"{GROUPS}/ig1").status_code == 404
    dup = [ok(client.post(GROUPS, json={"name": "ig1"})), client.post(GROUPS, json={"name": "ig1"})]
    assert dup[1].status_code == 409


def test_a_group_behind_a_backend_service_cannot_be_deleted(client: TestClient) -> None:
    collector(client, "col")
    r = client.delete(f"{GROUPS}/col")
    assert r.status_code == 400
    err = error_of(r)
    assert err["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    assert err["message"] == (
        f"The instance_group resource 'projects/test-proj/zones/{ZONE}/instanceGroups/col' is "
        "already being used by 'projects/test-proj/regions/us-central1/backendServices/col'"
    )
    assert client.get(f"{GROUPS}/col").status_code == 200


def test_delete_removes_the_group_and_its_members(client: TestClient, ctx: Context) -> None:
    add_node(ctx, NODE_A, "10.128.0.2")
    ok(client.post(GROUPS, json={"name": "ig1"}))
    ok(add(client, NODE_A))
    op = ok(client.delete(f"{GROUPS}/ig1"))
    assert op["operationType"] == "delete"
    assert client.get(f"{GROUPS}/ig1").status_code == 404
    ok(client.post(GROUPS, json={"name": "ig1"}))
    assert members(client) == []  # a new group of the same name starts empty


def test_gke_node_pools_show_as_managed_groups(client: TestClient, ctx: Context) -> None:
    add_node(ctx, NODE_A, "10.128.0.2")
    add_node(ctx, NODE_B, "10.128.0.3")
    listed = ok(client.get(f"{ZONAL}/instanceGroupManagers"))
    assert listed["kind"] == "compute#instanceGroupManagerList"
    [igm] = listed["items"]
    assert igm["name"] == f"{GROUP_BASE}-grp"
    assert igm["targetSize"] == 2
    assert igm["baseInstanceName"] == GROUP_BASE
    assert igm["instanceGroup"] == f"{LINK}/zones/{ZONE}/instanceGroups/{GROUP_BASE}-grp"
