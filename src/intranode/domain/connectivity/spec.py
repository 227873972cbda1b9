"""A Connectivity Test as users write it: the request body, Google's rules for it, the stored
document, ``updateMask`` patches, and the typed :class:`TestSpec` the analysis reads.

Rules (``connectivity_test.proto``, gcloud ``network-management connectivity-tests``):

- ``testId``: lowercase letters, digits and hyphens, starts with a letter, ends with a letter
  or digit, 1-40 characters, unique in the project;
- ``source`` and ``destination`` are required and must name something: an IP address, an
  instance, a GKE Pod, a network or another supported endpoint;
- ``ipAddress`` is an IPv4 or IPv6 address; ``port`` 0-65535; ``protocol`` one of TCP, UDP,
  ICMP, ESP, AH, SCTP, IPIP, GRE (any case; TCP when absent; stored upper-case);
- ``instance`` is ``projects/P/zones/Z/instances/I``, ``network`` ``projects/P/global/networks/
  N`` (full ``https://www.googleapis.com/compute/v1/`` URLs accepted), ``gkePod`` ``projects/P/
  (locations|zones)/L/clusters/C/k8s/namespaces/NS/pods/POD``;
- ``description`` at most 512 characters; ``labels`` strings to strings.

Output-only fields (``reachabilityDetails``, ``createTime``, ...) are accepted and ignored, as
gcloud's read-modify-write ``update`` sends the whole resource back. Endpoint kinds that
intranode has nothing of (Cloud SQL, load balancers, serverless, GKE control planes) are
accepted and stored; their analysis ends in ``ABORT`` with cause ``UNSUPPORTED``.

Messages about these rules are intranode's wording in Google's ``Invalid value for field
'<path>': '<value>'. <reason>`` form.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field, StrictBool, StrictStr

from intranode.domain.resources import COMPUTE_BASE, connectivity_test_key, key_from_link
from intranode.domain.wire import JsonInt, Wire, parse_message
from intranode.errors import InvalidArgument

PROTOCOLS: dict[str, int] = {
    "TCP": 6,
    "UDP": 17,
    "ICMP": 1,
    "ESP": 50,
    "AH": 51,
    "SCTP": 132,
    "IPIP": 4,
    "GRE": 47,
}
PORT_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
DEFAULT_PROTOCOL = "TCP"
# Unconfirmed: the port Google assumes for TCP/UDP when the test names none.
DEFAULT_PORT = 80
NETWORK_TYPES = ("NETWORK_TYPE_UNSPECIFIED", "GCP_NETWORK", "NON_GCP_NETWORK", "INTERNET")
MAX_DESCRIPTION = 512

_TEST_ID = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
_INSTANCE = re.compile(r"^projects/([^/]+)/zones/([^/]+)/instances/([^/]+)$")
_NETWORK = re.compile(r"^projects/([^/]+)/global/networks/([^/]+)$")
_POD = re.compile(
    r"^projects/([^/]+)/(?:locations|zones)/([^/]+)/clusters/([^/]+)/k8s/namespaces/([^/]+)"
    r"/pods/([^/]+)$"
)
_CONTAINER_BASE = "https://container.googleapis.com/v1/"
# Endpoint fields of kinds intranode does not have: analysis of such a test is UNSUPPORTED.
_UNSUPPORTED = (
    "forwardingRule",
    "gkeMasterCluster",
    "fqdn",
    "cloudSqlInstance",
    "redisInstance",
    "redisCluster",
    "cloudFunction",
    "appEngineVersion",
    "cloudRunRevision",
)
# What a PATCH may name in updateMask (camelCase; snake_case accepted).
_ENDPOINT_FIELDS = (
    "ipAddress",
    "port",
    "instance",
    "gkePod",
    "network",
    "networkType",
    "projectId",
    *_UNSUPPORTED,
)
_UPDATABLE = (
    "description",
    "source",
    "destination",
    "protocol",
    "relatedProjects",
    "labels",
    "roundTrip",
    "bypassFirewallChecks",
)
# What a run writes: dropped when the test changes, until the run of the change writes them.
RESULTS = (
    "reachabilityDetails",
    "probingDetails",
    "returnReachabilityDetails",
    "intranodeSuggestions",
)
OUTPUT_ONLY = ("name", "displayName", "createTime", "updateTime", *RESULTS)


class _Uri(Wire):
    uri: StrictStr = ""
    service_uri: StrictStr = ""


class EndpointBody(Wire):
    ip_address: StrictStr = ""
    port: JsonInt | None = None
    instance: StrictStr = ""
    gke_pod: StrictStr = ""
    network: StrictStr = ""
    network_type: StrictStr | JsonInt = ""
    project_id: StrictStr = ""
    forwarding_rule: StrictStr = ""
    forwarding_rule_target: Any = None  # output only
    load_balancer_id: Any = None  # output only
    load_balancer_type: Any = None  # output only
    gke_master_cluster: StrictStr = ""
    fqdn: StrictStr = ""
    cloud_sql_instance: StrictStr = ""
    redis_instance: StrictStr = ""
    redis_cluster: StrictStr = ""
    cloud_function: _Uri | None = None
    app_engine_version: _Uri | None = None
    cloud_run_revision: _Uri | None = None


class ConnectivityTestBody(Wire):
    description: StrictStr = ""
    source: EndpointBody | None = None
    destination: EndpointBody | None = None
    protocol: StrictStr = ""
    related_projects: list[StrictStr] = Field(default_factory=list)
    labels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    round_trip: StrictBool = False
    bypass_firewall_checks: StrictBool = False
    # Output only: accepted (gcloud sends the resource back on update) and ignored.
    name: Any = None
    display_name: Any = None
    create_time: Any = None
    update_time: Any = None
    reachability_details: Any = None
    probing_details: Any = None
    return_reachability_details: Any = None
    intranode_suggestions: Any = None


# -- the typed test the analysis reads ---------------------------------------------------------
@dataclass(frozen=True)
class PodRef:
    """A Pod named by a ``gkePod`` URI: the cluster's store key, namespace and name."""

    cluster_key: str
    namespace: str
    name: str


@dataclass(frozen=True)
class EndpointSpec:
    ip: str = ""
    port: int | None = None
    instance: str = ""  # store key projects/P/zones/Z/instances/I
    gke_pod: PodRef | None = None
    network: str = ""  # store key projects/P/global/networks/N
    network_type: str = ""
    project: str = ""
    unsupported: str = ""  # the field of an endpoint kind intranode cannot analyse

    @property
    def empty(self) -> bool:
        """Names no endpoint: a network or project alone does not say where in it."""
        return not (self.ip or self.instance or self.gke_pod or self.unsupported)


@dataclass(frozen=True)
class TestSpec:
    project: str
    source: EndpointSpec
    destination: EndpointSpec
    protocol: str = DEFAULT_PROTOCOL
    round_trip: bool = False
    bypass_firewall_checks: bool = False

    @property
    def protocol_number(self) -> int:
        return PROTOCOLS[self.protocol]

    @property
    def destination_port(self) -> int | None:
        """The port probes and the firewall see: the test's, or 80 for TCP/UDP/SCTP."""
        if self.protocol not in PORT_PROTOCOLS:
            return None
        return DEFAULT_PORT if self.destination.port is None else self.destination.port


def _invalid(field: str, value: Any, why: str) -> InvalidArgument:
    return InvalidArgument(f"Invalid value for field '{field}': '{value}'. {why}")


def check_test_id(test_id: str) -> str:
    if not test_id:
        raise InvalidArgument("Required field 'test_id' not specified.")
    if not _TEST_ID.match(test_id):
        raise _invalid(
            "test_id",
            test_id,
            "The test ID must be 1-40 characters of lowercase letters, digits and hyphens, "
            "start with a letter and end with a letter or a digit.",
        )
    return test_id


def _link(value: str) -> str:
    for prefix in (COMPUTE_BASE, "https://compute.googleapis.com/compute/v1/", _CONTAINER_BASE):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value.lstrip("/")


def _endpoint(field: str, body: EndpointBody | None, project: str) -> EndpointSpec:
    if body is None:
        raise InvalidArgument(f"Required field '{field}' not specified.")
    ip = body.ip_address.strip()
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise _invalid(f"{field}.ip_address", body.ip_address, "Not an IP address.") from None
    if body.port is not None and not 0 <= body.port <= 65535:
        raise _invalid(f"{field}.port", body.port, "A port is 0-65535.")
    instance = ""
    if body.instance:
        instance = _link(body.instance)
        if not _INSTANCE.match(instance):
            raise _invalid(
                f"{field}.instance",
                body.instance,
                "Expected projects/PROJECT/zones/ZONE/instances/INSTANCE.",
            )
    network = ""
    if body.network:
        network = key_from_link(body.network, project) if "/" in body.network else ""
        if not _NETWORK.match(network):
            raise _invalid(
                f"{field}.network",
                body.network,
                "Expected projects/PROJECT/global/networks/NETWORK.",
            )
    pod = None
    if body.gke_pod:
        m = _POD.match(_link(body.gke_pod))
        if m is None:
            raise _invalid(
                f"{field}.gke_pod",
                body.gke_pod,
                "Expected projects/PROJECT/locations/LOCATION/clusters/CLUSTER/k8s/namespaces/"
                "NAMESPACE/pods/POD.",
            )
        p, location, cluster, namespace, name = m.groups()
        pod = PodRef(f"projects/{p}/locations/{location}/clusters/{cluster}", namespace, name)
    network_type = body.network_type
    if isinstance(network_type, int):
        if not 0 <= network_type < len(NETWORK_TYPES):
            raise _invalid(f"{field}.network_type", network_type, "Unknown network type.")
        network_type = NETWORK_TYPES[network_type]
    elif network_type and network_type not in NETWORK_TYPES:
        raise _invalid(f"{field}.network_type", network_type, "Unknown network type.")
    unsupported = next(
        (name for name in _UNSUPPORTED if getattr(body, _snake(name)) not in ("", None)), ""
    )
    spec = EndpointSpec(
        ip=ip,
        port=body.port,
        instance=instance,
        gke_pod=pod,
        network=network,
        network_type=network_type if network_type != "NETWORK_TYPE_UNSPECIFIED" else "",
        project=body.project_id,
        unsupported=unsupported,
    )
    if spec.empty:
        raise InvalidArgument(
            f"The {field} endpoint must name an IP address, an instance or a GKE Pod "
            "(a network or a project alone does not say where the packet is)."
        )
    return spec


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def camel(path: str) -> str:
    """A field path in camelCase (proto3 JSON names; snake_case accepted)."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path)


def protocol_of(value: str) -> str:
    name = (value or DEFAULT_PROTOCOL).upper()
    if name not in PROTOCOLS:
        raise _invalid(
            "protocol", value, "The protocol must be one of " + ", ".join(PROTOCOLS) + "."
        )
    return name


def test_spec(project: str, doc: dict[str, Any]) -> TestSpec:
    """The typed test of a stored (or about to be stored) document; 400 when it breaks a rule."""
    body = parse_message(ConnectivityTestBody, doc)
    return _spec(project, body)


def _spec(project: str, body: ConnectivityTestBody) -> TestSpec:
    if len(body.description) > MAX_DESCRIPTION:
        raise _invalid(
            "description", body.description[:40] + "...", f"At most {MAX_DESCRIPTION} characters."
        )
    return TestSpec(
        project=project,
        source=_endpoint("source", body.source, project),
        destination=_endpoint("destination", body.destination, project),
        protocol=protocol_of(body.protocol),
        round_trip=body.round_trip,
        bypass_firewall_checks=body.bypass_firewall_checks,
    )


# -- the stored document -----------------------------------------------------------------------
def _endpoint_json(body: EndpointBody | None) -> dict[str, Any]:
    if body is None:
        return {}
    data = body.model_dump(by_alias=True, exclude_defaults=True, exclude_none=True)
    for output in ("forwardingRuleTarget", "loadBalancerId", "loadBalancerType"):
        data.pop(output, None)
    if "ipAddress" in data:
        data["ipAddress"] = str(ipaddress.ip_address(data["ipAddress"].strip()))
    kind = data.get("networkType")
    if isinstance(kind, int) and 0 <= kind < len(NETWORK_TYPES):  # answered as names
        data["networkType"] = NETWORK_TYPES[kind]
    return data


def new_test_document(project: str, test_id: str, data: Any, now: str) -> dict[str, Any]:
    """The test as stored and first returned (no results yet: the analysis runs in its
    operation); 400 when the body breaks a rule."""
    body = parse_message(ConnectivityTestBody, data)
    spec = _spec(project, body)
    doc: dict[str, Any] = {"name": connectivity_test_key(project, test_id)}
    if body.description:
        doc["description"] = body.description
    doc["source"] = _endpoint_json(body.source)
    doc["destination"] = _endpoint_json(body.destination)
    doc["protocol"] = spec.protocol
    if body.related_projects:
        doc["relatedProjects"] = list(body.related_projects)
    doc["displayName"] = test_id
    if body.labels:
        doc["labels"] = dict(body.labels)
    doc["createTime"] = now
    doc["updateTime"] = now
    if body.round_trip:
        doc["roundTrip"] = True
    if body.bypass_firewall_checks:
        doc["bypassFirewallChecks"] = True
    return doc


def updated_document(
    project: str, current: dict[str, Any], data: Any, update_mask: str, now: str
) -> dict[str, Any]:
    """``current`` with the fields ``update_mask`` names taken from the body (a named field the
    body lacks is cleared); results are dropped until the rerun. 400 for a mask that names
    nothing updatable, or a result that breaks a rule."""
    body = parse_message(ConnectivityTestBody, data)
    paths = [p.strip() for p in update_mask.split(",") if p.strip()]
    if not paths:
        raise InvalidArgument("Required field 'update_mask' not specified.")
    given = body.model_dump(by_alias=True, exclude_defaults=True, exclude_none=True)
    for key in ("source", "destination"):
        if key in given:
            given[key] = _endpoint_json(getattr(body, key))
    out = {k: v for k, v in current.items() if k not in RESULTS}
    for raw in paths:
        path = camel(raw)
        parts = path.split(".")
        top = parts[0]
        if top in OUTPUT_ONLY:
            raise _invalid("update_mask", raw, "The field is output only.")
        if top not in _UPDATABLE or (
            len(parts) > 1 and (top not in ("source", "destination") or len(parts) > 2)
        ):
            raise _invalid("update_mask", raw, "Not a field of ConnectivityTest that can change.")
        if len(parts) == 2 and parts[1] not in _ENDPOINT_FIELDS:
            raise _invalid("update_mask", raw, "Not a field of Endpoint.")
        _copy(given, out, parts)
    out["protocol"] = protocol_of(str(out.get("protocol") or ""))
    out["updateTime"] = now
    test_spec(project, {k: v for k, v in out.items() if k not in OUTPUT_ONLY})
    return out


def _copy(src: dict[str, Any], dst: dict[str, Any], parts: list[str]) -> None:
    if len(parts) == 1:
        if parts[0] in src:
            dst[parts[0]] = src[parts[0]]
        else:
            dst.pop(parts[0], None)
        return
    inner_src = src.get(parts[0]) or {}
    inner_dst = dict(dst.get(parts[0]) or {})
    _copy(inner_src, inner_dst, parts[1:])
    dst[parts[0]] = inner_dst
