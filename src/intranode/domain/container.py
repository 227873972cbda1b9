"""GKE cluster rules: versions, locations, and the checks a new cluster, a new node pool or an
update must pass. Every refusal is a Google-style error that names the rule it breaks, raised
before anything changes.

Limits intranode adds (documented, not Google's): at most ``MAX_NODES_PER_POOL_ZONE`` nodes per
node pool and zone; one /24 of the Pod range and at most 110 Pods per node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from intranode.domain.auto_subnets import REGIONS
from intranode.domain.container_messages import (
    ClusterIn,
    ClusterUpdateIn,
    NodeConfigIn,
    NodePoolIn,
    set_fields,
)
from intranode.errors import FailedPrecondition, InvalidArgument, Unimplemented

MAX_NODES_PER_POOL_ZONE = 100
NAME_MAX = 40
MAX_PODS_PER_NODE = 110
NODE_POD_PREFIX = 24  # one /24 of the Pod range per node
DEFAULT_POD_PREFIX = 14
DEFAULT_SERVICES_PREFIX = 20
ALLOCATION_SPACE = "10.0.0.0/8"
DEFAULT_MACHINE_TYPE = "e2-medium"
DEFAULT_IMAGE_TYPE = "COS_CONTAINERD"
DEFAULT_POOL = "default-pool"
INV_MIN_MINOR = 15
DEFAULT_SCOPES = (
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring",
    "https://www.googleapis.com/auth/service.management.readonly",
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/trace.append",
)
IMAGE_TYPES = (
    "COS_CONTAINERD",
    "COS",
    "UBUNTU_CONTAINERD",
    "UBUNTU",
    "WINDOWS_LTSC_CONTAINERD",
    "WINDOWS_SAC_CONTAINERD",
    "WINDOWS_LTSC",
    "WINDOWS_SAC",
)

# Versions --------------------------------------------------------------------------------------
VERSIONS = (
    "1.33.1-gke.1386000",
    "1.33.0-gke.1868000",
    "1.32.4-gke.1106006",
    "1.32.3-gke.1785003",
    "1.32.2-gke.1297002",
    "1.31.8-gke.1113000",
    "1.31.7-gke.1390000",
    "1.30.12-gke.1246000",
    "1.30.11-gke.1157000",
)
DEFAULT_VERSION = "1.32.4-gke.1106006"
CHANNEL_DEFAULTS = {
    "RAPID": "1.33.1-gke.1386000",
    "REGULAR": DEFAULT_VERSION,
    "STABLE": "1.31.8-gke.1113000",
    "EXTENDED": "1.30.12-gke.1246000",
}
_CHANNEL_MINORS = {"RAPID": (33, 32), "REGULAR": (32, 31), "STABLE": (31, 30), "EXTENDED": (30,)}
_VERSION_RE = re.compile(r"^1\.(\d+)(?:\.(\d+)(?:-gke\.(\d+))?)?$")


def version_key(v: str) -> tuple[int, int, int, int]:
    m = _VERSION_RE.match(v)
    assert m is not None, v
    return (1, int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


def requested_minor(version: str) -> int | None:
    """The minor a request names (``1.14`` -> 14), or None for an alias such as ``latest``."""
    m = _VERSION_RE.match(version.strip())
    return int(m.group(1)) if m else None


def resolve_version(requested: str, *, what: str = "Master", default: str = DEFAULT_VERSION) -> str:
    """GKE's version aliases: "latest", "-" or "" (the default), "1.X", "1.X.Y", "1.X.Y-gke.N"."""
    v = requested.strip()
    if v in ("", "-"):
        return default
    if v == "latest":
        return max(VERSIONS, key=version_key)
    if not _VERSION_RE.match(v):
        raise InvalidArgument(f'{what} version "{requested}" is invalid.')
    matches = [x for x in VERSIONS if x == v or x.startswith(v + ".") or x.startswith(v + "-")]
    if not matches:
        raise InvalidArgument(f'{what} version "{requested}" is unsupported.')
    return max(matches, key=version_key)


def server_config() -> dict[str, Any]:
    ordered = sorted(VERSIONS, key=version_key, reverse=True)
    channels = []
    for ch in ("RAPID", "REGULAR", "STABLE", "EXTENDED"):
        valid = [v for v in ordered if version_key(v)[1] in _CHANNEL_MINORS[ch]]
        channels.append(
            {
                "channel": ch,
                "defaultVersion": CHANNEL_DEFAULTS[ch],
                "validVersions": valid,
                "upgradeTargetVersion": valid[0],
            }
        )
    return {
        "defaultClusterVersion": DEFAULT_VERSION,
        "validNodeVersions": ordered,
        "defaultImageType": DEFAULT_IMAGE_TYPE,
        "validImageTypes": list(IMAGE_TYPES),
        "validMasterVersions": ordered,
        "channels": channels,
    }


# Locations -------------------------------------------------------------------------------------
_ZONE_RE = re.compile(r"^([a-z]+-[a-z]+\d+)-([a-z])$")
# Zones of the regions users name most; any other region is taken to have zones a, b and c.
REGION_ZONES: dict[str, tuple[str, ...]] = {
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
    "europe-west1": ("b", "c", "d"),
    "europe-west2": ("a", "b", "c"),
    "asia-northeast1": ("a", "b", "c"),
}


def zones_of_region(region: str) -> tuple[str, ...]:
    return tuple(f"{region}-{z}" for z in REGION_ZONES.get(region, ("a", "b", "c")))


@dataclass(frozen=True)
class Location:
    name: str
    region: str
    regional: bool


def parse_location(location: str) -> Location:
    """A zone or region of ``auto_subnets.REGIONS`` (the regions Compute serves)."""
    if location in REGIONS:
        return Location(location, location, True)
    m = _ZONE_RE.match(location)
    if m and m.group(1) in REGIONS and location in zones_of_region(m.group(1)):
        return Location(location, m.group(1), False)
    raise InvalidArgument(f'Location "{location}" does not exist.')


# Plans: what a valid request asks for -----------------------------------------------------------
@dataclass(frozen=True)
class PoolPlan:
    name: str
    nodes_per_zone: int
    zones: tuple[str, ...]
    version: str
    windows: bool
    config: dict[str, Any]  # NodeConfig as GKE returns it
    echo: dict[str, Any] = field(default_factory=dict)  # other NodePool fields, as sent

    @property
    def node_count(self) -> int:
        return self.nodes_per_zone * len(self.zones)


@dataclass(frozen=True)
class ClusterPlan:
    name: str
    location: Location
    zones: tuple[str, ...]
    master_version: str
    release_channel: str
    autopilot: bool
    inv: bool
    network: str  # names
    subnetwork: str
    pools: tuple[PoolPlan, ...]
    pods_request: str  # "" (default size), "/N" or a CIDR
    services_request: str
    pods_range_name: str  # an existing secondary range to use, or ""
    services_range_name: str
    echo: dict[str, Any] = field(default_factory=dict)  # other Cluster fields, as sent

    @property
    def node_count(self) -> int:
        return sum(p.node_count for p in self.pools)


_NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")


def check_name(what: str, name: str) -> None:
    if not _NAME_RE.match(name):
        raise InvalidArgument(
            f'Invalid value for field "{what}": "{name}". Must be a match of regex '
            "'(?:[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?)' (only alphanumerics and '-' allowed, "
            "must start with a letter and end with an alphanumeric, and must be no longer "
            f"than {NAME_MAX} characters)."
        )


def _last(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def is_windows(config: NodeConfigIn | None) -> bool:
    if config is None:
        return False
    return config.image_type.upper().startswith("WINDOWS") or (
        config.windows_node_config is not None
    )


def _inv_windows_error(pool: str) -> FailedPrecondition:
    return FailedPrecondition(
        "Intra-node visibility is not supported on clusters with Windows Server node pools "
        f'(node pool "{pool}" runs Windows).'
    )


def node_config_document(config: NodeConfigIn | None, *, autopilot: bool) -> dict[str, Any]:
    """A NodeConfig as GKE returns it: what was sent, GKE's defaults for the rest."""
    sent = set_fields(config) if config is not None else {}
    image = (config.image_type if config else "").upper() or DEFAULT_IMAGE_TYPE
    if image not in IMAGE_TYPES:
        raise InvalidArgument(
            f'Invalid image type "{config.image_type if config else ""}"; valid image types '
            f"are {', '.join(IMAGE_TYPES)}."
        )
    out: dict[str, Any] = {
        "machineType": DEFAULT_MACHINE_TYPE,
        "diskSizeGb": 100,
        "oauthScopes": list(DEFAULT_SCOPES),
        "metadata": {"disable-legacy-endpoints": "true"},
        "serviceAccount": "default",
        "diskType": "pd-balanced",
        "shieldedInstanceConfig": {"enableIntegrityMonitoring": True},
    }
    out.update({k: v for k, v in sent.items() if v not in ("", 0, [], {}, None)})
    out["imageType"] = image
    if "windowsNodeConfig" in sent:
        out["windowsNodeConfig"] = sent["windowsNodeConfig"]
    if autopilot:
        out["workloadMetadataConfig"] = {"mode": "GKE_METADATA"}
    return out


def plan_pool(
    pool: NodePoolIn,
    *,
    default_zones: tuple[str, ...],
    region: str,
    master_version: str,
    autopilot: bool,
    what: str = "node_pool",
) -> PoolPlan:
    check_name(f"{what}.name", pool.name)
    if pool.initial_node_count < 1:
        raise InvalidArgument(f"{what}.initial_node_count must be greater than zero.")
    if pool.initial_node_count > MAX_NODES_PER_POOL_ZONE:
        raise InvalidArgument(
            f"{what}.initial_node_count is {pool.initial_node_count}; intranode runs at most "
            f"{MAX_NODES_PER_POOL_ZONE} nodes per node pool and zone."
        )
    zones = tuple(pool.locations) or default_zones
    for z in zones:
        if z not in zones_of_region(region):
            raise InvalidArgument(f'Node pool location "{z}" is not a zone of region "{region}".')
    version = resolve_version(pool.version, what="Node", default=master_version)
    if version_key(version) > version_key(master_version):
        raise InvalidArgument(
            f'Node version "{version}" must not be newer than the master version '
            f'"{master_version}".'
        )
    windows = is_windows(pool.config)
    if windows and autopilot:
        raise InvalidArgument("Windows Server node pools are not supported on Autopilot clusters.")
    echo = {k: v for k, v in set_fields(pool).items() if k not in _POOL_HANDLED}
    return PoolPlan(
        name=pool.name,
        nodes_per_zone=pool.initial_node_count,
        zones=tuple(dict.fromkeys(zones)),
        version=version,
        windows=windows,
        config=node_config_document(pool.config, autopilot=autopilot),
        echo=echo,
    )


# NodePool fields intranode sets itself (a /24 per node, at most 110 Pods) or that are output only.
_POOL_HANDLED = {
    "name",
    "config",
    "initialNodeCount",
    "locations",
    "version",
    "networkConfig",
    "maxPodsConstraint",
    "podIpv4CidrSize",
    "selfLink",
    "instanceGroupUrls",
    "status",
    "statusMessage",
    "conditions",
    "etag",
}
_CLUSTER_HANDLED = {
    "name",
    "description",
    "initialNodeCount",
    "nodeConfig",
    "network",
    "clusterIpv4Cidr",
    "subnetwork",
    "nodePools",
    "locations",
    "ipAllocationPolicy",
    "networkConfig",
    "releaseChannel",
    "initialClusterVersion",
    "autopilot",
    "defaultMaxPodsConstraint",
    "nodeIpv4CidrSize",
    # output only: GKE ignores them on create
    "masterAuth",
    "selfLink",
    "zone",
    "endpoint",
    "currentMasterVersion",
    "currentNodeVersion",
    "createTime",
    "status",
    "statusMessage",
    "servicesIpv4Cidr",
    "instanceGroupUrls",
    "currentNodeCount",
    "expireTime",
    "location",
    "conditions",
    "id",
    "etag",
    "labelFingerprint",
    "currentEmulatedVersion",
}


def plan_cluster(cluster: ClusterIn, location: Location) -> ClusterPlan:
    """Check a new cluster against GKE's rules; every refusal names the rule it breaks."""
    check_name("cluster.name", cluster.name)
    autopilot = bool(cluster.autopilot and cluster.autopilot.enabled)
    netcfg = cluster.network_config
    inv = autopilot or bool(netcfg and netcfg.enable_intra_node_visibility)
    if autopilot and not location.regional:
        raise InvalidArgument(
            f'Autopilot clusters must be regional clusters; "{location.name}" is a zone.'
        )
    if netcfg and netcfg.datapath_provider == "ADVANCED_DATAPATH":
        raise Unimplemented("GKE Dataplane V2 (ADVANCED_DATAPATH) is not implemented by intranode.")

    channel = cluster.release_channel.channel if cluster.release_channel else "UNSPECIFIED"
    default_version = CHANNEL_DEFAULTS.get(channel, DEFAULT_VERSION)
    minor = requested_minor(cluster.initial_cluster_version)
    if inv and minor is not None and minor < INV_MIN_MINOR:
        raise InvalidArgument(
            "Intra-node visibility requires GKE version 1.15 or later; the requested version "
            f'is "{cluster.initial_cluster_version}".'
        )
    master = resolve_version(cluster.initial_cluster_version, default=default_version)

    zones = _cluster_zones(cluster.locations, location)
    if cluster.initial_node_count and cluster.node_pools:
        raise InvalidArgument(
            "Cluster.initial_node_count must not be set when Cluster.node_pools is set; "
            "set node_pool.initial_node_count instead."
        )
    if cluster.node_config is not None and cluster.node_pools:
        raise InvalidArgument(
            "Cluster.node_config must not be set when Cluster.node_pools is set; "
            "set node_pool.config instead."
        )
    pools_in: list[NodePoolIn] = list(cluster.node_pools)
    if not pools_in:
        if cluster.initial_node_count < 1 and not autopilot:
            raise InvalidArgument("Cluster.initial_node_count must be greater than zero.")
        pools_in = [
            NodePoolIn(
                name=DEFAULT_POOL,
                config=cluster.node_config,
                initial_node_count=max(cluster.initial_node_count, 1),
            )
        ]
    names = [p.name for p in pools_in]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidArgument(f'Node pool names must be unique; "{dupes[0]}" is used twice.')
    pools = tuple(
        plan_pool(
            p,
            default_zones=zones,
            region=location.region,
            master_version=master,
            autopilot=autopilot,
            what=f"cluster.node_pools[{i}]" if cluster.node_pools else "cluster",
        )
        for i, p in enumerate(pools_in)
    )
    windows = [p.name for p in pools if p.windows]
    if windows and inv:
        raise _inv_windows_error(windows[0])
    if windows and len(windows) == len(pools):
        raise InvalidArgument(
            "A cluster needs at least one Linux node pool; Windows Server node pools cannot "
            "be a cluster's only node pools."
        )

    pods_req, services_req, pods_name, services_name = _ip_requests(cluster)
    network = _last(cluster.network or (netcfg.network if netcfg else "") or "default")
    subnetwork = _last(cluster.subnetwork or (netcfg.subnetwork if netcfg else "") or "")
    echo = {k: v for k, v in set_fields(cluster).items() if k not in _CLUSTER_HANDLED}
    return ClusterPlan(
        name=cluster.name,
        location=location,
        zones=zones,
        master_version=master,
        release_channel=channel if channel != "UNSPECIFIED" else "REGULAR",
        autopilot=autopilot,
        inv=inv,
        network=network,
        subnetwork=subnetwork or network,
        pools=pools,
        pods_request=pods_req,
        services_request=services_req,
        pods_range_name=pods_name,
        services_range_name=services_name,
        echo=echo,
    )


def _cluster_zones(requested: list[str], location: Location) -> tuple[str, ...]:
    if requested:
        for z in requested:
            if z not in zones_of_region(location.region):
                raise InvalidArgument(
                    f'Location "{z}" is not a zone of region "{location.region}".'
                )
        if not location.regional and location.name not in requested:
            raise InvalidArgument(
                f'The node locations of a zonal cluster must include its zone "{location.name}".'
            )
        return tuple(dict.fromkeys(requested))
    if location.regional:
        return zones_of_region(location.region)[:3]
    return (location.name,)


def _ip_requests(cluster: ClusterIn) -> tuple[str, str, str, str]:
    policy = cluster.ip_allocation_policy
    if policy is None:
        return cluster.cluster_ipv4_cidr, "", "", ""
    if policy.use_routes:
        raise Unimplemented(
            "Routes-based clusters (ipAllocationPolicy.useRoutes) are not implemented by "
            "intranode; create a VPC-native cluster."
        )
    if policy.create_subnetwork or policy.subnetwork_name:
        raise Unimplemented(
            "ipAllocationPolicy.createSubnetwork is not implemented by intranode; use an "
            "existing subnetwork."
        )
    if policy.node_ipv4_cidr_block or policy.node_ipv4_cidr:
        raise Unimplemented("ipAllocationPolicy.nodeIpv4CidrBlock is not implemented by intranode.")
    if policy.stack_type == "IPV4_IPV6":
        raise Unimplemented("Dual-stack clusters (IPV4_IPV6) are not implemented by intranode.")
    pods = policy.cluster_ipv4_cidr_block or policy.cluster_ipv4_cidr or cluster.cluster_ipv4_cidr
    services = policy.services_ipv4_cidr_block or policy.services_ipv4_cidr
    if pods and policy.cluster_secondary_range_name:
        raise InvalidArgument(
            "ipAllocationPolicy.clusterIpv4CidrBlock and clusterSecondaryRangeName cannot both "
            "be set."
        )
    if services and policy.services_secondary_range_name:
        raise InvalidArgument(
            "ipAllocationPolicy.servicesIpv4CidrBlock and servicesSecondaryRangeName cannot "
            "both be set."
        )
    return (
        pods,
        services,
        policy.cluster_secondary_range_name,
        policy.services_secondary_range_name,
    )


# Updates ---------------------------------------------------------------------------------------
# ClusterUpdate fields that only change what the cluster resource says: desired field -> path of
# the Cluster field they set.
STORED_UPDATES: dict[str, tuple[str, ...]] = {
    "desiredLoggingService": ("loggingService",),
    "desiredMonitoringService": ("monitoringService",),
    "desiredAddonsConfig": ("addonsConfig",),
    "desiredReleaseChannel": ("releaseChannel",),
    "desiredLoggingConfig": ("loggingConfig",),
    "desiredMonitoringConfig": ("monitoringConfig",),
    "desiredVerticalPodAutoscaling": ("verticalPodAutoscaling",),
    "desiredShieldedNodes": ("shieldedNodes",),
    "desiredCostManagementConfig": ("costManagementConfig",),
    "desiredNotificationConfig": ("notificationConfig",),
    "desiredBinaryAuthorization": ("binaryAuthorization",),
    "desiredMasterAuthorizedNetworksConfig": ("masterAuthorizedNetworksConfig",),
    "desiredSecurityPostureConfig": ("securityPostureConfig",),
    "desiredWorkloadIdentityConfig": ("workloadIdentityConfig",),
    "desiredIdentityServiceConfig": ("identityServiceConfig",),
    "desiredResourceUsageExportConfig": ("resourceUsageExportConfig",),
    "desiredAuthenticatorGroupsConfig": ("authenticatorGroupsConfig",),
    "desiredClusterAutoscaling": ("autoscaling",),
    "desiredPodAutoscaling": ("podAutoscaling",),
    "desiredK8sBetaApis": ("enableK8sBetaApis",),
    "desiredGatewayApiConfig": ("networkConfig", "gatewayApiConfig"),
    "desiredDnsConfig": ("networkConfig", "dnsConfig"),
    "desiredDefaultSnatStatus": ("networkConfig", "defaultSnatStatus"),
    "desiredEnableFqdnNetworkPolicy": ("networkConfig", "enableFqdnNetworkPolicy"),
    "desiredServiceExternalIpsConfig": ("networkConfig", "serviceExternalIpsConfig"),
}
_UPDATE_HANDLED = {
    "desiredIntraNodeVisibilityConfig",
    "desiredMasterVersion",
    "desiredDatapathProvider",
    "etag",
}


@dataclass(frozen=True)
class UpdatePlan:
    op_type: str  # UPDATE_CLUSTER or UPGRADE_MASTER
    inv: bool | None  # the new intra-node visibility, None when unchanged
    master_version: str | None
    stored: dict[str, Any]  # desired field -> value, applied as STORED_UPDATES says


def plan_update(update: ClusterUpdateIn, cluster: dict[str, Any]) -> UpdatePlan:
    """Check an update against the cluster it changes; every refusal names the rule."""
    sent = set_fields(update)
    if update.etag and update.etag != cluster.get("etag"):
        raise FailedPrecondition(
            f'The cluster\'s etag is "{cluster.get("etag")}", not "{update.etag}"; read the '
            "cluster again and retry."
        )
    if update.desired_datapath_provider not in ("DATAPATH_PROVIDER_UNSPECIFIED", "LEGACY_DATAPATH"):
        raise Unimplemented("GKE Dataplane V2 (ADVANCED_DATAPATH) is not implemented by intranode.")
    unsupported = sorted(k for k in sent if k not in _UPDATE_HANDLED and k not in STORED_UPDATES)
    if unsupported:
        raise Unimplemented(
            f"ClusterUpdate.{unsupported[0]} is not implemented by intranode; it implements "
            "desiredIntraNodeVisibilityConfig, desiredMasterVersion and "
            + ", ".join(sorted(STORED_UPDATES))
            + "."
        )
    changes = {k for k in sent if k != "etag"}
    if not changes:
        raise InvalidArgument("The update must set at least one desired field.")

    inv: bool | None = None
    current_inv = bool(cluster.get("networkConfig", {}).get("enableIntraNodeVisibility"))
    if update.desired_intra_node_visibility_config is not None:
        want = update.desired_intra_node_visibility_config.enabled
        if cluster.get("autopilot", {}).get("enabled") and not want:
            raise FailedPrecondition(
                "Intra-node visibility is always enabled on Autopilot clusters and cannot be "
                "disabled."
            )
        if want:
            check_inv_allowed(cluster)
        inv = want if want != current_inv else None
    master: str | None = None
    if update.desired_master_version:
        master = resolve_version(update.desired_master_version)
        if version_key(master) < version_key(cluster["currentMasterVersion"]):
            raise FailedPrecondition(
                f'Master version "{master}" is older than the current version '
                f'"{cluster["currentMasterVersion"]}"; downgrades are not supported.'
            )
        if master == cluster["currentMasterVersion"]:
            master = None
    stored = {k: v for k, v in sent.items() if k in STORED_UPDATES}
    op_type = "UPGRADE_MASTER" if changes == {"desiredMasterVersion"} else "UPDATE_CLUSTER"
    return UpdatePlan(op_type=op_type, inv=inv, master_version=master, stored=stored)


def check_inv_allowed(cluster: dict[str, Any]) -> None:
    minor = version_key(cluster["currentMasterVersion"])[1]
    if minor < INV_MIN_MINOR:
        raise FailedPrecondition("Intra-node visibility requires GKE version 1.15 or later.")
    for pool in cluster.get("nodePools", []):
        if pool_is_windows(pool):
            raise _inv_windows_error(pool["name"])


def pool_is_windows(pool: dict[str, Any]) -> bool:
    cfg = pool.get("config", {})
    return str(cfg.get("imageType", "")).upper().startswith("WINDOWS") or (
        "windowsNodeConfig" in cfg
    )


def check_new_pool(plan: PoolPlan, cluster: dict[str, Any]) -> None:
    """Rules a node pool added to an existing cluster must follow."""
    if any(p["name"] == plan.name for p in cluster.get("nodePools", [])):
        raise InvalidArgument(
            f'Node pool "{plan.name}" already exists in cluster "{cluster["name"]}".'
        )
    if plan.windows and cluster.get("networkConfig", {}).get("enableIntraNodeVisibility"):
        raise FailedPrecondition(
            "Windows Server node pools are not supported on clusters with intra-node "
            "visibility enabled; disable intra-node visibility first."
        )


def apply_stored_updates(cluster: dict[str, Any], stored: dict[str, Any]) -> None:
    for desired, value in stored.items():
        *parents, leaf = STORED_UPDATES[desired]
        target = cluster
        for part in parents:
            target = target.setdefault(part, {})
        if value is False:  # proto3 JSON leaves false out
            target.pop(leaf, None)
        else:
            target[leaf] = value
