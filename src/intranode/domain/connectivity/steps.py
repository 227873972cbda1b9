"""The shapes of a Connectivity Test's result, typed, and their JSON as the Network Management
API v1 prints them (``Trace``, ``Step`` and the ``*Info`` messages of ``trace.proto``).

Each step carries one typed info (its JSON key is the info's ``KEY``): the instance or Pod the
packet is at, the firewall rule or policy rule met (priority, action, direction), the route
taken, or why the trace ended (deliver, drop, abort). JSON leaves out empty fields, as
proto3 JSON does. URIs are relative resource names (``projects/p/global/firewalls/x``), as the
API prints them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

Result = Literal["REACHABLE", "UNREACHABLE", "AMBIGUOUS", "UNDETERMINED"]
Final = Literal["DELIVER", "DROP", "ABORT", "FORWARD"]
Json = dict[str, Any]


def _compact(fields: Mapping[str, Any]) -> Json:
    """proto3 JSON: empty strings, lists, False and None are left out (0 is kept where the
    caller passes it: a priority 0 is a real priority)."""
    return {k: v for k, v in fields.items() if v not in ("", None, (), [], False)}


@dataclass(frozen=True)
class InstanceInfo:
    KEY: ClassVar[str] = "instance"
    display_name: str
    uri: str
    network_uri: str
    internal_ip: str
    network_tags: tuple[str, ...] = ()
    external_ip: str = ""
    running: bool = True
    interface: str = "nic0"

    def to_json(self) -> Json:
        return _compact(
            {
                "displayName": self.display_name,
                "uri": self.uri,
                "interface": self.interface,
                "networkUri": self.network_uri,
                "internalIp": self.internal_ip,
                "externalIp": self.external_ip,
                "networkTags": list(self.network_tags),
                "status": "RUNNING" if self.running else "NOT_RUNNING",
            }
        )


@dataclass(frozen=True)
class GkePodInfo:
    KEY: ClassVar[str] = "gkePod"
    pod_uri: str
    ip_address: str
    network_uri: str

    def to_json(self) -> Json:
        return _compact(
            {"podUri": self.pod_uri, "ipAddress": self.ip_address, "networkUri": self.network_uri}
        )


@dataclass(frozen=True)
class NetworkInfo:
    KEY: ClassVar[str] = "network"
    display_name: str
    uri: str
    matched_ip_range: str = ""

    def to_json(self) -> Json:
        return _compact(
            {
                "displayName": self.display_name,
                "uri": self.uri,
                "matchedIpRange": self.matched_ip_range,
            }
        )


@dataclass(frozen=True)
class FirewallInfo:
    """A VPC firewall rule, a firewall policy rule or an implied rule (``firewall_rule_type``
    as the API names them; ``TRACKING_STATE`` for return packets allowed by connection
    tracking, ``ANALYSIS_SKIPPED`` with ``bypassFirewallChecks``)."""

    KEY: ClassVar[str] = "firewall"
    firewall_rule_type: str
    direction: str
    action: str = ""
    priority: int | None = None
    display_name: str = ""
    uri: str = ""
    network_uri: str = ""
    target_tags: tuple[str, ...] = ()
    target_service_accounts: tuple[str, ...] = ()
    policy: str = ""
    policy_uri: str = ""

    def to_json(self) -> Json:
        out = _compact(
            {
                "displayName": self.display_name,
                "uri": self.uri,
                "direction": self.direction,
                "action": self.action,
                "networkUri": self.network_uri,
                "targetTags": list(self.target_tags),
                "targetServiceAccounts": list(self.target_service_accounts),
                "policy": self.policy,
                "policyUri": self.policy_uri,
                "firewallRuleType": self.firewall_rule_type,
            }
        )
        if self.priority is not None:
            out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class RouteInfo:
    KEY: ClassVar[str] = "route"
    route_type: str  # SUBNET | STATIC
    next_hop_type: str  # NEXT_HOP_NETWORK, NEXT_HOP_INTERNET_GATEWAY, NEXT_HOP_INSTANCE, ...
    display_name: str
    uri: str
    dest_ip_range: str
    network_uri: str
    priority: int
    instance_tags: tuple[str, ...] = ()
    next_hop_uri: str = ""

    def to_json(self) -> Json:
        out = _compact(
            {
                "routeType": self.route_type,
                "nextHopType": self.next_hop_type,
                "routeScope": "NETWORK",
                "displayName": self.display_name,
                "uri": self.uri,
                "destIpRange": self.dest_ip_range,
                "networkUri": self.network_uri,
                "instanceTags": list(self.instance_tags),
                "nextHopUri": self.next_hop_uri,
            }
        )
        out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class EndpointInfo:
    KEY: ClassVar[str] = "endpoint"
    source_ip: str
    destination_ip: str
    protocol: str
    destination_port: int | None = None
    source_port: int | None = None
    source_network_uri: str = ""
    destination_network_uri: str = ""

    def to_json(self) -> Json:
        return _compact(
            {
                "sourceIp": self.source_ip,
                "destinationIp": self.destination_ip,
                "protocol": self.protocol,
                "sourcePort": self.source_port,
                "destinationPort": self.destination_port,
                "sourceNetworkUri": self.source_network_uri,
                "destinationNetworkUri": self.destination_network_uri,
            }
        )


@dataclass(frozen=True)
class DeliverInfo:
    KEY: ClassVar[str] = "deliver"
    target: str  # GKE_POD, INSTANCE, INTERNET
    resource_uri: str = ""
    ip_address: str = ""

    def to_json(self) -> Json:
        return _compact(
            {"target": self.target, "resourceUri": self.resource_uri, "ipAddress": self.ip_address}
        )


@dataclass(frozen=True)
class DropInfo:
    KEY: ClassVar[str] = "drop"
    cause: str  # FIREWALL_RULE, NO_ROUTE, GKE_POD_NOT_RUNNING, ...
    resource_uri: str = ""
    source_ip: str = ""
    destination_ip: str = ""

    def to_json(self) -> Json:
        return _compact(
            {
                "cause": self.cause,
                "resourceUri": self.resource_uri,
                "sourceIp": self.source_ip,
                "destinationIp": self.destination_ip,
            }
        )


@dataclass(frozen=True)
class AbortInfo:
    KEY: ClassVar[str] = "abort"
    cause: str  # UNKNOWN_IP, SOURCE_ENDPOINT_NOT_FOUND, ...
    resource_uri: str = ""
    ip_address: str = ""

    def to_json(self) -> Json:
        return _compact(
            {"cause": self.cause, "resourceUri": self.resource_uri, "ipAddress": self.ip_address}
        )


Info = (
    InstanceInfo
    | GkePodInfo
    | NetworkInfo
    | FirewallInfo
    | RouteInfo
    | EndpointInfo
    | DeliverInfo
    | DropInfo
    | AbortInfo
)
FINAL_STATES: frozenset[str] = frozenset({"DELIVER", "DROP", "ABORT", "FORWARD"})


@dataclass(frozen=True)
class Step:
    state: str
    description: str
    project_id: str
    info: Info | None = None
    causes_drop: bool = False

    def to_json(self) -> Json:
        out: Json = {"description": self.description, "state": self.state}
        if self.causes_drop:
            out["causesDrop"] = True
        if self.project_id:
            out["projectId"] = self.project_id
        if self.info is not None:
            out[self.info.KEY] = self.info.to_json()
        return out


@dataclass(frozen=True)
class Trace:
    endpoint_info: EndpointInfo
    steps: tuple[Step, ...]
    forward_trace_id: int

    @property
    def final(self) -> Final:
        state = self.steps[-1].state
        assert state in FINAL_STATES, f"a trace ends in a final state, not {state}"
        return state  # type: ignore[return-value]

    def to_json(self) -> Json:
        return {
            "endpointInfo": self.endpoint_info.to_json(),
            "steps": [s.to_json() for s in self.steps],
            "forwardTraceId": self.forward_trace_id,
        }


def result_of(traces: Sequence[Trace]) -> Result:
    """The test's result from its traces: every trace delivered (or forwarded beyond what is
    known): ``REACHABLE``; every trace dropped: ``UNREACHABLE``; every trace aborted:
    ``UNDETERMINED``; a mix (several possible sources or paths that end differently):
    ``AMBIGUOUS``."""
    finals = {"REACHED" if t.final in ("DELIVER", "FORWARD") else t.final for t in traces}
    if finals == {"REACHED"}:
        return "REACHABLE"
    if finals == {"DROP"}:
        return "UNREACHABLE"
    if finals == {"ABORT"} or not finals:
        return "UNDETERMINED"
    return "AMBIGUOUS"


def reachability_json(result: Result, traces: Sequence[Trace], verify_time: str) -> Json:
    return {
        "result": result,
        "verifyTime": verify_time,
        "traces": [t.to_json() for t in traces],
    }
