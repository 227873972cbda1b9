"""Internal passthrough load balancing at the depth a Packet Mirroring collector needs: zonal
unmanaged instance groups, health checks (global and regional; TCP and HTTP), regional
backend services (``INTERNAL``, backends are instance groups) and regional forwarding rules
(``INTERNAL``, ``backendService``, an address from the subnet, ``ports`` or ``allPorts``,
``isMirroringCollector``). Bodies, Google's validation and defaults, stored documents.

What is served and what is refused (501) rather than half-done: other load-balancing schemes,
forwarding-rule ``target``\\s (target instances, proxies), network endpoint groups, health-check
types other than TCP and HTTP, and address resources as ``IPAddress``.

Defaults as Google fills them: health checks ``checkIntervalSec`` 5, ``timeoutSec`` 5,
``healthyThreshold`` 2, ``unhealthyThreshold`` 2, port 80, ``proxyHeader: NONE`` (HTTP also
``requestPath: /``); backend services ``protocol: TCP``, ``sessionAffinity: NONE``,
``timeoutSec: 30``, ``connectionDraining.drainingTimeoutSec: 0`` and each backend's
``balancingMode: CONNECTION`` (the only mode of an internal passthrough balancer); forwarding
rules ``IPProtocol: TCP``, ``networkTier: PREMIUM``, the default network, the network's own
subnet in the region when it is in auto mode, and an unused address of that subnet (taken
from the top of the range, so GKE's lowest-first node addresses do not meet it).

Message texts: ``Required field '...' not specified``, the name regex, ``The URL is
malformed.``, ``not found``, ``already exists`` and ``is already being used by`` are Google's;
the other reasons are intranode's wording in Google's ``Invalid value for field '<path>':
'<value>'. <reason>`` form.

Cross-resource checks read other documents through a :data:`Lookup` (``(kind, key) ->
document or None``) the controller passes in, so this module stays pure.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Collection, Sequence
from typing import Any

from pydantic import Field, StrictBool, StrictStr

from intranode.domain.auto_subnets import REGIONS
from intranode.domain.compute import (
    JsonFloat,
    JsonInt,
    Wire,
    base_document,
    check_name,
    fingerprint_mismatch,
    invalid_field,
    link_key,
    not_found,
    parse_resource,
    reference,
    required_field,
    same_fingerprint,
)
from intranode.domain.container import zones_of_region
from intranode.domain.firewalls import port_range
from intranode.domain.resources import (
    BACKEND_SERVICE,
    HEALTH_CHECK,
    INSTANCE_GROUP,
    NETWORK,
    SUBNETWORK,
    backend_service_key,
    compute_link,
    forwarding_rule_key,
    health_check_key,
    instance_group_key,
    new_fingerprint,
    region_of_zone,
)
from intranode.errors import InvalidArgument, Unimplemented

Doc = dict[str, Any]
Lookup = Callable[[str, str], Doc | None]

INTERNAL = "INTERNAL"
DEFAULT_NETWORK = "global/networks/default"
CONNECTION = "CONNECTION"
MAX_FORWARDING_RULE_PORTS = 5


def require(lookup: Lookup, kind: str, key: str) -> Doc:
    """The document at ``key`` or Google's 404 naming it."""
    doc = lookup(kind, key)
    if doc is None:
        raise not_found(key)
    return doc


def _in_range(field: str, value: int, low: int, high: int) -> int:
    if value < low:
        raise invalid_field(field, value, f"Must be greater than or equal to {low}")
    if value > high:
        raise invalid_field(field, value, f"Must be less than or equal to {high}")
    return value


def _one_of(field: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise invalid_field(field, value, f"Must be one of [{', '.join(allowed)}].")
    return value


def _regional_link(project: str, region: str) -> str:
    return compute_link(f"projects/{project}/regions/{region}")


def check_zone(project: str, zone: str) -> None:
    """404 for a zone Compute does not have (as Google answers for ``zones/<z>``)."""
    region = region_of_zone(zone)
    if region not in REGIONS or zone not in zones_of_region(region):
        raise not_found(f"projects/{project}/zones/{zone}")


def nic0(instance: Doc) -> Doc:
    nics = instance.get("networkInterfaces") or [{}]
    first: Doc = nics[0]
    return first


# Instance groups (zonal, unmanaged) ---------------------------------------------------------
class NamedPortBody(Wire):
    name: StrictStr | None = None
    port: JsonInt | None = None


class InstanceGroupBody(Wire):
    name: StrictStr | None = None
    description: StrictStr | None = None
    named_ports: list[NamedPortBody] | None = None
    # Output-only.
    kind: Any = None
    id: Any = None
    self_link: Any = None
    creation_timestamp: Any = None
    fingerprint: Any = None
    size: Any = None
    zone: Any = None
    region: Any = None
    network: Any = None
    subnetwork: Any = None


class InstanceReferenceBody(Wire):
    instance: StrictStr | None = None


class InstanceReferencesBody(Wire):
    """``addInstances`` / ``removeInstances``."""

    instances: list[InstanceReferenceBody] | None = None


class ListInstancesBody(Wire):
    instance_state: StrictStr | None = None


def instance_group_document(project: str, zone: str, data: Any, now: float) -> Doc:
    """An empty unmanaged group: ``size`` 0, no network until its first instance joins."""
    body = parse_resource(InstanceGroupBody, data)
    name = check_name(body.name)
    doc = base_document("compute#instanceGroup", instance_group_key(project, zone, name), now)
    if body.description:
        doc["description"] = body.description
    ports = []
    for i, port in enumerate(body.named_ports or []):
        field = f"resource.namedPorts[{i}]"
        ports.append(
            {
                "name": check_name(port.name, f"{field}.name"),
                "port": _in_range(
                    f"{field}.port", _given_int(port.port, f"{field}.port"), 1, 65535
                ),
            }
        )
    if ports:
        doc["namedPorts"] = ports
    doc.update(
        {
            "fingerprint": new_fingerprint(),
            "zone": compute_link(f"projects/{project}/zones/{zone}"),
            "size": 0,
        }
    )
    return doc


def _given_int(value: int | None, field: str) -> int:
    if value is None:
        raise required_field(field)
    return value


def instance_references(project: str, zone: str, data: Any, root: str) -> list[str]:
    """Store keys of the instances an ``addInstances``/``removeInstances`` body names; each
    must be an instance of the group's zone, none twice. ``root`` names the body in errors
    (``instance_groups_add_instances_request``, as Google's front end does)."""
    body = parse_resource(InstanceReferencesBody, data, root)
    refs = body.instances or []
    if not refs:
        raise required_field("instances")
    keys: list[str] = []
    for i, ref in enumerate(refs):
        field = f"instances[{i}].instance"
        if not ref.instance:
            raise required_field(field)
        key = reference(ref.instance, project, field, "zones/*/instances")
        if key.split("/")[3] != zone:
            raise invalid_field(
                field, ref.instance, f"The instance must be in the zone of the group, {zone}."
            )
        if key in keys:
            raise invalid_field(field, ref.instance, "The instance is listed more than once.")
        keys.append(key)
    return keys


def check_new_member(project: str, group: Doc, instance: Doc, others: Sequence[Doc]) -> None:
    """An unmanaged group holds the nic0 of VMs of one network (and subnetwork)."""
    nic = nic0(instance)
    for other in others:
        first = nic0(other)
        if link_key(str(nic.get("network", "")), project) != link_key(
            str(first.get("network", "")), project
        ):
            raise invalid_field(
                "instances",
                instance["selfLink"],
                f"All instances of the instance group '{group['name']}' must be in the network "
                f"'{first.get('network')}'.",
            )


def group_with_members(project: str, group: Doc, members: Sequence[Doc]) -> Doc:
    """The group document for its current members: ``size``, and the ``network`` and
    ``subnetwork`` of their nic0 (shown only while the group has members)."""
    doc = {k: v for k, v in group.items() if k not in ("network", "subnetwork")}
    doc["size"] = len(members)
    if members:
        nic = nic0(members[0])
        doc["network"] = compute_link(link_key(str(nic["network"]), project))
        doc["subnetwork"] = compute_link(link_key(str(nic["subnetwork"]), project))
    order = ("kind", "id", "creationTimestamp", "name", "description", "namedPorts", "network")
    ordered = {k: doc[k] for k in order if k in doc}
    return ordered | {k: v for k, v in doc.items() if k not in ordered}


def list_instances_state(data: Any) -> str:
    body = parse_resource(ListInstancesBody, data, "instance_groups_list_instances_request")
    return _one_of("instanceState", body.instance_state or "ALL", ("ALL", "RUNNING"))


def managed_groups(project: str, zone: str, instances: Sequence[Doc]) -> list[Doc]:
    """The zone's managed instance groups, read-only, as GKE's node pools imply them: each
    instance whose ``created-by`` metadata names an ``instanceGroupManagers/<name>`` belongs
    to that manager (gcloud reads them to tell managed groups from unmanaged ones)."""
    found: dict[str, list[Doc]] = {}
    for doc in instances:
        for item in (doc.get("metadata") or {}).get("items") or []:
            value = str(item.get("value") or "")
            if item.get("key") == "created-by" and "/instanceGroupManagers/" in value:
                found.setdefault(value.rsplit("/", 1)[-1], []).append(doc)
    out = []
    for name, docs in sorted(found.items()):
        key = f"projects/{project}/zones/{zone}/instanceGroupManagers/{name}"
        out.append(
            {
                "kind": "compute#instanceGroupManager",
                "id": str(int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)),
                "creationTimestamp": min(str(d.get("creationTimestamp", "")) for d in docs),
                "name": name,
                "zone": compute_link(f"projects/{project}/zones/{zone}"),
                "baseInstanceName": name.removesuffix("-grp"),
                "instanceGroup": compute_link(instance_group_key(project, zone, name)),
                "targetSize": len(docs),
                "status": {"isStable": True},
                "selfLink": compute_link(key),
            }
        )
    return out


# Health checks ------------------------------------------------------------------------------
HEALTH_CHECK_TYPES = ("TCP", "HTTP")
_OTHER_HEALTH_CHECK_TYPES = ("SSL", "HTTPS", "HTTP2", "GRPC", "GRPC_WITH_TLS")
PORT_SPECIFICATIONS = ("USE_FIXED_PORT", "USE_NAMED_PORT", "USE_SERVING_PORT")
PROXY_HEADERS = ("NONE", "PROXY_V1")


class TcpHealthCheckBody(Wire):
    port: JsonInt | None = None
    port_name: StrictStr | None = None
    port_specification: StrictStr | None = None
    proxy_header: StrictStr | None = None
    request: StrictStr | None = None
    response: StrictStr | None = None


class HttpHealthCheckBody(Wire):
    host: StrictStr | None = None
    port: JsonInt | None = None
    port_name: StrictStr | None = None
    port_specification: StrictStr | None = None
    proxy_header: StrictStr | None = None
    request_path: StrictStr | None = None
    response: StrictStr | None = None


class HealthCheckLogConfigBody(Wire):
    enable: StrictBool | None = None


class HealthCheckBody(Wire):
    name: StrictStr | None = None
    description: StrictStr | None = None
    type: StrictStr | None = None
    check_interval_sec: JsonInt | None = None
    timeout_sec: JsonInt | None = None
    healthy_threshold: JsonInt | None = None
    unhealthy_threshold: JsonInt | None = None
    tcp_health_check: TcpHealthCheckBody | None = None
    http_health_check: HttpHealthCheckBody | None = None
    log_config: HealthCheckLogConfigBody | None = None
    # Types intranode does not serve (refused by type), and output-only fields.
    https_health_check: Any = None
    http2_health_check: Any = None
    ssl_health_check: Any = None
    grpc_health_check: Any = None
    grpc_tls_health_check: Any = None
    source_regions: Any = None
    kind: Any = None
    id: Any = None
    self_link: Any = None
    creation_timestamp: Any = None
    region: Any = None


def health_check_document(project: str, region: str | None, data: Any, now: float) -> Doc:
    """A TCP or HTTP health check, global (``region`` None) or regional."""
    body = parse_resource(HealthCheckBody, data)
    name = check_name(body.name)
    given = {
        "TCP": body.tcp_health_check,
        "HTTP": body.http_health_check,
    }
    kind = body.type
    if kind is None:
        present = [t for t, sub in given.items() if sub is not None]
        if len(present) != 1:
            raise required_field("resource.type")
        kind = present[0]
    if kind in _OTHER_HEALTH_CHECK_TYPES:
        raise Unimplemented(
            f"Health checks of type {kind} are not served here; intranode serves TCP and HTTP "
            "health checks (docs/api-coverage.md)."
        )
    _one_of("resource.type", kind, HEALTH_CHECK_TYPES)
    for other, sub in given.items():
        if other != kind and sub is not None:
            raise invalid_field(
                f"resource.{other.lower()}HealthCheck",
                "",
                f"The health check type is {kind}; only {kind.lower()}HealthCheck may be set.",
            )
    interval = _in_range("resource.checkIntervalSec", _or(body.check_interval_sec, 5), 1, 300)
    timeout = _in_range("resource.timeoutSec", _or(body.timeout_sec, 5), 1, 300)
    if timeout > interval:
        raise invalid_field(
            "resource.timeoutSec",
            timeout,
            "Timeout sec must be less than or equal to check interval sec.",
        )
    doc = base_document("compute#healthCheck", health_check_key(project, region, name), now)
    if body.description:
        doc["description"] = body.description
    doc.update(
        {
            "checkIntervalSec": interval,
            "timeoutSec": timeout,
            "unhealthyThreshold": _in_range(
                "resource.unhealthyThreshold", _or(body.unhealthy_threshold, 2), 1, 10
            ),
            "healthyThreshold": _in_range(
                "resource.healthyThreshold", _or(body.healthy_threshold, 2), 1, 10
            ),
            "type": kind,
        }
    )
    field = f"resource.{kind.lower()}HealthCheck"
    sub_doc = _probe(field, given[kind])
    if kind == "HTTP":
        http = body.http_health_check or HttpHealthCheckBody()
        sub_doc["requestPath"] = http.request_path or "/"
        if not sub_doc["requestPath"].startswith("/"):
            raise invalid_field(f"{field}.requestPath", http.request_path, "Must start with '/'.")
        if http.host:
            sub_doc["host"] = http.host
    doc[f"{kind.lower()}HealthCheck"] = sub_doc
    if region is not None:
        doc["region"] = _regional_link(project, region)
    if body.log_config is not None and body.log_config.enable is not None:
        doc["logConfig"] = {"enable": body.log_config.enable}
    return doc


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _probe(field: str, sub: TcpHealthCheckBody | HttpHealthCheckBody | None) -> Doc:
    """What TCP and HTTP probes share: where the port comes from and the proxy header.
    Without ``portSpecification`` a ``portName`` alone names the port, else ``port`` (80)."""
    sub = sub or TcpHealthCheckBody()
    spec = sub.port_specification
    if spec is not None:
        _one_of(f"{field}.portSpecification", spec, PORT_SPECIFICATIONS)
    out: Doc = {}
    if sub.port_name is not None:
        if spec == "USE_SERVING_PORT":
            raise invalid_field(
                f"{field}.portName", sub.port_name, "Not allowed with USE_SERVING_PORT."
            )
        out["portName"] = check_name(sub.port_name, f"{field}.portName")
    if spec == "USE_NAMED_PORT" and sub.port_name is None:
        raise required_field(f"{field}.portName")
    if spec in ("USE_NAMED_PORT", "USE_SERVING_PORT"):
        if sub.port is not None:
            raise invalid_field(f"{field}.port", sub.port, f"Not allowed with {spec}.")
    elif sub.port is not None or sub.port_name is None or spec == "USE_FIXED_PORT":
        out["port"] = _in_range(f"{field}.port", _or(sub.port, 80), 1, 65535)
    out["proxyHeader"] = _one_of(f"{field}.proxyHeader", sub.proxy_header or "NONE", PROXY_HEADERS)
    if spec is not None:
        out["portSpecification"] = spec
    if isinstance(sub, TcpHealthCheckBody) and sub.request:
        out["request"] = sub.request
    if sub.response:
        out["response"] = sub.response
    return out


# Backend services (regional, INTERNAL) ------------------------------------------------------
BACKEND_PROTOCOLS = ("TCP", "UDP", "UNSPECIFIED")
SESSION_AFFINITIES = (
    "NONE",
    "CLIENT_IP",
    "CLIENT_IP_PROTO",
    "CLIENT_IP_PORT_PROTO",
    "CLIENT_IP_NO_DESTINATION",
)


class BackendBody(Wire):
    group: StrictStr | None = None
    balancing_mode: StrictStr | None = None
    description: StrictStr | None = None
    failover: StrictBool | None = None
    capacity_scaler: JsonFloat | None = None
    max_connections: JsonInt | None = None
    max_connections_per_instance: JsonInt | None = None
    max_connections_per_endpoint: JsonInt | None = None
    max_rate: JsonInt | None = None
    max_rate_per_instance: JsonFloat | None = None
    max_rate_per_endpoint: JsonFloat | None = None
    max_utilization: JsonFloat | None = None
    preference: StrictStr | None = None
    custom_metrics: Any = None


class ConnectionDrainingBody(Wire):
    draining_timeout_sec: JsonInt | None = None


class BackendServiceBody(Wire):
    name: StrictStr | None = None
    description: StrictStr | None = None
    load_balancing_scheme: StrictStr | None = None
    protocol: StrictStr | None = None
    health_checks: list[StrictStr] | None = None
    backends: list[BackendBody] | None = None
    network: StrictStr | None = None
    session_affinity: StrictStr | None = None
    timeout_sec: JsonInt | None = None
    connection_draining: ConnectionDrainingBody | None = None
    fingerprint: StrictStr | None = None
    port_name: StrictStr | None = None
    # Settings of other load balancers (refused when set), and output-only fields.
    affinity_cookie_ttl_sec: Any = None
    cdn_policy: Any = None
    circuit_breakers: Any = None
    compression_mode: Any = None
    connection_tracking_policy: Any = None
    consistent_hash: Any = None
    custom_metrics: Any = None
    custom_request_headers: Any = None
    custom_response_headers: Any = None
    edge_security_policy: Any = None
    enable_cdn: Any = Field(default=None, alias="enableCDN")
    external_managed_migration_state: Any = None
    external_managed_migration_testing_percentage: Any = None
    failover_policy: Any = None
    ha_policy: Any = None
    iap: Any = None
    ip_address_selection_policy: Any = None
    locality_lb_policies: Any = None
    locality_lb_policy: Any = None
    log_config: Any = None
    max_stream_duration: Any = None
    metadatas: Any = None
    outlier_detection: Any = None
    port: Any = None
    security_policy: Any = None
    security_settings: Any = None
    service_bindings: Any = None
    service_lb_policy: Any = None
    strong_session_affinity_cookie: Any = None
    subsetting: Any = None
    used_by: Any = None
    kind: Any = None
    id: Any = None
    self_link: Any = None
    creation_timestamp: Any = None
    region: Any = None


def backend_service_document(
    project: str, region: str, data: Any, now: float, lookup: Lookup
) -> Doc:
    """Validate an insert body; the backend service as stored and served."""
    body = parse_resource(BackendServiceBody, data)
    name = check_name(body.name)
    doc = base_document("compute#backendService", backend_service_key(project, region, name), now)
    doc["fingerprint"] = new_fingerprint()
    return _build_backend_service(project, region, body, doc, lookup)


def update_backend_service(
    project: str, region: str, current: Doc, data: Any, lookup: Lookup
) -> Doc:
    """PUT (what ``add-backend`` and ``remove-backend`` send): the whole service, with the
    current ``fingerprint`` (else 412); the name cannot change."""
    body = parse_resource(BackendServiceBody, data)
    if not same_fingerprint(body.fingerprint, current.get("fingerprint")):
        raise fingerprint_mismatch()
    if body.name is not None and body.name != current["name"]:
        raise invalid_field("resource.name", body.name, "The name cannot be changed.")
    identity = {k: current[k] for k in ("kind", "id", "creationTimestamp", "name", "selfLink")}
    identity["fingerprint"] = new_fingerprint()
    return _build_backend_service(project, region, body, identity, lookup)


def _build_backend_service(
    project: str, region: str, body: BackendServiceBody, base: Doc, lookup: Lookup
) -> Doc:
    scheme = body.load_balancing_scheme or "EXTERNAL"
    if scheme != INTERNAL:
        raise Unimplemented(
            f"Regional backend services with loadBalancingScheme {scheme} are not served here; "
            "intranode serves INTERNAL ones (internal passthrough load balancers)."
        )
    for field in ("cdn_policy", "iap", "security_policy", "enable_cdn", "locality_lb_policy"):
        if getattr(body, field) not in (None, False, {}, ""):
            alias = BackendServiceBody.model_fields[field].alias or field
            raise invalid_field(
                f"resource.{alias}",
                getattr(body, field),
                "This setting is not supported for an INTERNAL backend service.",
            )
    protocol = _one_of("resource.protocol", body.protocol or "TCP", BACKEND_PROTOCOLS)
    network_key = None
    if body.network:
        network_key = reference(body.network, project, "resource.network", "global/networks")
        require(lookup, NETWORK, network_key)
    checks = list(body.health_checks or [])
    if not checks:
        raise invalid_field(
            "resource.healthChecks",
            "",
            "A backend service with loadBalancingScheme INTERNAL requires exactly one health "
            "check.",
        )
    if len(checks) > 1:
        raise invalid_field(
            "resource.healthChecks", ",".join(checks), "At most one health check may be given."
        )
    check_key = _health_check_reference(project, region, checks[0])
    require(lookup, HEALTH_CHECK, check_key)
    backends = [
        _backend(project, region, i, b, network_key, lookup)
        for i, b in enumerate(body.backends or [])
    ]
    groups = [b["group"] for b in backends]
    for i, group in enumerate(groups):
        if group in groups[:i]:
            raise invalid_field(
                f"resource.backends[{i}].group", group, "The instance group is a backend twice."
            )
    affinity = _one_of(
        "resource.sessionAffinity", body.session_affinity or "NONE", SESSION_AFFINITIES
    )
    timeout = _in_range("resource.timeoutSec", _or(body.timeout_sec, 30), 1, 2147483647)
    draining = body.connection_draining.draining_timeout_sec if body.connection_draining else None
    doc: Doc = {k: base[k] for k in ("kind", "id", "creationTimestamp", "name") if k in base}
    if body.description:
        doc["description"] = body.description
    doc["selfLink"] = base["selfLink"]
    if backends:
        doc["backends"] = backends
    doc["healthChecks"] = [compute_link(check_key)]
    doc["timeoutSec"] = timeout
    doc["protocol"] = protocol
    doc["fingerprint"] = base["fingerprint"]
    doc["sessionAffinity"] = affinity
    doc["region"] = _regional_link(project, region)
    doc["loadBalancingScheme"] = INTERNAL
    doc["connectionDraining"] = {
        "drainingTimeoutSec": _in_range(
            "resource.connectionDraining.drainingTimeoutSec", _or(draining, 0), 0, 3600
        )
    }
    if network_key is not None:
        doc["network"] = compute_link(network_key)
    if body.port_name:
        doc["portName"] = check_name(body.port_name, "resource.portName")
    return doc


def _health_check_reference(project: str, region: str, value: str) -> str:
    field = "resource.healthChecks[0]"
    key = link_key(value, project)
    parts = key.split("/")
    if len(parts) == 5 and parts[2] == "global" and parts[3] == "healthChecks":
        return reference(value, project, field, "global/healthChecks")
    key = reference(value, project, field, "regions/*/healthChecks")
    if parts[3] != region:
        raise invalid_field(
            field, value, f"A regional health check must be in the region {region}."
        )
    return key


def _backend(
    project: str,
    region: str,
    i: int,
    backend: BackendBody,
    network_key: str | None,
    lookup: Lookup,
) -> Doc:
    field = f"resource.backends[{i}]"
    if not backend.group:
        raise required_field(f"{field}.group")
    group_key = reference(backend.group, project, f"{field}.group", "zones/*/instanceGroups")
    zone = group_key.split("/")[3]
    if region_of_zone(zone) != region:
        raise invalid_field(
            f"{field}.group",
            backend.group,
            f"The instance group must be in a zone of the region {region}.",
        )
    group = require(lookup, INSTANCE_GROUP, group_key)
    group_network = link_key(str(group.get("network") or ""), project)
    if network_key is not None and group.get("network") and group_network != network_key:
        raise invalid_field(
            f"{field}.group",
            backend.group,
            "The instances of the group must be in the network of the backend service.",
        )
    mode = backend.balancing_mode or CONNECTION
    if mode != CONNECTION:
        raise invalid_field(
            f"{field}.balancingMode",
            mode,
            "Balancing mode must be CONNECTION for an INTERNAL backend service.",
        )
    out: Doc = {"group": compute_link(group_key), "balancingMode": CONNECTION}
    if backend.description:
        out["description"] = backend.description
    if backend.failover is not None:
        out["failover"] = backend.failover
    if backend.capacity_scaler is not None:
        out["capacityScaler"] = backend.capacity_scaler
    for name in ("max_connections", "max_connections_per_instance", "max_connections_per_endpoint"):
        value = getattr(backend, name)
        if value is not None:
            out[BackendBody.model_fields[name].alias or name] = value
    return out


def backend_groups(project: str, service: Doc) -> list[str]:
    """Store keys of a backend service's instance groups."""
    return [link_key(str(b["group"]), project) for b in service.get("backends") or []]


# Forwarding rules (regional, INTERNAL) --------------------------------------------------------
FORWARDING_PROTOCOLS = ("TCP", "UDP", "L3_DEFAULT")
_OTHER_PROTOCOLS = ("ESP", "AH", "SCTP", "ICMP")


class ForwardingRuleBody(Wire):
    name: StrictStr | None = None
    description: StrictStr | None = None
    ip_address: StrictStr | None = Field(default=None, alias="IPAddress")
    ip_protocol: StrictStr | None = Field(default=None, alias="IPProtocol")
    ports: list[StrictStr] | None = None
    all_ports: StrictBool | None = None
    port_range: StrictStr | None = None
    load_balancing_scheme: StrictStr | None = None
    backend_service: StrictStr | None = None
    target: StrictStr | None = None
    network: StrictStr | None = None
    subnetwork: StrictStr | None = None
    network_tier: StrictStr | None = None
    is_mirroring_collector: StrictBool | None = None
    allow_global_access: StrictBool | None = None
    labels: dict[str, StrictStr] | None = None
    ip_version: StrictStr | None = None
    fingerprint: StrictStr | None = None
    # Settings of other forwarding rules, and output-only fields.
    allow_psc_global_access: Any = None
    base_forwarding_rule: Any = None
    external_managed_backend_bucket_migration_state: Any = None
    external_managed_backend_bucket_migration_testing_percentage: Any = None
    ip_collection: Any = None
    label_fingerprint: Any = None
    metadata_filters: Any = None
    no_automate_dns_zone: Any = None
    psc_connection_id: Any = None
    psc_connection_status: Any = None
    self_link_with_id: Any = None
    service_directory_registrations: Any = None
    service_label: Any = None
    service_name: Any = None
    source_ip_ranges: Any = None
    kind: Any = None
    id: Any = None
    self_link: Any = None
    creation_timestamp: Any = None
    region: Any = None


def forwarding_rule_document(
    project: str,
    region: str,
    data: Any,
    now: float,
    lookup: Lookup,
    taken_ips: Callable[[str], Collection[str]],
) -> Doc:
    """Validate an insert body; the forwarding rule as stored and served.

    ``taken_ips(subnet_key)`` gives the addresses of that subnet already in use (instances'
    and other forwarding rules'); the rule's own address must not be one of them.
    """
    body = parse_resource(ForwardingRuleBody, data)
    name = check_name(body.name)
    scheme = body.load_balancing_scheme or "EXTERNAL"
    if scheme != INTERNAL:
        raise Unimplemented(
            f"Forwarding rules with loadBalancingScheme {scheme} are not served here; intranode "
            "serves INTERNAL ones (internal passthrough load balancers)."
        )
    if body.target:
        raise Unimplemented(
            "Forwarding rules with a target are not served here; give a backendService."
        )
    if body.port_range:
        raise invalid_field(
            "resource.portRange",
            body.port_range,
            "portRange cannot be used with loadBalancingScheme INTERNAL; use ports.",
        )
    protocol = (body.ip_protocol or "TCP").upper()
    if protocol in _OTHER_PROTOCOLS:
        raise Unimplemented(f"Forwarding rules with IPProtocol {protocol} are not served here.")
    _one_of("resource.IPProtocol", protocol, FORWARDING_PROTOCOLS)
    tier = _one_of("resource.networkTier", body.network_tier or "PREMIUM", ("PREMIUM", "STANDARD"))
    if tier != "PREMIUM":
        raise invalid_field(
            "resource.networkTier", tier, "An INTERNAL forwarding rule must use PREMIUM."
        )
    if body.ip_version not in (None, "IPV4"):
        raise invalid_field(
            "resource.ipVersion", body.ip_version, "intranode's VPC networks are IPv4 only."
        )

    # Ports.
    ports = list(body.ports or [])
    if ports and body.all_ports:
        raise invalid_field(
            "resource.allPorts", "true", "ports and allPorts cannot be given together."
        )
    if not ports and not body.all_ports:
        raise invalid_field(
            "resource.ports",
            "",
            "An INTERNAL forwarding rule needs ports (at most 5) or allPorts.",
        )
    if protocol == "L3_DEFAULT" and not body.all_ports:
        raise invalid_field(
            "resource.allPorts", "false", "IPProtocol L3_DEFAULT requires allPorts."
        )
    if len(ports) > MAX_FORWARDING_RULE_PORTS:
        raise invalid_field(
            "resource.ports",
            ",".join(ports),
            f"At most {MAX_FORWARDING_RULE_PORTS} ports may be given; use allPorts for more.",
        )
    for i, port in enumerate(ports):
        bounds = port_range(port)
        if bounds is None or bounds[0] < 1:
            raise invalid_field(
                f"resource.ports[{i}]", port, "Must be a port or a range N-M within 1-65535."
            )

    # The backend service.
    if not body.backend_service:
        raise required_field("resource.backendService")
    service_key = reference(
        body.backend_service, project, "resource.backendService", "regions/*/backendServices"
    )
    if service_key.split("/")[3] != region:
        raise invalid_field(
            "resource.backendService",
            body.backend_service,
            f"The backend service must be in the region of the forwarding rule, {region}.",
        )
    service = require(lookup, BACKEND_SERVICE, service_key)
    bs_protocol = str(service.get("protocol", "TCP"))
    if (bs_protocol == "UNSPECIFIED") != (protocol == "L3_DEFAULT") or (
        bs_protocol != "UNSPECIFIED" and bs_protocol != protocol
    ):
        raise invalid_field(
            "resource.IPProtocol",
            protocol,
            f"The forwarding rule's protocol does not match the backend service's protocol "
            f"{bs_protocol} (UNSPECIFIED goes with L3_DEFAULT).",
        )

    # Network, subnetwork and the address.
    net_key, subnet_key = _placement(project, region, body, lookup)
    subnet = require(lookup, SUBNETWORK, subnet_key)
    if service.get("network") and link_key(str(service["network"]), project) != net_key:
        raise invalid_field(
            "resource.backendService",
            body.backend_service,
            "The backend service is in another network than the forwarding rule.",
        )
    for group_key in backend_groups(project, service):
        group = lookup(INSTANCE_GROUP, group_key)
        if group and group.get("network") and link_key(str(group["network"]), project) != net_key:
            raise invalid_field(
                "resource.backendService",
                body.backend_service,
                f"The backend instance group '{compute_link(group_key)}' is in another network "
                "than the forwarding rule.",
            )
    address = _address(body.ip_address, subnet, taken_ips(subnet_key))

    doc = base_document("compute#forwardingRule", forwarding_rule_key(project, region, name), now)
    if body.description:
        doc["description"] = body.description
    doc.update(
        {
            "region": _regional_link(project, region),
            "IPAddress": address,
            "IPProtocol": protocol,
        }
    )
    if ports:
        doc["ports"] = ports
    if body.all_ports:
        doc["allPorts"] = True
    doc.update(
        {
            "backendService": compute_link(service_key),
            "loadBalancingScheme": INTERNAL,
            "subnetwork": compute_link(subnet_key),
            "network": compute_link(net_key),
            "networkTier": "PREMIUM",
            "labelFingerprint": new_fingerprint(),
            "fingerprint": new_fingerprint(),
            "ipVersion": "IPV4",
        }
    )
    if body.labels:
        doc["labels"] = dict(body.labels)
    if body.allow_global_access:
        doc["allowGlobalAccess"] = True
    if body.is_mirroring_collector is not None:
        doc["isMirroringCollector"] = body.is_mirroring_collector
    return doc


def _placement(
    project: str, region: str, body: ForwardingRuleBody, lookup: Lookup
) -> tuple[str, str]:
    """(network key, subnetwork key): the subnet's network, else the given or default
    network and, in auto mode, its own subnet of the region."""
    if body.subnetwork:
        subnet_key = reference(
            body.subnetwork, project, "resource.subnetwork", "regions/*/subnetworks"
        )
        if subnet_key.split("/")[3] != region:
            raise invalid_field(
                "resource.subnetwork",
                body.subnetwork,
                f"The subnetwork must be in the region of the forwarding rule, {region}.",
            )
        subnet = require(lookup, SUBNETWORK, subnet_key)
        net_key = link_key(str(subnet["network"]), project)
        if body.network:
            given = reference(body.network, project, "resource.network", "global/networks")
            if given != net_key:
                raise invalid_field(
                    "resource.subnetwork",
                    body.subnetwork,
                    f"The subnetwork is not in the network '{compute_link(given)}'.",
                )
        return net_key, subnet_key
    net_key = reference(
        body.network or DEFAULT_NETWORK, project, "resource.network", "global/networks"
    )
    network = require(lookup, NETWORK, net_key)
    if not network.get("autoCreateSubnetworks"):
        raise invalid_field(
            "resource.subnetwork",
            "",
            "A subnetwork must be given for a forwarding rule in a custom mode network.",
        )
    return net_key, f"projects/{project}/regions/{region}/subnetworks/{network['name']}"


def _address(given: str | None, subnet: Doc, taken: Collection[str]) -> str:
    net = ipaddress.IPv4Network(str(subnet["ipCidrRange"]))
    reserved = {net.network_address, net.network_address + 1, net.broadcast_address - 1}
    reserved.add(net.broadcast_address)
    if given:
        try:
            ip = ipaddress.IPv4Address(given)
        except ValueError:
            raise Unimplemented(
                "IPAddress must be an IPv4 address here; address resources are not served."
            ) from None
        if ip not in net or ip in reserved:
            raise invalid_field(
                "resource.IPAddress",
                given,
                f"The requested internal IP is outside the usable range of the subnetwork {net}.",
            )
        if given in taken:
            raise InvalidArgument(
                f"IP '{given}' is already being used by another resource.",
                reason="ipInUseByAnotherResource",
            )
        return given
    used = {ipaddress.IPv4Address(t) for t in taken if t}
    for candidate in range(int(net.broadcast_address) - 2, int(net.network_address) + 1, -1):
        ip = ipaddress.IPv4Address(candidate)
        if ip not in used:
            return str(ip)
    raise InvalidArgument(
        f"The subnetwork range {net} has no free address left.", reason="ipSpaceExhausted"
    )


class ForwardingRulePatchBody(Wire):
    allow_global_access: StrictBool | None = None
    fingerprint: StrictStr | None = None


def patch_forwarding_rule(current: Doc, data: Any) -> Doc:
    """PATCH, as ``forwarding-rules update --allow-global-access`` sends it (with the rule's
    ``name``): only ``allowGlobalAccess`` can change on an internal forwarding rule; other
    fields may come along with their current values."""
    parse_resource(ForwardingRuleBody, data)  # unknown names and wrong types
    changed = sorted(
        k
        for k, v in data.items()
        if k not in ("allowGlobalAccess", "fingerprint") and v != current.get(k)
    )
    if changed:
        raise invalid_field(
            f"resource.{changed[0]}",
            data[changed[0]],
            "Only allowGlobalAccess can be patched on an INTERNAL forwarding rule.",
        )
    body = ForwardingRulePatchBody.model_validate(
        {k: data[k] for k in ("allowGlobalAccess", "fingerprint") if k in data}
    )
    if body.fingerprint is not None and not same_fingerprint(
        body.fingerprint, current.get("fingerprint")
    ):
        raise fingerprint_mismatch()
    doc = dict(current)
    if body.allow_global_access is not None:
        doc.pop("allowGlobalAccess", None)
        if body.allow_global_access:
            doc["allowGlobalAccess"] = True
    doc["fingerprint"] = new_fingerprint()
    return doc


def subnet_addresses(project: str, subnet_key: str, instances: Sequence[Doc]) -> list[str]:
    """The nic0 addresses of ``instances`` in ``subnet_key``."""
    return [
        str(nic0(doc).get("networkIP", ""))
        for doc in instances
        if link_key(str(nic0(doc).get("subnetwork", "")), project) == subnet_key
    ]
