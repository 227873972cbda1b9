"""The same guide steps through the official Python clients (REST transport, http endpoint,
the daemon's token as the credential)."""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1, container_v1
from google.oauth2.credentials import Credentials

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.e2e


def _creds(daemon: Daemon) -> Credentials:
    return Credentials(token=daemon.token)


def _wait_gke(gke: container_v1.ClusterManagerClient, name: str) -> container_v1.Operation:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        op = gke.get_operation(name=name)
        if op.status == container_v1.Operation.Status.DONE:
            return op
        time.sleep(0.1)
    raise AssertionError(f"operation {name} not DONE in 30 s")


def test_container_client_creates_toggles_and_deletes(daemon: Daemon) -> None:
    gke = container_v1.ClusterManagerClient(
        credentials=_creds(daemon),
        transport="rest",
        client_options={"api_endpoint": daemon.base_url},
    )
    parent = f"projects/{daemon.project}/locations/us-central1-a"
    op = gke.create_cluster(
        parent=parent,
        cluster=container_v1.Cluster(
            name="py-client",
            initial_node_count=2,
            network_config=container_v1.NetworkConfig(enable_intra_node_visibility=True),
        ),
    )
    assert op.operation_type == container_v1.Operation.Type.CREATE_CLUSTER
    done = _wait_gke(gke, f"{parent}/operations/{op.name}")
    assert not done.error.message
    cluster = gke.get_cluster(name=f"{parent}/clusters/py-client")
    assert cluster.status == container_v1.Cluster.Status.RUNNING
    assert cluster.network_config.enable_intra_node_visibility is True
    assert cluster.current_node_count == 2

    op = gke.update_cluster(
        name=f"{parent}/clusters/py-client",
        update=container_v1.ClusterUpdate(
            desired_intra_node_visibility_config=container_v1.IntraNodeVisibilityConfig(
                enabled=False
            )
        ),
    )
    assert op.operation_type == container_v1.Operation.Type.UPDATE_CLUSTER
    _wait_gke(gke, f"{parent}/operations/{op.name}")
    assert not gke.get_cluster(
        name=f"{parent}/clusters/py-client"
    ).network_config.enable_intra_node_visibility

    with pytest.raises(gexc.NotFound):
        gke.get_cluster(name=f"{parent}/clusters/no-such-cluster")
    with pytest.raises(gexc.Conflict):
        gke.create_cluster(
            parent=parent, cluster=container_v1.Cluster(name="py-client", initial_node_count=1)
        )

    op = gke.delete_cluster(name=f"{parent}/clusters/py-client")
    _wait_gke(gke, f"{parent}/operations/{op.name}")
    with pytest.raises(gexc.NotFound):
        gke.get_cluster(name=f"{parent}/clusters/py-client")


def test_compute_client_patches_flow_logs_with_the_fingerprint(daemon: Daemon) -> None:
    kw = {"credentials": _creds(daemon), "client_options": {"api_endpoint": daemon.base_url}}
    subnets = compute_v1.SubnetworksClient(**kw)
    ops = compute_v1.RegionOperationsClient(**kw)
    sub = subnets.get(project=daemon.project, region="us-central1", subnetwork="default")
    assert sub.ip_cidr_range == "10.128.0.0/20"
    op = subnets.patch_unary(
        project=daemon.project,
        region="us-central1",
        subnetwork="default",
        subnetwork_resource=compute_v1.Subnetwork(
            fingerprint=sub.fingerprint,
            log_config=compute_v1.SubnetworkLogConfig(enable=True, flow_sampling=0.25),
        ),
    )
    ops.wait(project=daemon.project, region="us-central1", operation=op.name)
    after = subnets.get(project=daemon.project, region="us-central1", subnetwork="default")
    assert after.log_config.enable is True
    assert after.log_config.flow_sampling == pytest.approx(0.25)
    assert after.fingerprint != sub.fingerprint
    # The fingerprint we used is stale now: Google answers 412 and nothing changes.
    with pytest.raises(gexc.PreconditionFailed):
        subnets.patch_unary(
            project=daemon.project,
            region="us-central1",
            subnetwork="default",
            subnetwork_resource=compute_v1.Subnetwork(
                fingerprint=sub.fingerprint,
                log_config=compute_v1.SubnetworkLogConfig(flow_sampling=0.9),
            ),
        )
    again = subnets.get(project=daemon.project, region="us-central1", subnetwork="default")
    assert again.log_config.flow_sampling == pytest.approx(0.25)


def test_logging_client_writes_and_reads_with_its_own_timestamp_clause(daemon: Daemon) -> None:
    import google.cloud.logging as gcl

    client = gcl.Client(
        project=daemon.project,
        credentials=_creds(daemon),
        client_options={"api_endpoint": daemon.base_url},
        _use_grpc=False,
    )
    logger = client.logger("e2e-python")
    logger.log_struct({"connection": {"src_ip": "10.52.0.13", "dest_port": 8080}})
    entries = list(
        client.list_entries(filter_='jsonPayload.connection.src_ip="10.52.0.13"', max_results=5)
    )
    assert len(entries) == 1
    assert entries[0].payload["connection"]["dest_port"] == 8080
