"""The shapes of the objects users write, to decode them as kube-apiserver does.

A wrongly typed value is always a 400 (``cannot unmarshal string into Go struct field ...``);
an unknown field is an error with ``fieldValidation=Strict`` (what kubectl sends), a warning
with ``Warn`` and ignored with ``Ignore``. Parts nobody needs checked are ``ANY``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Schema:
    go_type: str
    kind: str  # string | integer | boolean | number | object | map | list | any
    fields: Mapping[str, Schema] = field(default_factory=dict)
    item: Schema | None = None


ANY = Schema("interface {}", "any")
STRING = Schema("string", "string")
INT32 = Schema("int32", "integer")
INT64 = Schema("int64", "integer")
BOOL = Schema("bool", "boolean")
STRING_MAP = Schema("map[string]string", "map", item=STRING)
STRINGS = Schema("[]string", "list", item=STRING)


def obj(go_type: str, **fields: Schema) -> Schema:
    return Schema(go_type, "object", fields)


def list_of(item: Schema) -> Schema:
    return Schema(f"[]{item.go_type}", "list", item=item)


OBJECT_META = obj(
    "v1.ObjectMeta",
    name=STRING,
    generateName=STRING,
    namespace=STRING,
    selfLink=STRING,
    uid=STRING,
    resourceVersion=STRING,
    generation=INT64,
    creationTimestamp=ANY,
    deletionTimestamp=ANY,
    deletionGracePeriodSeconds=INT64,
    labels=STRING_MAP,
    annotations=STRING_MAP,
    ownerReferences=list_of(ANY),
    finalizers=STRINGS,
    managedFields=list_of(ANY),
)

CONTAINER_PORT = obj(
    "v1.ContainerPort",
    name=STRING,
    hostPort=INT32,
    containerPort=INT32,
    protocol=STRING,
    hostIP=STRING,
)

ENV_VAR = obj("v1.EnvVar", name=STRING, value=STRING, valueFrom=ANY)

CONTAINER = obj(
    "v1.Container",
    name=STRING,
    image=STRING,
    command=STRINGS,
    args=STRINGS,
    workingDir=STRING,
    ports=list_of(CONTAINER_PORT),
    envFrom=list_of(ANY),
    env=list_of(ENV_VAR),
    resources=ANY,
    resizePolicy=list_of(ANY),
    restartPolicy=STRING,
    volumeMounts=list_of(ANY),
    volumeDevices=list_of(ANY),
    livenessProbe=ANY,
    readinessProbe=ANY,
    startupProbe=ANY,
    lifecycle=ANY,
    terminationMessagePath=STRING,
    terminationMessagePolicy=STRING,
    imagePullPolicy=STRING,
    securityContext=ANY,
    stdin=BOOL,
    stdinOnce=BOOL,
    tty=BOOL,
)

POD_SPEC = obj(
    "v1.PodSpec",
    volumes=list_of(ANY),
    initContainers=list_of(CONTAINER),
    containers=list_of(CONTAINER),
    ephemeralContainers=list_of(ANY),
    restartPolicy=STRING,
    terminationGracePeriodSeconds=INT64,
    activeDeadlineSeconds=INT64,
    dnsPolicy=STRING,
    nodeSelector=STRING_MAP,
    serviceAccountName=STRING,
    serviceAccount=STRING,
    automountServiceAccountToken=BOOL,
    nodeName=STRING,
    hostNetwork=BOOL,
    hostPID=BOOL,
    hostIPC=BOOL,
    shareProcessNamespace=BOOL,
    securityContext=ANY,
    imagePullSecrets=list_of(ANY),
    hostname=STRING,
    subdomain=STRING,
    affinity=ANY,
    schedulerName=STRING,
    tolerations=list_of(ANY),
    hostAliases=list_of(ANY),
    priorityClassName=STRING,
    priority=INT32,
    dnsConfig=ANY,
    readinessGates=list_of(ANY),
    runtimeClassName=STRING,
    enableServiceLinks=BOOL,
    preemptionPolicy=STRING,
    overhead=ANY,
    topologySpreadConstraints=list_of(ANY),
    setHostnameAsFQDN=BOOL,
    os=ANY,
    hostUsers=BOOL,
    schedulingGates=list_of(ANY),
    resourceClaims=list_of(ANY),
    resources=ANY,
)

_TYPE_META = {"apiVersion": STRING, "kind": STRING, "metadata": OBJECT_META}

SCHEMAS: dict[str, Schema] = {
    "Pod": obj("v1.Pod", **_TYPE_META, spec=POD_SPEC, status=ANY),
    "ConfigMap": obj(
        "v1.ConfigMap", **_TYPE_META, data=STRING_MAP, binaryData=STRING_MAP, immutable=BOOL
    ),
    "Namespace": obj("v1.Namespace", **_TYPE_META, spec=ANY, status=ANY),
}

_JSON_TYPES = {str: "string", bool: "bool", int: "number", float: "number", list: "array"}


def _json_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "object"
    return _JSON_TYPES.get(type(value), "value")


def _fits(value: Any, schema: Schema) -> bool:
    if value is None or schema.kind == "any":
        return True
    if schema.kind == "string":
        return isinstance(value, str)
    if schema.kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if schema.kind == "boolean":
        return isinstance(value, bool)
    if schema.kind in ("object", "map"):
        return isinstance(value, Mapping)
    return isinstance(value, list)


@dataclass
class DecodeReport:
    type_error: str = ""
    unknown: list[str] = field(default_factory=list)


def check_shape(obj_: Mapping[str, Any], kind: str) -> DecodeReport:
    """Type errors (first one, as Go's decoder stops there) and every unknown field."""
    report = DecodeReport()
    schema = SCHEMAS.get(kind)
    if schema is not None:
        _walk(obj_, schema, "", "", schema.go_type, report)
    return report


def _walk(
    value: Any, schema: Schema, path: str, go_path: str, owner: str, rep: DecodeReport
) -> None:
    if value is None or schema.kind == "any":
        return
    if not _fits(value, schema):
        if not rep.type_error:
            where = f"Go struct field {owner.split('.')[-1]}.{go_path}" if go_path else "Go value"
            rep.type_error = (
                f"json: cannot unmarshal {_json_type(value)} into {where} of type {schema.go_type}"
            )
        return
    if schema.kind == "object":
        for key, sub in value.items():
            child = schema.fields.get(key)
            at = f"{path}.{key}" if path else key
            if child is None:
                rep.unknown.append(at)
                continue
            _walk(sub, child, at, f"{go_path}.{key}" if go_path else key, schema.go_type, rep)
    elif schema.kind == "map" and schema.item is not None:
        for key, sub in value.items():
            _walk(sub, schema.item, f"{path}.{key}", go_path, owner, rep)
    elif schema.kind == "list" and schema.item is not None:
        for i, sub in enumerate(value):
            _walk(sub, schema.item, f"{path}[{i}]", go_path, owner, rep)


def prune(value: Any, kind: str) -> Any:
    """``value`` without the fields its schema does not know (a decoder drops them)."""
    schema = SCHEMAS.get(kind)
    return value if schema is None else _prune(value, schema)


def _prune(value: Any, schema: Schema) -> Any:
    if value is None or schema.kind == "any" or not _fits(value, schema):
        return value
    if schema.kind == "object":
        return {k: _prune(v, schema.fields[k]) for k, v in value.items() if k in schema.fields}
    if schema.kind == "map" and schema.item is not None:
        return {k: _prune(v, schema.item) for k, v in value.items()}
    if schema.kind == "list" and schema.item is not None:
        return [_prune(v, schema.item) for v in value]
    return value
