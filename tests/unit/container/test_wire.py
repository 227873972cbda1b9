"""The Container API on the wire: both path forms, proto3 JSON in, enum names out."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud.container_v1 import types as proto
from pydantic import BaseModel

from intranode.controllers.context import Context
from intranode.domain import container_messages as msgs
from tests.unit.conftest import PROJECT
from tests.unit.container.conftest import ZONE, cluster_url, create, snapshot, standard, wait_done

LEGACY = f"/v1/projects/{PROJECT}/zones"


def test_enums_may_arrive_as_numbers_and_are_answered_as_names(client: TestClient) -> None:
    body = standard(name="ints")
    body["releaseChannel"] = {"channel": 1}
    body["ipAllocationPolicy"] = {"useIpAliases": True, "stackType": 1}
    body["networkConfig"] = {"enableIntraNodeVisibility": True, "datapathProvider": 1}
    r = client.post(cluster_url() + "?%24alt=json%3Benum-encoding%3Dint", json={"cluster": body})
    assert r.status_code == 200, r.text
    assert r.json()["operationType"] == "CREATE_CLUSTER"
    done = wait_done(client, r.json())
    assert done["status"] == "DONE"
    c = client.get(cluster_url("ints") + "?%24alt=json%3Benum-encoding%3Dint").json()
    assert c["releaseChannel"] == {"channel": "RAPID"}
    assert c["currentMasterVersion"] == "1.33.1-gke.1386000"  # the RAPID default
    assert c["status"] == "RUNNING"
    assert c["ipAllocationPolicy"]["stackType"] == "IPV4"


def test_snake_case_field_names_are_accepted(client: TestClient) -> None:
    _, c = create(
        client,
        {
            "name": "snake",
            "initial_node_count": 1,
            "network_config": {"enable_intra_node_visibility": True},
        },
    )
    assert c["networkConfig"]["enableIntraNodeVisibility"] is True


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"cluster": {"name": "c", "nodePools": [{"name": "p", "config": {"bogus": 1}}]}},
            'Invalid JSON payload received. Unknown name "bogus"',
        ),
        ({"cluster": {"name": "c", "initialNodeCount": "three"}}, "cluster.initial_node_count"),
        ({"cluster": {"name": "c"}, "extra": True}, 'Unknown name "extra"'),
        ([1, 2], "Expected an object at the top level."),
    ],
    ids=["nested unknown field", "wrong type", "unknown top-level field", "not an object"],
)
def test_malformed_bodies_are_refused(
    client: TestClient, ctx: Context, raw: Any, message: str
) -> None:
    before = snapshot(ctx)
    r = client.post(cluster_url(), json=raw)
    assert r.status_code == 400
    assert message in r.json()["error"]["message"]
    assert snapshot(ctx) == before


def test_invalid_json_is_refused(client: TestClient) -> None:
    r = client.post(
        cluster_url(), content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("Invalid JSON payload received.")


def test_the_legacy_zonal_paths_work_end_to_end(client: TestClient) -> None:
    r = client.post(f"{LEGACY}/{ZONE}/clusters?alt=json", json={"cluster": standard()})
    assert r.status_code == 200
    op = client.get(f"{LEGACY}/{ZONE}/operations/{r.json()['name']}").json()
    assert op["name"] == r.json()["name"]
    wait_done(client, r.json())
    assert client.get(f"{LEGACY}/{ZONE}/clusters/flow-log-test").json()["status"] == "RUNNING"
    listed = client.get(f"{LEGACY}/-/clusters").json()["clusters"]
    assert [c["name"] for c in listed] == ["flow-log-test"]
    assert [
        p["name"]
        for p in client.get(f"{LEGACY}/{ZONE}/clusters/flow-log-test/nodePools").json()["nodePools"]
    ] == ["default-pool"]
    config = client.get(f"{LEGACY}/{ZONE}/serverconfig").json()
    assert config["defaultClusterVersion"] == "1.32.4-gke.1106006"
    gone = client.delete(f"{LEGACY}/{ZONE}/clusters/flow-log-test?prettyPrint=false")
    assert gone.status_code == 200
    wait_done(client, gone.json())
    assert client.get(f"{LEGACY}/{ZONE}/clusters/flow-log-test").status_code == 404


def test_server_config_offers_versions_and_channels(client: TestClient) -> None:
    r = client.get(f"/v1/projects/{PROJECT}/locations/us-central1/serverConfig")
    assert r.status_code == 200
    config = r.json()
    assert config["defaultClusterVersion"] == "1.32.4-gke.1106006"
    assert "1.32.4-gke.1106006" in config["validMasterVersions"]
    assert config["validMasterVersions"] == config["validNodeVersions"]
    assert {v.split(".")[1] for v in config["validMasterVersions"]} == {"30", "31", "32", "33"}
    channels = {c["channel"]: c for c in config["channels"]}
    assert set(channels) == {"RAPID", "REGULAR", "STABLE", "EXTENDED"}
    assert channels["REGULAR"]["defaultVersion"] == "1.32.4-gke.1106006"
    assert "COS_CONTAINERD" in config["validImageTypes"]
    bad = client.get(f"/v1/projects/{PROJECT}/locations/mars-north1/serverConfig")
    assert bad.status_code == 400


def test_operations_never_show_their_private_part(client: TestClient) -> None:
    done, _ = create(client, standard())
    listed = client.get(f"/v1/projects/{PROJECT}/locations/-/operations").json()["operations"]
    for op in [done, *listed]:
        assert not [k for k in op if k.startswith("_")]


def test_a_disabled_api_is_refused_before_anything_else(client: TestClient) -> None:
    r = client.post(f"/v1/projects/{PROJECT}/services/container.googleapis.com:disable", json={})
    assert r.status_code == 200, r.text
    for resp in (
        client.get(cluster_url()),
        client.post(cluster_url(), json={"cluster": standard()}),
        client.get(f"/v1/projects/{PROJECT}/locations/-/operations"),
    ):
        assert resp.status_code == 403
        assert resp.json()["error"]["status"] == "PERMISSION_DENIED"


def _aliases(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def _proto(message: Any) -> set[str]:
    return {f.json_name for f in message.pb().DESCRIPTOR.fields}


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (msgs.ClusterIn, proto.Cluster),
        (msgs.ClusterUpdateIn, proto.ClusterUpdate),
        (msgs.NodePoolIn, proto.NodePool),
        (msgs.NodeConfigIn, proto.NodeConfig),
        (msgs.NetworkConfigIn, proto.NetworkConfig),
        (msgs.IpAllocationPolicyIn, proto.IPAllocationPolicy),
        (msgs.AutopilotIn, proto.Autopilot),
        (msgs.CreateClusterRequest, proto.CreateClusterRequest),
        (msgs.UpdateClusterRequest, proto.UpdateClusterRequest),
        (msgs.CreateNodePoolRequest, proto.CreateNodePoolRequest),
        (msgs.CancelOperationRequest, proto.CancelOperationRequest),
    ],
)
def test_messages_take_exactly_the_fields_of_googles_proto(model: Any, message: Any) -> None:
    assert _aliases(model) == _proto(message)
