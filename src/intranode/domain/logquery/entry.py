"""Checking a written LogEntry and putting it in the form Logging stores and returns.

What ``entries:write`` does to an entry, and so what every stored entry looks like:

* field names are the JSON (camelCase) names; the proto (snake_case) spellings are accepted
  on input, and any other name is refused as Google's JSON parser refuses it;
* ``logName`` is ``projects|organizations|folders|billingAccounts/ID/logs/LOG_ID`` with the
  LOG_ID URL-encoded (an unencoded ``/`` is encoded) and a known project number replaced by
  the project id;
* ``timestamp`` is filled with the time of the write when absent, and ``receiveTimestamp`` is
  always the time of the write, both in the proto3 form (UTC ``Z``, 0/3/6/9 digits);
* ``severity`` becomes its name, and is left out when it is ``DEFAULT`` (proto3 omits
  defaults); ``insertId`` is filled when absent; int64 fields are written as strings;
* payloads are kept exactly as written.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import orjson

from intranode.domain.logquery.compile_sql import index_values
from intranode.domain.logquery.errors import invalid
from intranode.domain.logquery.schema import HTTP_REQUEST, LOG_ENTRY, Kind, Spec
from intranode.domain.logquery.values import (
    SEVERITIES,
    SEVERITY_NAMES,
    format_timestamp,
    parse_timestamp,
    to_duration,
)
from intranode.errors import InvalidArgument

MAX_ENTRY_BYTES = 256 * 1024
# Stored timestamps are int64 nanoseconds (1677-09-21 to 2262-04-11).
MIN_TIMESTAMP_NS = -(2**63) + 1
MAX_TIMESTAMP_NS = 2**63 - 1
MAX_LOG_ID = 511
_PARENT_KINDS = ("projects", "organizations", "folders", "billingAccounts")
_LOG_NAME = re.compile(r"(projects|organizations|folders|billingAccounts)/([^/]+)/logs/(.+)")
_LOG_ID_CHARS = re.compile(r"[A-Za-z0-9/_.\-]+")
_PARENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_\-]*")
_OUTPUT_ONLY = ("receiveTimestamp", "errorGroups", "apphub", "apphubSource", "apphubDestination")
_PAYLOADS = ("textPayload", "jsonPayload", "protoPayload")


class StoredEntry(NamedTuple):
    """An entry ready for the store: its JSON text and the columns indexed from it. (A named
    tuple, not a frozen dataclass: one is made per entry on the write path, where that costs.)"""

    entry: dict[str, Any]
    json: str
    insert_id: str
    log_name: str
    timestamp_ns: int
    receive_ns: int
    severity: int
    resource_type: str
    columns: tuple[str | float | None, ...]


@dataclass(frozen=True)
class WriteContext:
    """What the write adds to every entry."""

    receive_ns: int
    new_insert_id: Callable[[], str]
    # Project numbers Logging rewrites to project ids in log names.
    project_ids: Mapping[str, str]

    @cached_property
    def receive_text(self) -> str:
        return format_timestamp(self.receive_ns)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _aliases(spec: Spec) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in spec.fields:
        out[name] = name
        out[_snake(name)] = name
    return out


_ENTRY_NAMES = _aliases(LOG_ENTRY)
_MESSAGE_NAMES = {name: _aliases(sub) for name, sub in LOG_ENTRY.fields.items() if sub.fields}
_PLAIN_KEYS = frozenset(LOG_ENTRY.fields) - frozenset(_OUTPUT_ONLY)
# Entries with only these fields need no further type checks (payload and resource checked
# on the way): what the flow-log collector writes.
_CHECKED_ALREADY = frozenset(
    {"logName", "resource", "timestamp", "receiveTimestamp", "insertId", "severity", "jsonPayload"}
)
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def encode(entry: dict[str, Any]) -> tuple[str, int]:
    """The compact JSON text of an entry and its size in UTF-8 bytes. orjson writes it about
    three times faster than the standard library (ingest is mostly this); what orjson refuses
    and JSON allows (integers beyond 64 bits) takes the standard encoder."""
    try:
        data = orjson.dumps(entry)
    except orjson.JSONEncodeError:
        text = _ENCODE(entry)
        return text, len(text) if text.isascii() else len(text.encode("utf-8"))
    return data.decode(), len(data)


def prepare(raw: Any, where: str, ctx: WriteContext) -> StoredEntry:
    """The stored form of one written entry; ``where`` names it in errors (``entries[3]``)."""
    if not isinstance(raw, dict):
        raise invalid(f"Invalid value at '{where}': a LogEntry must be a JSON object.")
    if raw.keys() <= _PLAIN_KEYS and None not in raw.values():
        entry = dict(raw)  # the common case: JSON names only, nothing to drop or rename
    else:
        entry = _renamed(raw, where)
    for name in _MESSAGE_NAMES.keys() & entry.keys():
        entry[name] = _message(entry[name], _MESSAGE_NAMES[name], f"{where}.{name}")

    log_name = canonical_log_name(entry.get("logName"), ctx.project_ids, where)
    entry["logName"] = log_name
    resource_type = _resource(entry, where)
    ts = entry.get("timestamp")
    if ts is None:
        ts_ns = ctx.receive_ns
        entry["timestamp"] = ctx.receive_text
    else:
        ts_ns = _timestamp(ts, f"{where}.timestamp")
        entry["timestamp"] = format_timestamp(ts_ns)
    entry["receiveTimestamp"] = ctx.receive_text
    severity = _severity(entry, where) if "severity" in entry else 0
    insert_id = entry.get("insertId")
    if insert_id is None or insert_id == "":
        insert_id = entry["insertId"] = ctx.new_insert_id()
    elif not isinstance(insert_id, str):
        raise _bad_value(f"{where}.insertId", insert_id, "a string")
    if not entry.keys() <= _CHECKED_ALREADY:
        _scalars(entry, where)
        if "httpRequest" in entry:
            _http_request(entry["httpRequest"], f"{where}.httpRequest")
        _int64_fields(entry.get("sourceLocation"), ("line",), f"{where}.sourceLocation")
        _payload(entry, where)
    elif "jsonPayload" in entry and not isinstance(entry["jsonPayload"], dict):
        raise _bad_value(f"{where}.jsonPayload", entry["jsonPayload"], "a JSON object")

    try:
        text, size = encode(entry)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise invalid(f"Invalid value at '{where}': not representable as JSON ({exc}).") from exc
    if size > MAX_ENTRY_BYTES:
        raise invalid(
            f"Log entry with size {size} bytes exceeds maximum size of {MAX_ENTRY_BYTES} bytes"
        )
    return StoredEntry(
        entry=entry,
        json=text,
        insert_id=insert_id,
        log_name=log_name,
        timestamp_ns=ts_ns,
        receive_ns=ctx.receive_ns,
        severity=severity,
        resource_type=resource_type,
        columns=index_values(entry),
    )


def _renamed(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The entry with proto (snake_case) names made JSON names, nulls and output-only fields
    dropped; an unknown name is refused as Google's JSON parser refuses it."""
    entry: dict[str, Any] = {}
    for key, value in raw.items():
        name = _ENTRY_NAMES.get(key)
        if name is None:
            raise _unknown(key, where)
        if name not in _OUTPUT_ONLY and value is not None:
            entry[name] = value
    return entry


def canonical_log_name(value: Any, project_ids: Mapping[str, str], where: str = "") -> str:
    """``projects/P/logs/ID`` with ID URL-encoded and a project number made its id."""
    if not isinstance(value, str) or not value:
        raise invalid(
            "Log name is missing"
            + (f" for {where}" if where else "")
            + ": set logName on the entry or on the request."
        )
    canonical = _canonical_log_name(value)
    if canonical is None:
        raise invalid(
            f'Invalid log name "{value}": expected projects/[PROJECT_ID]/logs/[LOG_ID] (or '
            "organizations/, folders/, billingAccounts/) where [LOG_ID] is URL-encoded, shorter "
            "than 512 characters, and made of letters, digits, '/', '_', '-' and '.'."
        )
    kind, parent, encoded = canonical
    if kind == "projects":
        parent = project_ids.get(parent, parent)
    return f"{kind}/{parent}/logs/{encoded}"


@lru_cache(maxsize=1024)
def _canonical_log_name(value: str) -> tuple[str, str, str] | None:
    m = _LOG_NAME.fullmatch(value)
    if m is None:
        return None
    kind, parent, encoded = m.groups()
    log_id = urllib.parse.unquote(encoded)
    if (
        _PARENT_ID.fullmatch(parent) is None
        or len(log_id) > MAX_LOG_ID
        or _LOG_ID_CHARS.fullmatch(log_id) is None
    ):
        return None
    return kind, parent, log_id.replace("/", "%2F")


def parent_of(log_name: str) -> str:
    """``projects/p/logs/x`` → ``projects/p``."""
    return log_name.partition("/logs/")[0]


# -- parts of an entry ---------------------------------------------------------------------
def _message(value: Any, names: dict[str, str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad_value(where, value, "an object")
    out: dict[str, Any] = {}
    for key, v in value.items():
        name = names.get(key)
        if name is None:
            raise _unknown(key, where)
        if v is not None:
            out[name] = v
    return out


def _resource(entry: dict[str, Any], where: str) -> str:
    resource = entry.get("resource")
    if resource is None:
        raise invalid(
            f"Log entry {where} has no resource: set resource on the entry or on the request."
        )
    rtype = resource.get("type")
    if not isinstance(rtype, str) or not rtype:
        raise invalid(f"Invalid value at '{where}.resource.type': a resource type is required.")
    _string_map(resource.get("labels"), f"{where}.resource.labels")
    return rtype


def _string_map(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _bad_value(where, value, "an object of strings")
    for k, v in value.items():
        if not isinstance(v, str):
            raise _bad_value(f"{where}.{k}", v, "a string")


def _timestamp(value: Any, where: str) -> int:
    ns = parse_timestamp(value) if isinstance(value, str) else None
    if ns is None or not MIN_TIMESTAMP_NS < ns < MAX_TIMESTAMP_NS:
        raise _bad_value(
            where, value, "an RFC 3339 timestamp such as 2024-05-01T10:00:00Z (years 1678-2261)"
        )
    return ns


def _severity(entry: dict[str, Any], where: str) -> int:
    raw = entry.pop("severity", None)
    if raw is None:
        return 0
    if isinstance(raw, str) and raw.upper() in SEVERITIES:
        value = SEVERITIES[raw.upper()]
    elif isinstance(raw, int) and not isinstance(raw, bool) and raw in SEVERITY_NAMES:
        value = raw
    else:
        raise _bad_value(
            f"{where}.severity", raw, "one of " + ", ".join(SEVERITIES) + " (type LogSeverity)"
        )
    if value:
        entry["severity"] = SEVERITY_NAMES[value]
    return value


_SCALAR_TYPES = {
    "trace": str,
    "spanId": str,
    "traceSampled": bool,
    "textPayload": str,
}


def _scalars(entry: dict[str, Any], where: str) -> None:
    for name, typ in _SCALAR_TYPES.items():
        if name in entry and not isinstance(entry[name], typ):
            raise _bad_value(f"{where}.{name}", entry[name], typ.__name__)
    _string_map(entry.get("labels"), f"{where}.labels")
    for name in ("operation", "split", "sourceLocation"):
        if name in entry:
            _typed_fields(entry[name], LOG_ENTRY.fields[name], f"{where}.{name}")


def _typed_fields(value: dict[str, Any], spec: Spec, where: str) -> None:
    for key, v in value.items():
        kind = spec.fields[key].kind
        ok = (
            (kind is Kind.STRING and isinstance(v, str))
            or (kind is Kind.BOOL and isinstance(v, bool))
            or (kind is Kind.INT and _is_int(v))
            or (kind is Kind.DURATION and isinstance(v, str) and to_duration(v) is not None)
        )
        if not ok:
            raise _bad_value(f"{where}.{key}", v, kind.value)


def _http_request(value: dict[str, Any], where: str) -> None:
    _typed_fields(value, HTTP_REQUEST, where)
    _int64_fields(value, ("requestSize", "responseSize", "cacheFillBytes"), where)
    if "status" in value:
        value["status"] = int(value["status"])


def _int64_fields(value: Any, names: tuple[str, ...], where: str) -> None:
    """int64 fields are written as JSON strings, as proto3 JSON does."""
    if not isinstance(value, dict):
        return
    for name in names:
        if name in value:
            if not _is_int(value[name]):
                raise _bad_value(f"{where}.{name}", value[name], "an int64")
            value[name] = str(int(value[name]))


def _is_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, str) and re.fullmatch(r"-?\d+", v) is not None


def _payload(entry: dict[str, Any], where: str) -> None:
    present = [p for p in _PAYLOADS if p in entry]
    if len(present) > 1:
        raise invalid(
            f"Invalid JSON payload received. {where} sets more than one payload "
            f"({', '.join(present)}): a LogEntry has exactly one of textPayload, jsonPayload "
            "and protoPayload."
        )
    if "jsonPayload" in entry and not isinstance(entry["jsonPayload"], dict):
        raise _bad_value(f"{where}.jsonPayload", entry["jsonPayload"], "a JSON object")
    proto = entry.get("protoPayload")
    if proto is not None and not (isinstance(proto, dict) and isinstance(proto.get("@type"), str)):
        raise _bad_value(f"{where}.protoPayload", proto, 'an object with an "@type"')


def _unknown(key: str, where: str) -> InvalidArgument:
    return invalid(
        f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
    )


def _bad_value(where: str, value: Any, wanted: str) -> InvalidArgument:
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        shown = repr(value)
    if len(shown) > 200:
        shown = shown[:200] + "..."
    return invalid(f"Invalid value at '{where}' ({shown}): expected {wanted}.")


def is_parent(resource: str) -> bool:
    """``projects/P`` and friends, the parents a log belongs to."""
    kind, _, ident = resource.partition("/")
    return kind in _PARENT_KINDS and _PARENT_ID.fullmatch(ident) is not None
