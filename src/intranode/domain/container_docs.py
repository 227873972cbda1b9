"""GKE's documents as its API returns them: Cluster, NodePool, Operation and the links in them.

Links follow GKE: a cluster's ``selfLink`` uses ``zones/`` for a zonal cluster and
``locations/`` for a regional one; operation links always use ``zones/<location>/``.
"""

from __future__ import annotations

from typing import Any

from intranode.domain import naming
from intranode.domain.auto_subnets import REGIONS
from intranode.domain.container import (
    MAX_PODS_PER_NODE,
    NODE_POD_PREFIX,
    ClusterPlan,
    PoolPlan,
    version_key,
)
from intranode.domain.resources import CONTAINER_BASE, compute_link
from intranode.domain.timefmt import rfc3339


# Links -----------------------------------------------------------------------------------------
def location_path(project: str, location: str) -> str:
    """The form GKE uses in links: ``zones/`` for a zone, ``locations/`` for a region."""
    kind = "locations" if location in REGIONS else "zones"
    return f"projects/{project}/{kind}/{location}"


def cluster_self_link(project: str, location: str, name: str) -> str:
    return f"{CONTAINER_BASE}{location_path(project, location)}/clusters/{name}"


def node_pool_self_link(project: str, location: str, cluster: str, pool: str) -> str:
    return cluster_self_link(project, location, cluster) + f"/nodePools/{pool}"


def operation_links(project: str, location: str, name: str, target_path: str) -> dict[str, str]:
    """Operation links always use the zones form, even for regions, as GKE's do."""
    base = f"{CONTAINER_BASE}projects/{project}/zones/{location}"
    return {"selfLink": f"{base}/operations/{name}", "targetLink": f"{base}/{target_path}"}


def zonal_key(key: str) -> str:
    """``projects/p/locations/l/...`` in the legacy zonal form GKE prints in some messages."""
    return key.replace("/locations/", "/zones/", 1)


def instance_group_url(project: str, zone: str, group: str) -> str:
    return compute_link(f"projects/{project}/zones/{zone}/instanceGroupManagers/{group}")


def group_of_url(url: str) -> tuple[str, str]:
    """(zone, group base name) of an instance group URL."""
    parts = url.rstrip("/").split("/")
    return parts[-3], parts[-1].removesuffix("-grp")


# Documents -------------------------------------------------------------------------------------
def pool_document(
    plan: PoolPlan,
    *,
    project: str,
    location: str,
    cluster: str,
    groups: dict[str, str],
    pods_range: str,
    pods_cidr: str,
    status: str,
) -> dict[str, Any]:
    """A NodePool as GKE returns it; ``groups`` maps each zone to its instance group's name."""
    doc: dict[str, Any] = {
        "name": plan.name,
        "config": plan.config,
        "initialNodeCount": plan.nodes_per_zone,
        "autoscaling": {},
        "management": {"autoUpgrade": True, "autoRepair": True},
        "maxPodsConstraint": {"maxPodsPerNode": str(MAX_PODS_PER_NODE)},
        "podIpv4CidrSize": NODE_POD_PREFIX,
        "locations": list(plan.zones),
        "networkConfig": {
            "podRange": pods_range,
            "podIpv4CidrBlock": pods_cidr,
        },
        "selfLink": node_pool_self_link(project, location, cluster, plan.name),
        "version": plan.version,
        "instanceGroupUrls": [instance_group_url(project, z, g) for z, g in groups.items()],
        "status": status,
        "upgradeSettings": {"maxSurge": 1, "strategy": "SURGE"},
        "etag": naming.new_group_hash(),
    }
    doc.update(plan.echo)
    return doc


def cluster_document(
    plan: ClusterPlan,
    *,
    project: str,
    cluster_id: str,
    pods: str,
    services: str,
    pods_range: str,
    services_range: str,
    pools: list[dict[str, Any]],
    now: float,
) -> dict[str, Any]:
    """A Cluster as GKE returns it while it is PROVISIONING."""
    loc = plan.location.name
    net_cfg: dict[str, Any] = {
        "network": f"projects/{project}/global/networks/{plan.network}",
        "subnetwork": f"projects/{project}/regions/{plan.location.region}/subnetworks/"
        f"{plan.subnetwork}",
        "defaultSnatStatus": {},
        "datapathProvider": "LEGACY_DATAPATH",
        "serviceExternalIpsConfig": {},
    }
    if plan.inv:
        net_cfg["enableIntraNodeVisibility"] = True
    doc: dict[str, Any] = {
        "name": plan.name,
        "nodeConfig": pools[0]["config"] if pools else {},
        "masterAuth": {"clusterCaCertificate": ""},
        "loggingService": "logging.googleapis.com/kubernetes",
        "monitoringService": "monitoring.googleapis.com/kubernetes",
        "network": plan.network,
        "clusterIpv4Cidr": pods,
        "addonsConfig": {
            "httpLoadBalancing": {},
            "horizontalPodAutoscaling": {},
            "kubernetesDashboard": {"disabled": True},
            "networkPolicyConfig": {"disabled": True},
            "dnsCacheConfig": {},
            "gcePersistentDiskCsiDriverConfig": {"enabled": True},
        },
        "subnetwork": plan.subnetwork,
        "nodePools": pools,
        "locations": list(plan.zones),
        "labelFingerprint": "a9dc16a7",
        "legacyAbac": {},
        "ipAllocationPolicy": {
            "useIpAliases": True,
            "clusterIpv4Cidr": pods,
            "servicesIpv4Cidr": services,
            "clusterSecondaryRangeName": pods_range,
            "servicesSecondaryRangeName": services_range,
            "clusterIpv4CidrBlock": pods,
            "servicesIpv4CidrBlock": services,
            "stackType": "IPV4",
            "podCidrOverprovisionConfig": {},
        },
        "masterAuthorizedNetworksConfig": {},
        "maintenancePolicy": {"resourceVersion": "e3b0c442"},
        "autoscaling": {},
        "networkConfig": net_cfg,
        "defaultMaxPodsConstraint": {"maxPodsPerNode": str(MAX_PODS_PER_NODE)},
        "authenticatorGroupsConfig": {},
        "databaseEncryption": {"state": "DECRYPTED"},
        "shieldedNodes": {"enabled": True},
        "releaseChannel": {"channel": plan.release_channel},
        "notificationConfig": {"pubsub": {}},
        "selfLink": cluster_self_link(project, loc, plan.name),
        "zone": loc,
        "endpoint": "",
        "initialClusterVersion": plan.master_version,
        "currentMasterVersion": plan.master_version,
        "currentNodeVersion": min((p["version"] for p in pools), key=version_key),
        "createTime": rfc3339(now, 0)[:-1] + "+00:00",
        "status": "PROVISIONING",
        "nodeIpv4CidrSize": NODE_POD_PREFIX,
        "servicesIpv4Cidr": services,
        "instanceGroupUrls": [u for p in pools for u in p["instanceGroupUrls"]],
        "currentNodeCount": 0,
        "location": loc,
        "id": cluster_id,
        "loggingConfig": {
            "componentConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]}
        },
        "monitoringConfig": {
            "componentConfig": {"enableComponents": ["SYSTEM_COMPONENTS"]},
            "managedPrometheusConfig": {"enabled": True},
        },
        "etag": naming.new_group_hash(),
    }
    if plan.autopilot:
        doc["autopilot"] = {"enabled": True}
    doc.update(plan.echo)
    return doc


def refresh_cluster_summary(doc: dict[str, Any]) -> None:
    """Keep the fields derived from node pools in step with them."""
    pools = doc.get("nodePools", [])
    doc["instanceGroupUrls"] = [u for p in pools for u in p.get("instanceGroupUrls", [])]
    if pools:
        doc["currentNodeVersion"] = min((p["version"] for p in pools), key=version_key)
        doc["nodeConfig"] = pools[0]["config"]
    doc["etag"] = naming.new_group_hash()


def operation_document(
    *,
    project: str,
    location: str,
    name: str,
    op_type: str,
    target_path: str,
    now: float,
) -> dict[str, Any]:
    return {
        "name": name,
        "zone": location,
        "operationType": op_type,
        "status": "RUNNING",
        **operation_links(project, location, name, target_path),
        "location": location,
        "startTime": rfc3339(now),
    }


# gRPC codes for google.rpc.Status in a failed operation, from the HTTP status of the failure.
_GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 412: 9, 429: 8, 501: 12, 503: 14}
GRPC_CANCELLED = 1


def grpc_code(http_code: int) -> int:
    return _GRPC_CODE.get(http_code, 13)


def finish_operation(
    op: dict[str, Any], now: float, *, error: tuple[int, str] | None = None
) -> dict[str, Any]:
    """The operation DONE; ``error`` is (gRPC code, message) when it failed."""
    out = {k: v for k, v in op.items() if k != WORK}
    out["status"] = "DONE"
    out["endTime"] = rfc3339(now)
    if error is not None:
        out["error"] = {"code": error[0], "message": error[1], "details": []}
        out["statusMessage"] = error[1]
    return out


# The private part of a stored operation: what its background work needs to resume after a
# restart. It is never shown to clients.
WORK = "_intranode"


def public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != WORK}
