"""What every Compute Engine v1 resource shares: strict bodies, Google's error texts, names,
links, list pages and the Operation document.

Bodies are parsed as Google's front end parses them: unknown names are refused
(``Invalid JSON payload received. Unknown name "x" at 'resource': Cannot find field.``),
numbers may arrive as JSON numbers or strings (proto3 JSON), booleans must be booleans, and
output-only fields a client echoes back (``id``, ``selfLink`` ...) are accepted and ignored.
Semantic errors use Compute's ``Invalid value for field 'resource.x': 'v'. <why>`` form.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
from collections.abc import Sequence
from typing import Any

from intranode.domain.resources import compute_link, new_numeric_id
from intranode.domain.timefmt import compute_time
from intranode.domain.wire import JsonFloat, JsonInt, M, Wire, parse_message
from intranode.errors import AlreadyExists, ConditionNotMet, InvalidArgument, NotFound

OPERATION_USER = "intranode@intranode.local"
MAX_RESULTS = 500
NAME_REGEX = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
_NAME = re.compile(NAME_REGEX)
_LINK_PREFIX = re.compile(r"^(?:https?://[^/]+)?/?(?:compute/)?(?:v1|beta|alpha)/")


# Errors, in Compute's words -------------------------------------------------------------------
def not_found(key: str) -> NotFound:
    return NotFound(f"The resource '{key}' was not found")


def already_exists(key: str) -> AlreadyExists:
    return AlreadyExists(f"The resource '{key}' already exists")


def shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def invalid_field(field: str, value: Any, why: str) -> InvalidArgument:
    return InvalidArgument(f"Invalid value for field '{field}': '{shown(value)}'. {why}")


def required_field(field: str) -> InvalidArgument:
    return InvalidArgument(f"Required field '{field}' not specified", reason="required")


def in_use(what: str, key: str, user_key: str) -> InvalidArgument:
    return InvalidArgument(
        f"The {what} resource '{key}' is already being used by '{user_key}'",
        reason="resourceInUseByAnotherResource",
    )


def invalid_usage(why: str) -> InvalidArgument:
    return InvalidArgument(f"Invalid resource usage: '{why}'.", reason="invalidResourceUsage")


def same_fingerprint(given: str | None, current: str | None) -> bool:
    """Fingerprints are bytes on the wire: gcloud's apitools decodes the one it read and sends
    it back in the URL-safe alphabet (``+`` -> ``-``), so compare the decoded bytes."""
    if not given or not current:
        return False
    given_bytes, current_bytes = _fingerprint_bytes(given), _fingerprint_bytes(current)
    if given_bytes is None or current_bytes is None:
        return given == current
    return given_bytes == current_bytes


def _fingerprint_bytes(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except ValueError:
        return None


def fingerprint_mismatch() -> ConditionNotMet:
    """A missing or stale fingerprint: 412 with the If-Match location clients look for."""
    return ConditionNotMet("Invalid fingerprint.", location="If-Match", location_type="header")


# Names and links ------------------------------------------------------------------------------
def check_name(name: str | None, field: str = "resource.name") -> str:
    if not name:
        raise required_field(field)
    if not _NAME.fullmatch(name):
        raise invalid_field(field, name, f"Must be a match of regex '{NAME_REGEX}'")
    return name


def link_key(value: str, project: str) -> str:
    """A full URL (any host: clients behind an endpoint override send theirs), a partial
    ``projects/...`` path or a project-relative ``global/...`` path, as a store key."""
    key = _LINK_PREFIX.sub("", value.strip(), count=1).strip("/")
    return key if key.startswith("projects/") else f"projects/{project}/{key}"


def reference(value: str, project: str, field: str, collection: str) -> str:
    """Key of a reference to a resource of ``collection`` (``global/networks``,
    ``regions/*/subnetworks``, ``zones/*/instances``); 400 when the URL is not one."""
    key = link_key(value, project)
    pattern = "projects/[^/]+/" + collection.replace("*", "[^/]+") + "/[^/]+"
    if not value or not re.fullmatch(pattern, key):
        raise invalid_field(field, value, "The URL is malformed.")
    return key


def scope_of(key: str) -> str:
    """``projects/p/regions/r/subnetworks/s`` -> ``projects/p/regions/r``: the store parent."""
    return key.rsplit("/", 2)[0]


def name_of(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def base_document(kind: str, key: str, now: float) -> dict[str, Any]:
    """The output-only fields every Compute resource starts with."""
    return {
        "kind": kind,
        "id": new_numeric_id(),
        "creationTimestamp": compute_time(now),
        "name": name_of(key),
        "selfLink": compute_link(key),
    }


# Addresses ------------------------------------------------------------------------------------
def parse_cidr(
    value: str, field: str, *, ipv6: bool = True
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR range (host bits may be set, as Google accepts) or a bare address."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        net = None
    if net is None or (net.version == 6 and not ipv6):
        family = "IPV4 or IPV6" if ipv6 else "IPV4"
        raise invalid_field(field, value, f"Must be a valid {family} CIDR address range.")
    return net


# Lists ----------------------------------------------------------------------------------------
def paginate(
    items: Sequence[dict[str, Any]], max_results: int | None, page_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``items`` and the token of the next (None on the last page)."""
    size = max_results if max_results else MAX_RESULTS
    if size < 0:
        raise invalid_field("maxResults", size, "Must be greater than or equal to 0")
    if size > MAX_RESULTS:
        raise invalid_field("maxResults", size, f"Must be less than or equal to {MAX_RESULTS}")
    start = _token_offset(page_token) if page_token else 0
    page = list(items[start : start + size])
    end = start + size
    return page, (_offset_token(end) if end < len(items) else None)


def _offset_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _token_offset(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if raw.startswith("o:") and int(raw[2:]) >= 0:
            return int(raw[2:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise invalid_field("pageToken", token, "The page token is not valid.")


# Operations -----------------------------------------------------------------------------------
def new_operation_name(now: float) -> str:
    """``operation-<ms>-<13 hex>-<8 hex>-<8 hex>``, the shape Compute uses."""
    return (
        f"operation-{int(now * 1000)}-{secrets.token_hex(7)[:13]}-"
        f"{secrets.token_hex(4)}-{secrets.token_hex(4)}"
    )


def operation_document(
    project: str,
    scope: str,
    operation_type: str,
    target_key: str,
    target_id: str,
    now: float,
) -> dict[str, Any]:
    """A finished Operation: Compute mutations here are applied before the call returns.

    ``scope`` is ``global``, ``regions/<r>`` or ``zones/<z>``; regional and zonal operations
    carry the scope's URL in ``region``/``zone`` as Google's do.
    """
    name = new_operation_name(now)
    key = f"projects/{project}/{scope}/operations/{name}"
    stamp = compute_time(now)
    doc: dict[str, Any] = {
        "kind": "compute#operation",
        "id": new_numeric_id(),
        "name": name,
        "operationType": operation_type,
        "targetLink": compute_link(target_key),
        "targetId": target_id,
        "status": "DONE",
        "user": OPERATION_USER,
        "progress": 100,
        "insertTime": stamp,
        "startTime": stamp,
        "endTime": stamp,
        "selfLink": compute_link(key),
    }
    if scope.startswith("regions/"):
        doc["region"] = compute_link(f"projects/{project}/{scope}")
    elif scope.startswith("zones/"):
        doc["zone"] = compute_link(f"projects/{project}/{scope}")
    return doc


def operation_key(project: str, scope: str, name: str) -> str:
    return f"projects/{project}/{scope}/operations/{name}"


def parse_resource(model: type[M], data: Any, root: str = "resource") -> M:
    """Parse a Compute body into ``model`` (Compute names the top of a body ``resource``)."""
    return parse_message(model, data, root)


__all__ = ["JsonFloat", "JsonInt", "Wire"]  # re-exported: the Compute modules build on them
