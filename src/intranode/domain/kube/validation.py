"""What kube-apiserver refuses, with its wording: field errors (422 Invalid, ``details.causes``)
and objects that cannot be decoded (400 BadRequest, strict unknown-field errors).

A ``FieldError`` renders as apimachinery's ``field.Error``: ``spec.containers[0].image: Required
value``; ``invalid(kind, name, errors)`` joins them the way ``NewInvalid`` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intranode.errors import InvalidArgument

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + r")*"
_LABEL_RE = re.compile(f"^{_DNS1123_LABEL}$")
_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN}$")
_CONFIG_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
_QNAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_IANA_SVC_RE = re.compile(r"^[-a-z0-9]+$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    f"for validation is '{_DNS1123_SUBDOMAIN}')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    f"used for validation is '{_DNS1123_LABEL}')"
)


_REASONS = {
    "Required": ("FieldValueRequired", "Required value"),
    "Invalid": ("FieldValueInvalid", "Invalid value"),
    "Duplicate": ("FieldValueDuplicate", "Duplicate value"),
    "NotSupported": ("FieldValueNotSupported", "Unsupported value"),
    "Forbidden": ("FieldValueForbidden", "Forbidden"),
    "TooLong": ("FieldValueTooLong", "Too long"),
}


@dataclass(frozen=True)
class FieldError:
    """One cause of an Invalid error; ``kind`` is apimachinery's ErrorType."""

    kind: str  # Required | Invalid | Duplicate | NotSupported | Forbidden | TooLong
    field: str
    value: Any = None
    detail: str = ""

    def body(self) -> str:
        label = _REASONS[self.kind][1]
        if self.kind in ("Required", "Forbidden", "TooLong"):
            return f"{label}: {self.detail}" if self.detail else label
        text = f"{label}: {_go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def cause(self) -> dict[str, str]:
        return {"reason": _REASONS[self.kind][0], "message": self.body(), "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def _go_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"object"' if isinstance(value, dict) else json.dumps(value)


def invalid(kind: str, name: str, errors: Sequence[FieldError]) -> InvalidArgument:
    """422 Invalid: ``Pod "x" is invalid: <one>`` or ``... is invalid: [<a>, <b>]``."""
    joined = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(map(str, errors)) + "]"
    return InvalidArgument(
        f'{kind} "{name}" is invalid: {joined}',
        reason="Invalid",
        details=[{"name": name, "kind": kind, "causes": [e.cause() for e in errors]}],
    )


def bad_request(message: str) -> InvalidArgument:
    return InvalidArgument(message, reason="BadRequest")


# -- names and labels ---------------------------------------------------------------------------
def subdomain_errors(value: str, path: str) -> list[FieldError]:
    errs = []
    if len(value) > 253:
        errs.append(FieldError("Invalid", path, value, "must be no more than 253 characters"))
    if not _SUBDOMAIN_RE.match(value):
        errs.append(FieldError("Invalid", path, value, SUBDOMAIN_MSG))
    return errs


def label_name_errors(value: str, path: str) -> list[FieldError]:
    errs = []
    if len(value) > 63:
        errs.append(FieldError("Invalid", path, value, "must be no more than 63 characters"))
    if not _LABEL_RE.match(value):
        errs.append(FieldError("Invalid", path, value, LABEL_MSG))
    return errs


def _label_map_errors(labels: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not isinstance(labels, Mapping):
        return errs
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if (
            not _QNAME_RE.match(name)
            or len(name) > 63
            or (prefix and not _SUBDOMAIN_RE.match(prefix))
        ):
            errs.append(
                FieldError(
                    "Invalid",
                    path,
                    key,
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and "
                    "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                    "'my.name',  or '123-abc', regex used for validation is "
                    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                )
            )
        if path.endswith("labels") and (
            len(str(value)) > 63 or not _LABEL_VALUE_RE.match(str(value))
        ):
            errs.append(
                FieldError(
                    "Invalid",
                    path,
                    value,
                    "a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
                    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                )
            )
    return errs


def meta_errors(obj: Mapping[str, Any], *, label_name: bool = False) -> list[FieldError]:
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    errs: list[FieldError] = []
    if not name and not meta.get("generateName"):
        errs.append(
            FieldError("Required", "metadata.name", detail="name or generateName is required")
        )
    elif name:
        errs += (label_name_errors if label_name else subdomain_errors)(name, "metadata.name")
    errs += _label_map_errors(meta.get("labels"), "metadata.labels")
    errs += _label_map_errors(meta.get("annotations"), "metadata.annotations")
    return errs


# -- pods ---------------------------------------------------------------------------------------
_RESTART = ("Always", "OnFailure", "Never")
_DNS_POLICY = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_PULL = ("Always", "IfNotPresent", "Never")
_PROTOCOLS = ("SCTP", "TCP", "UDP")


def _supported(path: str, value: Any, allowed: Sequence[str]) -> FieldError:
    shown = ", ".join(json.dumps(a) for a in allowed)
    return FieldError("NotSupported", path, value, f"supported values: {shown}")


def _port_name_errors(name: str, path: str) -> list[FieldError]:
    errs = []
    if len(name) > 15:
        errs.append(FieldError("Invalid", path, name, "must be no more than 15 characters"))
    if not _IANA_SVC_RE.match(name):
        errs.append(
            FieldError(
                "Invalid",
                path,
                name,
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            )
        )
    elif "--" in name:
        errs.append(FieldError("Invalid", path, name, "must not contain consecutive hyphens"))
    elif not re.search("[a-z]", name):
        errs.append(FieldError("Invalid", path, name, "must contain at least one letter (a-z)"))
    elif name.startswith("-") or name.endswith("-"):
        errs.append(FieldError("Invalid", path, name, "must not begin or end with a hyphen"))
    return errs


def _port_errors(value: Any, path: str, *, required: bool) -> list[FieldError]:
    if value in (None, 0):
        return [FieldError("Required", path)] if required else []
    if not isinstance(value, int) or not 1 <= value <= 65535:
        return [FieldError("Invalid", path, value, "must be between 1 and 65535, inclusive")]
    return []


def container_errors(containers: Any, path: str, seen: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, c in enumerate(containers or []):
        at = f"{path}[{i}]"
        if not isinstance(c, Mapping):
            continue
        name = str(c.get("name") or "")
        if not name:
            errs.append(FieldError("Required", f"{at}.name"))
        else:
            errs += label_name_errors(name, f"{at}.name")
            if name in seen:
                errs.append(FieldError("Duplicate", f"{at}.name", name))
            seen.add(name)
        if not c.get("image"):
            errs.append(FieldError("Required", f"{at}.image"))
        pull = c.get("imagePullPolicy")
        if pull and pull not in _PULL:
            errs.append(_supported(f"{at}.imagePullPolicy", pull, _PULL))
        port_names: set[str] = set()
        for j, port in enumerate(c.get("ports") or []):
            if not isinstance(port, Mapping):
                continue
            pat = f"{at}.ports[{j}]"
            pname = port.get("name")
            if pname:
                errs += _port_name_errors(str(pname), f"{pat}.name")
                if pname in port_names:
                    errs.append(FieldError("Duplicate", f"{pat}.name", pname))
                port_names.add(str(pname))
            errs += _port_errors(port.get("containerPort"), f"{pat}.containerPort", required=True)
            errs += _port_errors(port.get("hostPort"), f"{pat}.hostPort", required=False)
            proto = port.get("protocol")
            if proto and proto not in _PROTOCOLS:
                errs.append(_supported(f"{pat}.protocol", proto, _PROTOCOLS))
    return errs


def pod_errors(pod: Mapping[str, Any]) -> list[FieldError]:
    """Every problem of a pod about to be created, in kube-apiserver's order."""
    errs = meta_errors(pod)
    spec = pod.get("spec") or {}
    seen: set[str] = set()
    errs += container_errors(spec.get("initContainers"), "spec.initContainers", seen)
    if not spec.get("containers"):
        errs.append(FieldError("Required", "spec.containers"))
    else:
        errs += container_errors(spec.get("containers"), "spec.containers", seen)
    restart = spec.get("restartPolicy")
    if restart and restart not in _RESTART:
        errs.append(_supported("spec.restartPolicy", restart, _RESTART))
    dns = spec.get("dnsPolicy")
    if dns and dns not in _DNS_POLICY:
        errs.append(_supported("spec.dnsPolicy", dns, _DNS_POLICY))
    errs += _label_map_errors(spec.get("nodeSelector"), "spec.nodeSelector")
    node = spec.get("nodeName")
    if node:
        errs += subdomain_errors(str(node), "spec.nodeName")
    return errs


POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)"
)


def _mutable_view(spec: Mapping[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in spec.items() if k not in ("activeDeadlineSeconds", "tolerations")}
    for group in ("containers", "initContainers"):
        if isinstance(view.get(group), list):
            view[group] = [
                {k: v for k, v in c.items() if k != "image"} if isinstance(c, Mapping) else c
                for c in view[group]
            ]
    return view


def pod_update_errors(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldError]:
    """An update of a pod may change metadata, images and little else."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    errs = meta_errors(new)
    seen: set[str] = set()
    errs += container_errors(new_spec.get("containers"), "spec.containers", seen)
    if _mutable_view(old_spec) != _mutable_view(new_spec):
        changed = sorted(
            k
            for k in set(old_spec) | set(new_spec)
            if _mutable_view({k: old_spec.get(k)}) != _mutable_view({k: new_spec.get(k)})
        )
        detail = POD_UPDATE_FORBIDDEN + "\n  changed: " + ", ".join(f"spec.{k}" for k in changed)
        errs.append(FieldError("Forbidden", "spec", detail=detail))
    old_tol = old_spec.get("tolerations") or []
    if any(t not in (new_spec.get("tolerations") or []) for t in old_tol):
        errs.append(
            FieldError(
                "Forbidden",
                "spec.tolerations",
                detail="existing toleration can not be modified except its tolerationSeconds",
            )
        )
    return errs


# -- other kinds ----------------------------------------------------------------------------------
def namespace_errors(ns: Mapping[str, Any]) -> list[FieldError]:
    return meta_errors(ns, label_name=True)


def configmap_errors(cm: Mapping[str, Any]) -> list[FieldError]:
    errs = meta_errors(cm)
    seen: set[str] = set()
    for field in ("data", "binaryData"):
        for key in cm.get(field) or {}:
            if not _CONFIG_KEY_RE.match(str(key)) or len(str(key)) > 253:
                errs.append(
                    FieldError(
                        "Invalid",
                        f"{field}[{key}]",
                        key,
                        "a valid config key must consist of alphanumeric characters, '-', '_' "
                        "or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                        "validation is '[-._a-zA-Z0-9]+')",
                    )
                )
            if key in seen:
                errs.append(FieldError("Duplicate", f"data[{key}]", key))
            seen.add(str(key))
    return errs


def event_errors(ev: Mapping[str, Any]) -> list[FieldError]:
    errs = meta_errors(ev)
    if not (ev.get("involvedObject") or {}).get("name") and not ev.get("regarding"):
        errs.append(FieldError("Required", "involvedObject.name"))
    return errs
