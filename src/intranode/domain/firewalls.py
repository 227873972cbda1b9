"""VPC firewall rules (``compute#firewall``): the body, Google's validation and defaults, the
stored document, and a typed rule for the firewall compiler.

Rules enforced (gcp_vpc_specs §B1, §B5): ``name`` RFC 1035, 1-63 characters; ``priority``
0-65535, default 1000; ``direction`` INGRESS (default) or EGRESS and never changed later;
exactly one of ``allowed``/``denied`` non-empty; ``IPProtocol`` one of tcp, udp, icmp, esp,
ah, sctp, ipip, all (any case) or a number 0-255; ``ports`` only for tcp/udp/sctp (or 6, 17,
132), each ``N`` or ``N-M`` with 0 <= N <= M <= 65535; ranges valid CIDRs (or bare
addresses), IPv4 and IPv6 not mixed in one list; ``sourceTags`` and ``sourceServiceAccounts``
only on INGRESS; ``targetTags`` excludes ``targetServiceAccounts``, and service-account
sources exclude tags; ``logConfig.metadata`` only with ``enable: true``.

Defaults as Google fills them: an INGRESS rule with no source of any kind gets
``sourceRanges: [0.0.0.0/0]``; an EGRESS rule with no ``destinationRanges`` gets
``[0.0.0.0/0]``; ``logConfig: {enable: false}`` and ``disabled: false`` always appear, and
enabled logging shows ``metadata: INCLUDE_ALL_METADATA`` unless set.

Like Google today (and unlike its first firewall API), ``destinationRanges`` may also narrow an
INGRESS rule and ``sourceRanges`` an EGRESS rule.

Message texts: ``Required field '...' not specified``, the name regex text and ``The URL is
malformed.`` are Google's; the other reasons are intranode's wording in Google's
``Invalid value for field '<path>': '<value>'. <reason>`` form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field, StrictBool, StrictStr

from intranode.domain.compute import (
    JsonInt,
    Wire,
    base_document,
    check_name,
    invalid_field,
    parse_cidr,
    parse_resource,
    reference,
    required_field,
)
from intranode.domain.resources import compute_link, firewall_key

DEFAULT_PRIORITY = 1000
DIRECTIONS = ("INGRESS", "EGRESS")
LOG_METADATA = ("INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA")
PROTOCOL_NUMBERS: dict[str, int | None] = {
    "tcp": 6,
    "udp": 17,
    "icmp": 1,
    "esp": 50,
    "ah": 51,
    "sctp": 132,
    "ipip": 4,
    "all": None,
}
_PORT_PROTOCOLS = {6, 17, 132}
_PORT = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")
_ANYWHERE = "0.0.0.0/0"
# Output-only fields: kept from the stored rule, ignored in bodies.
_OUTPUT_ONLY = ("kind", "id", "selfLink", "creationTimestamp")
_KEY_ORDER = (
    "kind",
    "id",
    "creationTimestamp",
    "name",
    "description",
    "network",
    "priority",
    "sourceRanges",
    "destinationRanges",
    "sourceTags",
    "targetTags",
    "sourceServiceAccounts",
    "targetServiceAccounts",
    "allowed",
    "denied",
    "direction",
    "logConfig",
    "disabled",
    "selfLink",
)


class ProtocolPortsBody(Wire):
    ip_protocol: StrictStr | None = Field(default=None, alias="IPProtocol")
    ports: list[StrictStr] | None = None


class FirewallLogConfigBody(Wire):
    enable: StrictBool | None = None
    metadata: StrictStr | None = None


class FirewallBody(Wire):
    name: StrictStr | None = None
    description: StrictStr | None = None
    network: StrictStr | None = None
    priority: JsonInt | None = None
    direction: StrictStr | None = None
    allowed: list[ProtocolPortsBody] | None = None
    denied: list[ProtocolPortsBody] | None = None
    source_ranges: list[StrictStr] | None = None
    destination_ranges: list[StrictStr] | None = None
    source_tags: list[StrictStr] | None = None
    target_tags: list[StrictStr] | None = None
    source_service_accounts: list[StrictStr] | None = None
    target_service_accounts: list[StrictStr] | None = None
    disabled: StrictBool | None = None
    log_config: FirewallLogConfigBody | None = None
    params: Any = None
    # Output-only.
    kind: Any = None
    id: Any = None
    self_link: Any = None
    creation_timestamp: Any = None


def _given(body: FirewallBody) -> dict[str, Any]:
    """The fields the body carried, by JSON name (None/[] for ones it cleared)."""
    spec: dict[str, Any] = body.model_dump(by_alias=True, exclude_unset=True)
    for name in (*_OUTPUT_ONLY, "params"):
        spec.pop(name, None)
    return spec


# The public contract -------------------------------------------------------------------------
def firewall_document(project: str, body: dict[str, Any], *, now: float) -> dict[str, Any]:
    """Validate an insert body and return the rule as stored and served: ``id``, ``kind``,
    ``selfLink``, ``creationTimestamp``, ``network`` as a full URL, defaults filled.

    Raises ``InvalidArgument`` with Google's texts. Does not check that the network exists
    (the caller does, with the store).
    """
    spec = _given(parse_resource(FirewallBody, body))
    if not spec.get("network"):
        spec["network"] = "global/networks/default"
    name = check_name(spec.get("name"))
    return _build(
        project, spec, base_document("compute#firewall", firewall_key(project, name), now)
    )


def patch_firewall(project: str, current: dict[str, Any], data: Any) -> dict[str, Any]:
    """PATCH: the given fields replace the stored ones (null or [] clears one); the result is
    validated as a whole; name, network and direction cannot change."""
    body = parse_resource(FirewallBody, data)
    spec = {k: v for k, v in current.items() if k not in _OUTPUT_ONLY}
    for name, value in _given(body).items():
        if value is None or value == []:
            spec.pop(name, None)
        else:
            spec[name] = value
    _check_unchanged(project, current, spec)
    return _build(project, spec, _identity(current))


def update_firewall(project: str, current: dict[str, Any], data: Any) -> dict[str, Any]:
    """PUT: the body is the whole rule (fields left out take their defaults); name, network
    and direction cannot change."""
    spec = {
        k: v for k, v in _given(parse_resource(FirewallBody, data)).items() if v not in (None, [])
    }
    spec.setdefault("name", current["name"])
    spec.setdefault("network", current["network"])
    spec.setdefault("direction", current.get("direction", "INGRESS"))
    _check_unchanged(project, current, spec)
    return _build(project, spec, _identity(current))


def default_firewall_bodies(network: str = "global/networks/default") -> list[dict[str, Any]]:
    """Insert bodies of the rules Google puts in a project's ``default`` network."""
    common = {"network": network, "priority": 65534, "direction": "INGRESS"}
    return [
        {
            **common,
            "name": "default-allow-icmp",
            "description": "Allow ICMP from anywhere",
            "sourceRanges": [_ANYWHERE],
            "allowed": [{"IPProtocol": "icmp"}],
        },
        {
            **common,
            "name": "default-allow-internal",
            "description": "Allow internal traffic on the default network",
            "sourceRanges": ["10.128.0.0/9"],
            "allowed": [
                {"IPProtocol": "tcp", "ports": ["0-65535"]},
                {"IPProtocol": "udp", "ports": ["0-65535"]},
                {"IPProtocol": "icmp"},
            ],
        },
        {
            **common,
            "name": "default-allow-rdp",
            "description": "Allow RDP from anywhere",
            "sourceRanges": [_ANYWHERE],
            "allowed": [{"IPProtocol": "tcp", "ports": ["3389"]}],
        },
        {
            **common,
            "name": "default-allow-ssh",
            "description": "Allow SSH from anywhere",
            "sourceRanges": [_ANYWHERE],
            "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
        },
    ]


# Validation -----------------------------------------------------------------------------------
def _identity(current: dict[str, Any]) -> dict[str, Any]:
    return {k: current[k] for k in _OUTPUT_ONLY if k in current} | {"name": current["name"]}


def _check_unchanged(project: str, current: dict[str, Any], spec: dict[str, Any]) -> None:
    if spec.get("name") != current["name"]:
        raise invalid_field("resource.name", spec.get("name"), "The name cannot be changed.")
    before = reference(current["network"], project, "resource.network", "global/networks")
    after = reference(str(spec.get("network")), project, "resource.network", "global/networks")
    if before != after:
        raise invalid_field("resource.network", spec["network"], "The network cannot be changed.")
    if spec.get("direction", "INGRESS") != current.get("direction", "INGRESS"):
        raise invalid_field(
            "resource.direction", spec.get("direction"), "The direction cannot be changed."
        )


def _build(project: str, spec: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = dict(base)
    doc["name"] = check_name(spec.get("name"))
    if spec.get("description"):
        doc["description"] = spec["description"]
    network = spec.get("network")
    if not network:
        raise required_field("resource.network")
    doc["network"] = compute_link(
        reference(network, project, "resource.network", "global/networks")
    )
    priority = spec.get("priority")
    if priority is None:
        priority = DEFAULT_PRIORITY
    if priority < 0:
        raise invalid_field("resource.priority", priority, "Must be greater than or equal to 0")
    if priority > 65535:
        raise invalid_field("resource.priority", priority, "Must be less than or equal to 65535")
    doc["priority"] = priority
    direction = spec.get("direction") or "INGRESS"
    if direction not in DIRECTIONS:
        raise invalid_field("resource.direction", direction, "Must be one of [INGRESS, EGRESS].")

    allowed, denied = spec.get("allowed") or [], spec.get("denied") or []
    if bool(allowed) == bool(denied):
        raise invalid_field(
            "resource.denied" if allowed else "resource.allowed",
            "",
            "Exactly one of allowed or denied must be specified.",
        )
    action = "allowed" if allowed else "denied"
    rules = [protocol_ports(f"resource.{action}[{i}]", r) for i, r in enumerate(allowed or denied)]

    lists = {
        name: list(spec.get(name) or [])
        for name in (
            "sourceRanges",
            "destinationRanges",
            "sourceTags",
            "targetTags",
            "sourceServiceAccounts",
            "targetServiceAccounts",
        )
    }
    for name in ("sourceRanges", "destinationRanges"):
        _check_ranges(name, lists[name])
    for name in ("sourceTags", "targetTags"):
        for i, tag in enumerate(lists[name]):
            check_name(tag, f"resource.{name}[{i}]")
    for name in ("sourceServiceAccounts", "targetServiceAccounts"):
        for i, email in enumerate(lists[name]):
            if "@" not in email:
                raise invalid_field(
                    f"resource.{name}[{i}]", email, "Must be a service account email address."
                )
    _check_combinations(direction, lists)
    if direction == "INGRESS" and not (
        lists["sourceRanges"] or lists["sourceTags"] or lists["sourceServiceAccounts"]
    ):
        lists["sourceRanges"] = [_ANYWHERE]
    if direction == "EGRESS" and not lists["destinationRanges"]:
        lists["destinationRanges"] = [_ANYWHERE]
    for name, values in lists.items():
        if values:
            doc[name] = values
    doc[action] = rules
    doc["direction"] = direction
    doc["logConfig"] = _log_config(spec.get("logConfig") or {})
    doc["disabled"] = bool(spec.get("disabled", False))
    return {k: doc[k] for k in _KEY_ORDER if k in doc}


def protocol_ports(field: str, entry: Mapping[str, Any], key: str = "IPProtocol") -> dict[str, Any]:
    """A protocol and its ports, checked as Google does: ``IPProtocol`` of a VPC rule's
    allowed/denied entry, or (``key="ipProtocol"``) a policy rule's layer-4 config."""
    proto = entry.get(key)
    if not proto:
        raise required_field(f"{field}.{key}")
    try:
        number = protocol_number(proto)
    except ValueError:
        raise invalid_field(
            f"{field}.{key}",
            proto,
            "Must be one of [tcp, udp, icmp, esp, ah, sctp, ipip, all] or an IP protocol "
            "number between 0 and 255.",
        ) from None
    ports = list(entry.get("ports") or [])
    for j, port in enumerate(ports):
        if number not in _PORT_PROTOCOLS:
            raise invalid_field(
                f"{field}.ports[{j}]",
                port,
                "Ports can be specified only for the tcp, udp and sctp protocols.",
            )
        if port_range(port) is None:
            raise invalid_field(
                f"{field}.ports[{j}]",
                port,
                "Must be a port number or a port range N-M with 0 <= N <= M <= 65535.",
            )
    out: dict[str, Any] = {key: proto}
    if ports:
        out["ports"] = ports
    return out


def _check_ranges(name: str, ranges: Sequence[str]) -> None:
    versions = set()
    for i, value in enumerate(ranges):
        versions.add(parse_cidr(value, f"resource.{name}[{i}]").version)
    if len(versions) > 1:
        raise invalid_field(
            f"resource.{name}",
            ",".join(ranges),
            "IPv4 and IPv6 ranges cannot be mixed in one firewall rule.",
        )


def _check_combinations(direction: str, lists: dict[str, list[str]]) -> None:
    if direction == "EGRESS":
        for name in ("sourceTags", "sourceServiceAccounts"):
            if lists[name]:
                raise invalid_field(
                    f"resource.{name}",
                    ",".join(lists[name]),
                    f"{name} cannot be specified for EGRESS firewall rules.",
                )
    if lists["targetServiceAccounts"] and lists["targetTags"]:
        raise invalid_field(
            "resource.targetServiceAccounts",
            ",".join(lists["targetServiceAccounts"]),
            "targetServiceAccounts cannot be combined with targetTags.",
        )
    service_accounts = lists["sourceServiceAccounts"] or lists["targetServiceAccounts"]
    if service_accounts and (lists["sourceTags"] or lists["targetTags"]):
        raise invalid_field(
            "resource.sourceServiceAccounts"
            if lists["sourceServiceAccounts"]
            else "resource.targetServiceAccounts",
            ",".join(service_accounts),
            "Service accounts cannot be combined with sourceTags or targetTags.",
        )


def _log_config(given: dict[str, Any]) -> dict[str, Any]:
    enable = bool(given.get("enable", False))
    metadata = given.get("metadata")
    if metadata is not None and metadata not in LOG_METADATA:
        raise invalid_field(
            "resource.logConfig.metadata", metadata, f"Must be one of [{', '.join(LOG_METADATA)}]."
        )
    if not enable:
        if metadata is not None:
            raise invalid_field(
                "resource.logConfig.metadata",
                metadata,
                "Metadata can be set only when logging is enabled.",
            )
        return {"enable": False}
    return {"enable": True, "metadata": metadata or "INCLUDE_ALL_METADATA"}


def protocol_number(proto: str) -> int | None:
    """The IP protocol number of a rule's ``IPProtocol`` (None for ``all``); ValueError for a
    name Google does not know or a number outside 0-255."""
    if proto.lower() in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[proto.lower()]
    if proto.isascii() and proto.isdigit() and int(proto) <= 255:
        return int(proto)
    raise ValueError(proto)


def port_range(spec: str) -> tuple[int, int] | None:
    """``"22"`` -> (22, 22), ``"80-90"`` -> (80, 90); None when not a valid port spec."""
    m = _PORT.fullmatch(spec)
    if m is None:
        return None
    low = int(m.group(1))
    high = int(m.group(2)) if m.group(2) is not None else low
    return (low, high) if low <= high <= 65535 else None


# The typed rule the firewall compiler reads --------------------------------------------------
@dataclass(frozen=True)
class ProtocolMatch:
    """One ``allowed``/``denied`` entry: protocol number (None = every protocol) and port
    ranges (empty = every port)."""

    protocol: int | None
    ports: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class FirewallRule:
    name: str
    network: str  # store key of the network
    priority: int
    direction: str  # INGRESS | EGRESS
    action: str  # ALLOW | DENY
    matches: tuple[ProtocolMatch, ...]
    source_ranges: tuple[str, ...] = ()
    destination_ranges: tuple[str, ...] = ()
    source_tags: tuple[str, ...] = ()
    target_tags: tuple[str, ...] = ()
    source_service_accounts: tuple[str, ...] = ()
    target_service_accounts: tuple[str, ...] = ()
    disabled: bool = False
    log_enabled: bool = False
    log_metadata: str | None = None

    @classmethod
    def from_document(cls, doc: dict[str, Any], project: str) -> FirewallRule:
        """Read a stored (already validated) ``compute#firewall`` document."""
        action = "ALLOW" if doc.get("allowed") else "DENY"
        matches = []
        for entry in doc.get("allowed") or doc.get("denied") or []:
            ports = tuple(p for p in (port_range(s) for s in entry.get("ports") or []) if p)
            matches.append(ProtocolMatch(protocol_number(str(entry["IPProtocol"])), ports))
        log = doc.get("logConfig") or {}
        return cls(
            name=str(doc["name"]),
            network=reference(str(doc["network"]), project, "network", "global/networks"),
            priority=int(doc.get("priority", DEFAULT_PRIORITY)),
            direction=str(doc.get("direction", "INGRESS")),
            action=action,
            matches=tuple(matches),
            source_ranges=tuple(doc.get("sourceRanges") or ()),
            destination_ranges=tuple(doc.get("destinationRanges") or ()),
            source_tags=tuple(doc.get("sourceTags") or ()),
            target_tags=tuple(doc.get("targetTags") or ()),
            source_service_accounts=tuple(doc.get("sourceServiceAccounts") or ()),
            target_service_accounts=tuple(doc.get("targetServiceAccounts") or ()),
            disabled=bool(doc.get("disabled", False)),
            log_enabled=bool(log.get("enable", False)),
            log_metadata=log.get("metadata"),
        )
