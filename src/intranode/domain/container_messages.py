"""Container v1 request messages as Google's front end parses them (proto3 JSON).

A missing field is its default; enums arrive as names or numbers (the Python client sends
numbers with ``$alt=json;enum-encoding=int``) and are held as names; snake_case field names are
accepted like the camelCase JSON names; a name the message does not have is refused
(``Invalid JSON payload received. Unknown name "x" at 'cluster': Cannot find field.``). Only
the fields intranode acts on are typed; every other field of the proto message is accepted as
any JSON value and echoed back as sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel, to_snake

# Enums -----------------------------------------------------------------------------------------
# The names of the enums requests carry, in proto number order.
RELEASE_CHANNELS = ("UNSPECIFIED", "RAPID", "REGULAR", "STABLE", "EXTENDED")
DATAPATH_PROVIDERS = ("DATAPATH_PROVIDER_UNSPECIFIED", "LEGACY_DATAPATH", "ADVANCED_DATAPATH")
STACK_TYPES = ("STACK_TYPE_UNSPECIFIED", "IPV4", "IPV4_IPV6")
OS_VERSIONS = ("OS_VERSION_UNSPECIFIED", "OS_VERSION_LTSC2019", "OS_VERSION_LTSC2022")


def _enum(values: Sequence[str]) -> Callable[[Any], str]:
    """Turns an enum's name or number into its name, as proto3 JSON allows either."""
    by_number = dict(enumerate(values))
    names = set(values)

    def convert(value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and value in by_number:
            return by_number[value]
        if isinstance(value, str) and value in names:
            return value
        raise ValueError("invalid enum value")

    return convert


ReleaseChannelName = Annotated[str, BeforeValidator(_enum(RELEASE_CHANNELS))]
DatapathProvider = Annotated[str, BeforeValidator(_enum(DATAPATH_PROVIDERS))]
StackType = Annotated[str, BeforeValidator(_enum(STACK_TYPES))]
OsVersion = Annotated[str, BeforeValidator(_enum(OS_VERSIONS))]


# Messages --------------------------------------------------------------------------------------
class _Msg(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        frozen=True,
    )


def _with_opaque(base: type[_Msg], name: str, proto_fields: str) -> Any:
    """``base`` plus every other field the proto message has, accepted as any JSON value."""
    typed = {f.alias or k for k, f in base.model_fields.items()}
    extra: dict[str, Any] = {
        to_snake(n): (Any, Field(default=None, alias=n))
        for n in proto_fields.split()
        if n not in typed
    }
    return create_model(name, __base__=base, **extra)


class IntraNodeVisibilityConfigIn(_Msg):
    enabled: bool = False


class WindowsNodeConfigIn(_Msg):
    os_version: OsVersion = "OS_VERSION_UNSPECIFIED"


class ReleaseChannelIn(_Msg):
    channel: ReleaseChannelName = "UNSPECIFIED"


class _NodeConfigFields(_Msg):
    machine_type: str = ""
    disk_size_gb: int = 0
    oauth_scopes: list[str] = Field(default_factory=list)
    service_account: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)
    image_type: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    disk_type: str = ""
    preemptible: bool = False
    spot: bool = False
    windows_node_config: WindowsNodeConfigIn | None = None


class _NodePoolFields(_Msg):
    name: str = ""
    config: NodeConfigIn | None = None
    initial_node_count: int = 0
    locations: list[str] = Field(default_factory=list)
    version: str = ""


class _NetworkConfigFields(_Msg):
    network: str = ""
    subnetwork: str = ""
    enable_intra_node_visibility: bool = False
    datapath_provider: DatapathProvider = "DATAPATH_PROVIDER_UNSPECIFIED"


class _IpAllocationFields(_Msg):
    use_ip_aliases: bool = False
    create_subnetwork: bool = False
    subnetwork_name: str = ""
    cluster_ipv4_cidr: str = ""
    node_ipv4_cidr: str = ""
    services_ipv4_cidr: str = ""
    cluster_secondary_range_name: str = ""
    services_secondary_range_name: str = ""
    cluster_ipv4_cidr_block: str = ""
    node_ipv4_cidr_block: str = ""
    services_ipv4_cidr_block: str = ""
    use_routes: bool = False
    stack_type: StackType = "STACK_TYPE_UNSPECIFIED"


class _AutopilotFields(_Msg):
    enabled: bool = False


class _ClusterFields(_Msg):
    name: str = ""
    description: str = ""
    initial_node_count: int = 0
    node_config: NodeConfigIn | None = None
    network: str = ""
    cluster_ipv4_cidr: str = ""
    subnetwork: str = ""
    node_pools: list[NodePoolIn] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    resource_labels: dict[str, str] = Field(default_factory=dict)
    ip_allocation_policy: IpAllocationPolicyIn | None = None
    network_config: NetworkConfigIn | None = None
    release_channel: ReleaseChannelIn | None = None
    initial_cluster_version: str = ""
    autopilot: AutopilotIn | None = None


class _ClusterUpdateFields(_Msg):
    desired_intra_node_visibility_config: IntraNodeVisibilityConfigIn | None = None
    desired_master_version: str = ""
    desired_node_version: str = ""
    desired_node_pool_id: str = ""
    desired_datapath_provider: DatapathProvider = "DATAPATH_PROVIDER_UNSPECIFIED"
    etag: str = ""


_NODE_CONFIG_PROTO = """machineType diskSizeGb oauthScopes serviceAccount metadata imageType
nodeImageConfig labels localSsdCount tags preemptible accelerators diskType minCpuPlatform
workloadMetadataConfig taints sandboxConfig nodeGroup reservationAffinity shieldedInstanceConfig
linuxNodeConfig kubeletConfig bootDiskKmsKey gcfsConfig advancedMachineFeatures gvnic spot
confidentialNodes fastSocket resourceLabels loggingConfig windowsNodeConfig
localNvmeSsdBlockConfig ephemeralStorageLocalSsdConfig soleTenantConfig containerdConfig
resourceManagerTags enableConfidentialStorage secondaryBootDisks storagePools
secondaryBootDiskUpdateStrategy gpuDirectConfig maxRunDuration localSsdEncryptionMode
effectiveCgroupMode flexStart bootDisk consolidationDelay taintConfig"""
_NODE_POOL_PROTO = """name config initialNodeCount locations networkConfig selfLink version
instanceGroupUrls status statusMessage autoscaling management maxPodsConstraint conditions
podIpv4CidrSize upgradeSettings placementPolicy updateInfo etag queuedProvisioning
bestEffortProvisioning nodeDrainConfig maintenancePolicy kubeletCertInfo"""
_NETWORK_CONFIG_PROTO = """network subnetwork enableIntraNodeVisibility defaultSnatStatus
enableL4ilbSubsetting datapathProvider privateIpv6GoogleAccess dnsConfig serviceExternalIpsConfig
gatewayApiConfig enableMultiNetworking networkPerformanceConfig enableFqdnNetworkPolicy
inTransitEncryptionConfig enableCiliumClusterwideNetworkPolicy defaultEnablePrivateNodes
dataplaneV2Config disableL4LbFirewallReconciliation"""
_IP_ALLOCATION_PROTO = """useIpAliases createSubnetwork subnetworkName clusterIpv4Cidr
nodeIpv4Cidr servicesIpv4Cidr clusterSecondaryRangeName servicesSecondaryRangeName
clusterIpv4CidrBlock nodeIpv4CidrBlock servicesIpv4CidrBlock tpuIpv4CidrBlock useRoutes
stackType ipv6AccessType podCidrOverprovisionConfig subnetIpv6CidrBlock servicesIpv6CidrBlock
additionalPodRangesConfig defaultPodIpv4RangeUtilization additionalIpRangesConfigs
autoIpamConfig networkTierConfig"""
_AUTOPILOT_PROTO = "enabled workloadPolicyConfig privilegedAdmissionConfig clusterPolicyConfig"
CLUSTER_PROTO = """name description initialNodeCount nodeConfig masterAuth loggingService
monitoringService network clusterIpv4Cidr addonsConfig subnetwork nodePools locations
enableKubernetesAlpha alphaClusterFeatureGates resourceLabels labelFingerprint legacyAbac
networkPolicy ipAllocationPolicy masterAuthorizedNetworksConfig maintenancePolicy
binaryAuthorization autoscaling networkConfig defaultMaxPodsConstraint resourceUsageExportConfig
authenticatorGroupsConfig privateClusterConfig databaseEncryption verticalPodAutoscaling
shieldedNodes releaseChannel workloadIdentityConfig meshCertificates costManagementConfig
notificationConfig confidentialNodes identityServiceConfig selfLink zone endpoint
initialClusterVersion currentMasterVersion currentEmulatedVersion rollbackSafeUpgrade
currentNodeVersion createTime status statusMessage nodeIpv4CidrSize servicesIpv4Cidr
instanceGroupUrls currentNodeCount expireTime location enableTpu tpuIpv4CidrBlock conditions
autopilot id nodePoolDefaults loggingConfig monitoringConfig nodePoolAutoConfig podAutoscaling
etag fleet securityPostureConfig controlPlaneEndpointsConfig enableK8sBetaApis enterpriseConfig
secretManagerConfig compliancePostureConfig satisfiesPzs satisfiesPzi userManagedKeysConfig
rbacBindingConfig gkeAutoUpgradeConfig anonymousAuthenticationConfig scheduleUpgradeConfig
secretSyncConfig managedOpentelemetryConfig controlPlaneEgress
managedMachineLearningDiagnosticsConfig nodeCreationConfig"""
CLUSTER_UPDATE_PROTO = """desiredNodeVersion desiredMonitoringService desiredAddonsConfig
desiredNodePoolId desiredImageType desiredImage desiredImageProject desiredDatabaseEncryption
desiredWorkloadIdentityConfig desiredMeshCertificates desiredShieldedNodes
desiredCostManagementConfig desiredDnsConfig desiredNodePoolAutoscaling desiredLocations
desiredMasterAuthorizedNetworksConfig desiredClusterAutoscaling desiredBinaryAuthorization
desiredLoggingService desiredResourceUsageExportConfig desiredVerticalPodAutoscaling
desiredPrivateClusterConfig desiredIntraNodeVisibilityConfig desiredDefaultSnatStatus
desiredReleaseChannel desiredL4ilbSubsettingConfig desiredDatapathProvider
desiredPrivateIpv6GoogleAccess desiredNotificationConfig desiredAuthenticatorGroupsConfig
desiredLoggingConfig desiredMonitoringConfig desiredIdentityServiceConfig
desiredServiceExternalIpsConfig desiredEnablePrivateEndpoint desiredDefaultEnablePrivateNodes
desiredControlPlaneEndpointsConfig desiredMasterVersion desiredGcfsConfig
desiredNodePoolAutoConfigNetworkTags desiredPodAutoscaling desiredGatewayApiConfig etag
desiredNodePoolLoggingConfig desiredFleet desiredStackType additionalPodRangesConfig
removedAdditionalPodRangesConfig enableK8sBetaApis desiredSecurityPostureConfig
desiredNetworkPerformanceConfig desiredEnableFqdnNetworkPolicy
desiredAutopilotWorkloadPolicyConfig desiredK8sBetaApis desiredContainerdConfig
desiredEnableMultiNetworking desiredNodePoolAutoConfigResourceManagerTags
desiredInTransitEncryptionConfig desiredEnableCiliumClusterwideNetworkPolicy
desiredSecretManagerConfig desiredCompliancePostureConfig desiredNodeKubeletConfig
desiredNodePoolAutoConfigKubeletConfig userManagedKeysConfig desiredRbacBindingConfig
desiredAdditionalIpRangesConfig desiredEnterpriseConfig desiredAutoIpamConfig
desiredDisableL4LbFirewallReconciliation desiredNodePoolAutoConfigLinuxNodeConfig
desiredUserManagedKeysConfig desiredAnonymousAuthenticationConfig gkeAutoUpgradeConfig
desiredNetworkTierConfig desiredSecretSyncConfig desiredPrivilegedAdmissionConfig
desiredControlPlaneEgress desiredRollbackSafeUpgrade desiredManagedOpentelemetryConfig
desiredAutopilotClusterPolicyConfig desiredManagedMachineLearningDiagnosticsConfig
desiredNodeCreationConfig desiredEmulatedVersion"""

# mypy sees the typed part of each message; at run time each also takes the proto's other fields.
if TYPE_CHECKING:
    NodeConfigIn = _NodeConfigFields
    NodePoolIn = _NodePoolFields
    NetworkConfigIn = _NetworkConfigFields
    IpAllocationPolicyIn = _IpAllocationFields
    AutopilotIn = _AutopilotFields
    ClusterIn = _ClusterFields
    ClusterUpdateIn = _ClusterUpdateFields
else:
    NodeConfigIn = _with_opaque(_NodeConfigFields, "NodeConfig", _NODE_CONFIG_PROTO)
    _NodePoolFields.model_rebuild()
    NodePoolIn = _with_opaque(_NodePoolFields, "NodePool", _NODE_POOL_PROTO)
    NetworkConfigIn = _with_opaque(_NetworkConfigFields, "NetworkConfig", _NETWORK_CONFIG_PROTO)
    IpAllocationPolicyIn = _with_opaque(
        _IpAllocationFields, "IPAllocationPolicy", _IP_ALLOCATION_PROTO
    )
    AutopilotIn = _with_opaque(_AutopilotFields, "Autopilot", _AUTOPILOT_PROTO)
    _ClusterFields.model_rebuild()
    ClusterIn = _with_opaque(_ClusterFields, "Cluster", CLUSTER_PROTO)
    ClusterUpdateIn = _with_opaque(_ClusterUpdateFields, "ClusterUpdate", CLUSTER_UPDATE_PROTO)


class CreateClusterRequest(_Msg):
    project_id: str = ""
    zone: str = ""
    cluster: ClusterIn | None = None
    parent: str = ""


class UpdateClusterRequest(_Msg):
    project_id: str = ""
    zone: str = ""
    cluster_id: str = ""
    update: ClusterUpdateIn | None = None
    name: str = ""


class CreateNodePoolRequest(_Msg):
    project_id: str = ""
    zone: str = ""
    cluster_id: str = ""
    node_pool: NodePoolIn | None = None
    parent: str = ""


class CancelOperationRequest(_Msg):
    project_id: str = ""
    zone: str = ""
    operation_id: str = ""
    name: str = ""


def set_fields(msg: BaseModel) -> dict[str, Any]:
    """The fields a proto3 JSON message carries (by JSON name), absent ones left out."""
    out: dict[str, Any] = msg.model_dump(by_alias=True, exclude_unset=True)
    return out
