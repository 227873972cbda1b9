"""Kubernetes' protobuf request bodies, for the kinds kubectl's typed commands send that way
(``kubectl create namespace``, ``kubectl create configmap``): decoded to the JSON form.

The envelope is ``k8s\\x00`` then a ``runtime.Unknown`` {1: TypeMeta {1: apiVersion, 2: kind},
2: raw object bytes}. Field numbers are those of k8s.io/api's generated.proto.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from intranode.errors import InvalidArgument

MAGIC = b"k8s\x00"


@dataclass(frozen=True)
class F:
    """How one field decodes: its JSON name and type (``message`` types name a schema)."""

    name: str
    type: str  # string | bytes | int | bool | time | map | bytesmap | strings | message
    message: str = ""
    repeated: bool = False


SCHEMAS: dict[str, dict[int, F]] = {
    "ObjectMeta": {
        1: F("name", "string"),
        2: F("generateName", "string"),
        3: F("namespace", "string"),
        5: F("uid", "string"),
        6: F("resourceVersion", "string"),
        7: F("generation", "int"),
        8: F("creationTimestamp", "time"),
        11: F("labels", "map"),
        12: F("annotations", "map"),
        13: F("ownerReferences", "message", "OwnerReference", repeated=True),
        14: F("finalizers", "strings"),
    },
    "OwnerReference": {
        1: F("kind", "string"),
        3: F("name", "string"),
        4: F("uid", "string"),
        5: F("apiVersion", "string"),
        6: F("controller", "bool"),
        7: F("blockOwnerDeletion", "bool"),
    },
    "Namespace": {
        1: F("metadata", "message", "ObjectMeta"),
        2: F("spec", "message", "NamespaceSpec"),
        3: F("status", "message", "NamespaceStatus"),
    },
    "NamespaceSpec": {1: F("finalizers", "strings")},
    "NamespaceStatus": {1: F("phase", "string")},
    "ConfigMap": {
        1: F("metadata", "message", "ObjectMeta"),
        2: F("data", "map"),
        3: F("binaryData", "bytesmap"),
        4: F("immutable", "bool"),
    },
}


def _unsupported(detail: str) -> InvalidArgument:
    return InvalidArgument(
        "the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml ({detail})",
        reason="UnsupportedMediaType",
    )


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise InvalidArgument("truncated protobuf varint", reason="BadRequest")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value): ints for varints, bytes for length-delimited."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise InvalidArgument("truncated protobuf field", reason="BadRequest")
            yield number, wire, buf[pos : pos + size]
            pos += size
        elif wire == 1:
            yield number, wire, buf[pos : pos + 8]
            pos += 8
        elif wire == 5:
            yield number, wire, buf[pos : pos + 4]
            pos += 4
        else:
            raise InvalidArgument(f"unsupported protobuf wire type {wire}", reason="BadRequest")


def _entry(buf: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, _, v in _fields(buf):
        if number == 1:
            key = bytes(v).decode()
        elif number == 2:
            value = bytes(v)
    return key, value


def _time(buf: bytes) -> str | None:
    seconds = 0
    for number, _, v in _fields(buf):
        if number == 1:
            seconds = int(v)
    if not seconds:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_message(buf: bytes, schema: str) -> dict[str, Any]:
    fields = SCHEMAS[schema]
    out: dict[str, Any] = {}
    for number, _, value in _fields(buf):
        f = fields.get(number)
        if f is None:
            continue
        if f.type in ("string", "int", "bool") and not value:
            continue  # Go writes zero values that its JSON form omits
        if f.type == "string":
            out[f.name] = bytes(value).decode()
        elif f.type in ("int", "bool"):
            out[f.name] = bool(value) if f.type == "bool" else int(value)
        elif f.type == "time":
            out[f.name] = _time(bytes(value))
        elif f.type == "strings":
            out.setdefault(f.name, []).append(bytes(value).decode())
        elif f.type in ("map", "bytesmap"):
            key, raw = _entry(bytes(value))
            shown = raw.decode() if f.type == "map" else base64.b64encode(raw).decode()
            out.setdefault(f.name, {})[key] = shown
        elif f.repeated:
            out.setdefault(f.name, []).append(decode_message(bytes(value), f.message))
        else:
            out[f.name] = decode_message(bytes(value), f.message)
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A ``application/vnd.kubernetes.protobuf`` body as the JSON object it stands for."""
    if not body.startswith(MAGIC):
        raise _unsupported("no Kubernetes protobuf envelope")
    api_version = kind = ""
    raw = b""
    for number, _, value in _fields(body[len(MAGIC) :]):
        if number == 1:
            for n, _, v in _fields(bytes(value)):
                if n == 1:
                    api_version = bytes(v).decode()
                elif n == 2:
                    kind = bytes(v).decode()
        elif number == 2:
            raw = bytes(value)
    if kind not in SCHEMAS or kind in ("ObjectMeta", "OwnerReference"):
        raise _unsupported(f"protobuf {kind or 'object'} bodies are not served; send JSON")
    return {"apiVersion": api_version, "kind": kind, **decode_message(raw, kind)}
