"""Subnetworks: the insert body, the stored document, and PATCH with VPC Flow Logs settings.

Flow-log choices where Google's sources are silent or disagree (gcp_vpc_specs §A1, §G):

* Turning flow logs on fills the settings not given with ``aggregationInterval:
  INTERVAL_5_SEC``, ``flowSampling: 0.5`` and ``metadata: DEFAULT_FLOW_LOG_METADATA``.
  The metadata default is ``INCLUDE_ALL_METADATA`` (Terraform, the Network Management API and
  the captured ``subnets describe`` output) although the v1 proto and gcloud's help say
  ``EXCLUDE_ALL_METADATA``; change the constant to switch.
* ``filterExpr`` is shown only once set: the captured describe output has no such key, so
  no ``"true"`` default is invented. A missing filter keeps every record.
* Turning flow logs off keeps the other settings (so turning them on again restores them),
  and ``metadataFields`` survive a change away from ``CUSTOM_METADATA``, as Terraform notes
  the API does.
* The legacy ``enableFlowLogs`` always equals ``logConfig.enable`` once either was set; when
  a PATCH carries both with different values, the one that changes the current state wins
  (a client that echoes a GET back and flips one of them means that one).
* Settings other than ``enable`` are documented as settable only while flow logs are on:
  changing one on a subnet whose flow logs stay off is refused with 400.
* Until a flow-log setting is first given, neither field appears, as on Google.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import StrictBool, StrictStr

from intranode.domain.compute import (
    JsonFloat,
    Wire,
    base_document,
    check_name,
    fingerprint_mismatch,
    invalid_field,
    parse_cidr,
    parse_resource,
    reference,
    required_field,
    same_fingerprint,
)
from intranode.domain.flowlogs.cel import validate_filter_expr
from intranode.domain.ipam import gateway_of
from intranode.domain.resources import compute_link, new_fingerprint, subnetwork_key
from intranode.errors import InvalidArgument

AGGREGATION_INTERVALS = (
    "INTERVAL_5_SEC",
    "INTERVAL_30_SEC",
    "INTERVAL_1_MIN",
    "INTERVAL_5_MIN",
    "INTERVAL_10_MIN",
    "INTERVAL_15_MIN",
)
METADATA_MODES = ("INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA", "CUSTOM_METADATA")
DEFAULT_FLOW_LOG_METADATA = "INCLUDE_ALL_METADATA"
FLOW_LOG_DEFAULTS: dict[str, Any] = {
    "aggregationInterval": "INTERVAL_5_SEC",
    "flowSampling": 0.5,
    "metadata": DEFAULT_FLOW_LOG_METADATA,
}
_METADATA_FIELD = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_MIN_PREFIX, _MAX_PREFIX = 8, 29


class LogConfigBody(Wire):
    enable: StrictBool | None = None
    aggregation_interval: StrictStr | None = None
    flow_sampling: JsonFloat | None = None
    metadata: StrictStr | None = None
    metadata_fields: list[StrictStr] | None = None
    filter_expr: StrictStr | None = None


class SecondaryRangeBody(Wire):
    range_name: StrictStr | None = None
    ip_cidr_range: StrictStr | None = None
    ip_collection: Any = None
    ip_version: Any = None
    reserved_internal_range: Any = None


class SubnetworkBody(Wire):
    name: StrictStr | None = None
    description: StrictStr | None = None
    network: StrictStr | None = None
    region: StrictStr | None = None
    ip_cidr_range: StrictStr | None = None
    secondary_ip_ranges: list[SecondaryRangeBody] | None = None
    private_ip_google_access: StrictBool | None = None
    enable_flow_logs: StrictBool | None = None
    log_config: LogConfigBody | None = None
    fingerprint: StrictStr | None = None
    purpose: StrictStr | None = None
    role: StrictStr | None = None
    stack_type: StrictStr | None = None
    allow_subnet_cidr_routes_overlap: StrictBool | None = None
    private_ipv6_google_access: StrictStr | None = None
    # Output-only or not modelled here: accepted when a client echoes a GET back.
    kind: Any = None
    id: Any = None
    self_link: Any = None
    creation_timestamp: Any = None
    gateway_address: Any = None
    state: Any = None
    external_ipv6_prefix: Any = None
    internal_ipv6_prefix: Any = None
    ip_collection: Any = None
    ipv6_access_type: Any = None
    ipv6_cidr_range: Any = None
    ipv6_gce_endpoint: Any = None
    params: Any = None
    reserved_internal_range: Any = None
    resolve_subnet_mask: Any = None
    system_reserved_external_ipv6_ranges: Any = None
    system_reserved_internal_ipv6_ranges: Any = None
    utilization_details: Any = None


# Documents ------------------------------------------------------------------------------------
def subnetwork_document(
    key: str,
    network_key: str,
    cidr: str,
    now: float,
    *,
    description: str | None = None,
    private_ip_google_access: bool = False,
) -> dict[str, Any]:
    """A subnet as Google first serves it (no flow-log fields until they are set)."""
    region_key = key.rsplit("/", 2)[0]
    doc = base_document("compute#subnetwork", key, now)
    if description:
        doc["description"] = description
    doc.update(
        {
            "network": compute_link(network_key),
            "region": compute_link(region_key),
            "ipCidrRange": cidr,
            "gatewayAddress": gateway_of(cidr),
            "privateIpGoogleAccess": private_ip_google_access,
            "privateIpv6GoogleAccess": "DISABLE_GOOGLE_ACCESS",
            "purpose": "PRIVATE",
            "stackType": "IPV4_ONLY",
            "fingerprint": new_fingerprint(),
        }
    )
    return doc


def subnet_ranges(doc: dict[str, Any]) -> list[str]:
    """Primary range first, then each secondary range."""
    ranges = [str(doc["ipCidrRange"])]
    ranges += [str(r["ipCidrRange"]) for r in doc.get("secondaryIpRanges") or []]
    return ranges


def insert_subnetwork(
    project: str,
    region: str,
    data: Any,
    now: float,
    subnets_of: Callable[[str], Sequence[dict[str, Any]]],
) -> tuple[dict[str, Any], str]:
    """Validate an insert body; the new document and the key of the network it names.

    ``subnets_of(network_key)`` gives the subnets already in that network (for the overlap
    check) and is where the caller refuses a network that does not exist.
    """
    body = parse_resource(SubnetworkBody, data)
    name = check_name(body.name)
    if not body.network:
        raise required_field("resource.network")
    network_key = reference(body.network, project, "resource.network", "global/networks")
    others = subnets_of(network_key)
    if body.region and reference(body.region, project, "resource.region", "regions") != (
        f"projects/{project}/regions/{region}"
    ):
        raise invalid_field("resource.region", body.region, "Must match the region in the URL.")
    if not body.ip_cidr_range:
        raise required_field("resource.ipCidrRange")
    cidr = _primary_range(body.ip_cidr_range)
    if body.stack_type not in (None, "IPV4_ONLY"):
        raise invalid_field(
            "resource.stackType", body.stack_type, "Only IPV4_ONLY subnetworks are supported."
        )
    if body.purpose not in (None, "PRIVATE"):
        raise invalid_field(
            "resource.purpose", body.purpose, "Only PRIVATE subnetworks are supported."
        )
    key = subnetwork_key(project, region, name)
    doc = subnetwork_document(
        key,
        network_key,
        cidr,
        now,
        description=body.description,
        private_ip_google_access=bool(body.private_ip_google_access),
    )
    if body.secondary_ip_ranges:
        doc["secondaryIpRanges"] = _secondary_ranges(body.secondary_ip_ranges)
    _check_overlaps(doc, others)
    if body.allow_subnet_cidr_routes_overlap is not None:
        doc["allowSubnetCidrRoutesOverlap"] = body.allow_subnet_cidr_routes_overlap
    _apply_flow_logs(doc, body)
    return doc, network_key


def _primary_range(value: str) -> str:
    net = parse_cidr(value, "resource.ipCidrRange", ipv6=False)
    if not _MIN_PREFIX <= net.prefixlen <= _MAX_PREFIX:
        raise invalid_field(
            "resource.ipCidrRange",
            value,
            f"The prefix length must be between /{_MIN_PREFIX} and /{_MAX_PREFIX}.",
        )
    if str(net) != value:
        raise invalid_field(
            "resource.ipCidrRange", value, f"Must be a network address; did you mean {net}?"
        )
    return value


def _secondary_ranges(ranges: Sequence[SecondaryRangeBody]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, r in enumerate(ranges):
        field = f"resource.secondaryIpRanges[{i}]"
        name = check_name(r.range_name, f"{field}.rangeName")
        if name in seen:
            raise invalid_field(f"{field}.rangeName", name, "Range names must be unique.")
        seen.add(name)
        if not r.ip_cidr_range:
            raise required_field(f"{field}.ipCidrRange")
        net = parse_cidr(r.ip_cidr_range, f"{field}.ipCidrRange", ipv6=False)
        out.append({"ipCidrRange": str(net), "rangeName": name})
    return out


def _check_overlaps(doc: dict[str, Any], others: Sequence[dict[str, Any]]) -> None:
    """No range of ``doc`` may overlap another of its own or of another subnet."""
    mine = [ipaddress.ip_network(c) for c in subnet_ranges(doc)]
    for i, a in enumerate(mine):
        for b in mine[i + 1 :]:
            if a.overlaps(b):
                raise _conflict(str(b), doc)
    for other in others:
        if other.get("selfLink") == doc.get("selfLink"):
            continue
        for theirs in subnet_ranges(other):
            for a in mine:
                if a.overlaps(ipaddress.ip_network(theirs)):
                    raise _conflict(str(a), other)


def _conflict(cidr: str, other: dict[str, Any]) -> InvalidArgument:
    region = str(other.get("region", "")).rsplit("/", 1)[-1]
    return InvalidArgument(
        f"Invalid IPCidrRange: {cidr} conflicts with existing subnetwork "
        f"'{other.get('name')}' in region '{region}'."
    )


class PrivateAccessBody(Wire):
    private_ip_google_access: StrictBool | None = None


def set_private_ip_google_access(current: dict[str, Any], data: Any) -> dict[str, Any]:
    """``setPrivateIpGoogleAccess``: the body's flag (false when left out); new fingerprint."""
    body = parse_resource(PrivateAccessBody, data)
    return {
        **current,
        "privateIpGoogleAccess": bool(body.private_ip_google_access),
        "fingerprint": new_fingerprint(),
    }


# PATCH ----------------------------------------------------------------------------------------
_IMMUTABLE = (
    ("name", "name"),
    ("description", "description"),
    ("ip_cidr_range", "ipCidrRange"),
    ("purpose", "purpose"),
    ("role", "role"),
    ("stack_type", "stackType"),
)


def patch_subnetwork(
    project: str, current: dict[str, Any], data: Any, others: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The document after a PATCH: fingerprint first (412), then the patchable fields.

    Only fields present in the body change; output-only fields and unchanged immutable ones
    a client echoes back are ignored. The fingerprint rotates.
    """
    body = parse_resource(SubnetworkBody, data)
    if not same_fingerprint(body.fingerprint, current.get("fingerprint")):
        raise fingerprint_mismatch()
    for attr, json_name in _IMMUTABLE:
        value = getattr(body, attr)
        if value is not None and value != current.get(json_name):
            raise invalid_field(
                f"resource.{json_name}", value, "This field cannot be changed by a patch."
            )
    for attr, collection in (("network", "global/networks"), ("region", "regions")):
        value = getattr(body, attr)
        if value and reference(value, project, f"resource.{attr}", collection) != reference(
            str(current.get(attr)), project, f"resource.{attr}", collection
        ):
            raise invalid_field(f"resource.{attr}", value, "This field cannot be changed.")
    doc = dict(current)
    if body.private_ip_google_access is not None:
        doc["privateIpGoogleAccess"] = body.private_ip_google_access
    if body.allow_subnet_cidr_routes_overlap is not None:
        doc["allowSubnetCidrRoutesOverlap"] = body.allow_subnet_cidr_routes_overlap
    if body.given("secondary_ip_ranges"):
        ranges = _secondary_ranges(body.secondary_ip_ranges or [])
        if ranges:
            doc["secondaryIpRanges"] = ranges
        else:
            doc.pop("secondaryIpRanges", None)
        _check_overlaps(doc, others)
    _apply_flow_logs(doc, body)
    doc["fingerprint"] = new_fingerprint()
    return doc


def _apply_flow_logs(doc: dict[str, Any], body: SubnetworkBody) -> None:
    """Merge the body's flow-log fields into ``doc`` (see the module docstring)."""
    lc = body.log_config
    legacy = body.enable_flow_logs
    if lc is None and legacy is None:
        return
    current: dict[str, Any] = dict(doc.get("logConfig") or {})
    state = current.get("enable", doc.get("enableFlowLogs"))
    requested = lc.enable if lc is not None else None
    if legacy is not None and requested is not None and legacy != requested:
        if requested == state:
            requested = legacy
        elif legacy != state:
            raise invalid_field(
                "resource.enableFlowLogs", legacy, "It must equal 'resource.logConfig.enable'."
            )
    enable = requested if requested is not None else legacy if legacy is not None else state
    merged = dict(current)
    changed = _merge_settings(merged, lc) if lc is not None else []
    if enable:
        for name, value in FLOW_LOG_DEFAULTS.items():
            merged.setdefault(name, value)
    elif changed:
        field = changed[0]
        raise invalid_field(
            f"resource.logConfig.{field}",
            merged.get(field, ""),
            "Flow log settings can be set only when flow logs are enabled for the subnetwork.",
        )
    if enable is None:
        return
    mode = merged.get("metadata")
    if lc is not None and lc.metadata_fields and mode != "CUSTOM_METADATA":
        raise invalid_field(
            "resource.logConfig.metadataFields",
            ",".join(lc.metadata_fields),
            "Metadata fields can be set only when metadata is CUSTOM_METADATA.",
        )
    merged["enable"] = bool(enable)
    doc["enableFlowLogs"] = bool(enable)
    doc["logConfig"] = dict(sorted(merged.items()))


def _merge_settings(merged: dict[str, Any], lc: LogConfigBody) -> list[str]:
    """Validate and copy the given settings other than ``enable``; the names that changed."""
    changed: list[str] = []

    def put(name: str, value: Any) -> None:
        if merged.get(name) != value:
            changed.append(name)
        merged[name] = value

    if lc.aggregation_interval is not None:
        _one_of("aggregationInterval", lc.aggregation_interval, AGGREGATION_INTERVALS)
        put("aggregationInterval", lc.aggregation_interval)
    if lc.flow_sampling is not None:
        rate = lc.flow_sampling
        if math.isnan(rate) or not 0.0 <= rate <= 1.0:
            raise invalid_field(
                "resource.logConfig.flowSampling", rate, "Must be between 0 and 1, inclusive."
            )
        put("flowSampling", rate)
    if lc.metadata is not None:
        _one_of("metadata", lc.metadata, METADATA_MODES)
        put("metadata", lc.metadata)
    if lc.metadata_fields is not None:
        for i, f in enumerate(lc.metadata_fields):
            if not _METADATA_FIELD.fullmatch(f):
                raise invalid_field(
                    f"resource.logConfig.metadataFields[{i}]",
                    f,
                    "Must name a flow log record field, such as src_gke_details.",
                )
        if lc.metadata_fields:
            put("metadataFields", list(lc.metadata_fields))
        elif "metadataFields" in merged:
            changed.append("metadataFields")
            del merged["metadataFields"]
    if lc.filter_expr is not None:
        if lc.filter_expr:
            validate_filter_expr(lc.filter_expr)
            put("filterExpr", lc.filter_expr)
        elif "filterExpr" in merged:
            changed.append("filterExpr")
            del merged["filterExpr"]
    return changed


def _one_of(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise invalid_field(
            f"resource.logConfig.{name}", value, f"Must be one of [{', '.join(allowed)}]."
        )
