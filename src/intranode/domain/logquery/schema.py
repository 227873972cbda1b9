"""The LogEntry schema as the query language sees it, and field-path resolution.

Names of LogEntry fields and of their sub-messages are proto field names, so they match in any
case and in either spelling (``logName``, ``log_name``, ``LOGNAME``); keys inside maps and
structs (``labels.*``, ``resource.labels.*``, ``jsonPayload.*``) match exactly; keys inside
``protoPayload`` are proto field names again, so they match in any case. A name that is not in
the schema is an error before the query runs; a key that an entry lacks is simply missing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from intranode.domain.logquery.errors import FilterSemanticError


class Kind(enum.Enum):
    STRING = "string"
    INT = "int"  # int32 or int64 (JSON writes int64 as a string)
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    DURATION = "duration"
    SEVERITY = "severity"
    MESSAGE = "message"  # a sub-message of the schema
    MAP = "map"  # map<string, string>: one more component, matched exactly
    STRUCT = "struct"  # jsonPayload and friends: any keys, matched exactly
    ANY = "any"  # protoPayload: any keys, matched in any case
    DYNAMIC = "dynamic"  # a path below MAP/STRUCT/ANY: its type is the JSON value's


@dataclass(frozen=True)
class Spec:
    kind: Kind
    fields: Mapping[str, Spec] = field(default_factory=dict)


_S = Spec(Kind.STRING)
_I = Spec(Kind.INT)
_B = Spec(Kind.BOOL)
_T = Spec(Kind.TIMESTAMP)
_MAP = Spec(Kind.MAP)
_STRUCT = Spec(Kind.STRUCT)

HTTP_REQUEST = Spec(
    Kind.MESSAGE,
    {
        "requestMethod": _S,
        "requestUrl": _S,
        "requestSize": _I,
        "status": _I,
        "responseSize": _I,
        "userAgent": _S,
        "remoteIp": _S,
        "serverIp": _S,
        "referer": _S,
        "latency": Spec(Kind.DURATION),
        "cacheLookup": _B,
        "cacheHit": _B,
        "cacheValidatedWithOriginServer": _B,
        "cacheFillBytes": _I,
        "protocol": _S,
    },
)

LOG_ENTRY = Spec(
    Kind.MESSAGE,
    {
        "logName": _S,
        "resource": Spec(Kind.MESSAGE, {"type": _S, "labels": _MAP}),
        "timestamp": _T,
        "receiveTimestamp": _T,
        "severity": Spec(Kind.SEVERITY),
        "insertId": _S,
        "httpRequest": HTTP_REQUEST,
        "labels": _MAP,
        "operation": Spec(Kind.MESSAGE, {"id": _S, "producer": _S, "first": _B, "last": _B}),
        "trace": _S,
        "spanId": _S,
        "traceSampled": _B,
        "sourceLocation": Spec(Kind.MESSAGE, {"file": _S, "line": _I, "function": _S}),
        "split": Spec(Kind.MESSAGE, {"uid": _S, "index": _I, "totalSplits": _I}),
        "textPayload": _S,
        "jsonPayload": _STRUCT,
        "protoPayload": Spec(Kind.ANY),
        "metadata": _STRUCT,
        "errorGroups": _STRUCT,
        "apphub": _STRUCT,
        "apphubSource": _STRUCT,
        "apphubDestination": _STRUCT,
    },
)

SCALAR_KINDS = frozenset(
    {Kind.STRING, Kind.INT, Kind.BOOL, Kind.TIMESTAMP, Kind.DURATION, Kind.SEVERITY}
)


def proto_key(name: str) -> str:
    """How proto field names match: any case, with or without underscores."""
    return name.replace("_", "").lower()


@dataclass(frozen=True)
class FieldRef:
    """A resolved field path.

    ``schema`` holds the canonical names down to the last schema field; ``keys`` the map or
    payload keys below it, as written. ``kind`` is the schema field's kind when ``keys`` is
    empty, else ``DYNAMIC``; ``fold_keys`` says keys match in any case (``protoPayload``).
    """

    schema: tuple[str, ...]
    keys: tuple[str, ...] = ()
    kind: Kind = Kind.STRING
    fold_keys: bool = False

    @property
    def dotted(self) -> str:
        return ".".join(_show(p) for p in (*self.schema, *self.keys))


def _show(part: str) -> str:
    plain = part and all(c.isalnum() or c in "_-@/" for c in part)
    return part if plain else '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'


def resolve(parts: Sequence[str]) -> FieldRef:
    """Resolve ``a.b.c`` against the LogEntry schema, or raise ``FilterSemanticError``."""
    spec = LOG_ENTRY
    schema: list[str] = []
    for i, part in enumerate(parts):
        if spec.kind in (Kind.MAP, Kind.STRUCT, Kind.ANY):
            return FieldRef(
                tuple(schema), tuple(parts[i:]), Kind.DYNAMIC, fold_keys=spec.kind is Kind.ANY
            )
        if spec.kind is not Kind.MESSAGE:
            raise FilterSemanticError(
                f"field '{'.'.join(schema)}' has no sub-field '{part}' (it is a {spec.kind.value})"
            )
        name = _lookup(spec, part)
        if name is None:
            where = f"'{'.'.join(schema)}'" if schema else "LogEntry"
            raise FilterSemanticError(f"unknown field '{part}' in {where}")
        schema.append(name)
        spec = spec.fields[name]
    return FieldRef(tuple(schema), (), spec.kind)


def spec_of(schema: Sequence[str]) -> Spec:
    spec = LOG_ENTRY
    for name in schema:
        spec = spec.fields[name]
    return spec


def _lookup(spec: Spec, part: str) -> str | None:
    wanted = proto_key(part)
    for name in spec.fields:
        if proto_key(name) == wanted:
            return name
    return None
