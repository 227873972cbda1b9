"""The three patch formats of ``PATCH``: strategic merge (kubectl's default and client-side
apply), JSON merge (RFC 7386) and JSON patch (RFC 6902).

Strategic merge knows, per field name, which lists merge by a key (``containers`` by ``name``,
``ports`` by ``containerPort`` ...) and honours ``$patch``, ``$setElementOrder/...``,
``$deleteFromPrimitiveList/...`` and ``$retainKeys`` as kubectl sends them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from intranode.domain.kube.validation import bad_request
from intranode.errors import InvalidArgument

# Lists that merge element by element, and the key that identifies an element (the Pod, Node,
# Namespace, ConfigMap and DaemonSet types carry these ``patchMergeKey`` tags).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "ports": "containerPort",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "conditions": "type",
    "ownerReferences": "uid",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "podIPs": "ip",
    "hostIPs": "ip",
    "addresses": "type",
}
# Lists of scalars that merge as sets.
SET_LISTS = frozenset({"finalizers"})

Obj = dict[str, Any]


def _strip(value: Any) -> Any:
    """A patch value with its directives removed (what to store when nothing is there yet)."""
    if isinstance(value, Mapping):
        if value.get("$patch") == "delete":
            return None
        return {
            k: _strip(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None and _strip(v) is not None
        }
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, Mapping) and "$patch" in v)]
    return value


def strategic_merge(original: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to ``original`` (neither is modified)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive} in map: {dict(patch)}")
    result: Obj = copy.deepcopy(dict(original)) if isinstance(original, Mapping) else {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        for key in list(result):
            if key not in retain:
                del result[key]
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value if isinstance(value, list) else []
        elif key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [v for v in result[field] if v not in value]
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(field, result[field], order)
    return result


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    base = copy.deepcopy(original) if isinstance(original, list) else []
    if field in SET_LISTS:
        out = list(base)
        for v in patch:
            if v not in out:
                out.append(v)
        return out
    key = MERGE_KEYS.get(field)
    if key is None or not all(isinstance(v, Mapping) for v in patch):
        return [_strip(v) for v in patch]
    if any(v.get("$patch") == "replace" for v in patch):
        return [_strip(v) for v in patch if "$patch" not in v]
    out = [v for v in base]
    for item in patch:
        ident = item.get(key)
        idx = next(
            (i for i, v in enumerate(out) if isinstance(v, Mapping) and v.get(key) == ident), None
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_strip(item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def _reorder(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    key = MERGE_KEYS.get(field)

    def ident(v: Any) -> Any:
        return v.get(key) if key and isinstance(v, Mapping) else v

    wanted = [o.get(key) if key and isinstance(o, Mapping) else o for o in order]
    rank = {json.dumps(w, sort_keys=True): i for i, w in enumerate(wanted)}
    return sorted(items, key=lambda v: rank.get(json.dumps(ident(v), sort_keys=True), len(rank)))


def merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result: Obj = copy.deepcopy(dict(original)) if isinstance(original, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- RFC 6902 -----------------------------------------------------------------------------------
def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise bad_request(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise bad_request(f"jsonpatch: unable to find the path /{'/'.join(parts)}")
    return cur


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise bad_request(f"jsonpatch: unable to find the path /{'/'.join(parts)}")


def _remove(doc: Any, parts: list[str]) -> Any:
    value = _get(doc, parts)
    parent = _parent(doc, parts)
    if isinstance(parent, dict):
        del parent[parts[-1]]
    else:
        parent.pop(int(parts[-1]))
    return value


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise bad_request(f"jsonpatch: add index {last} out of range")
    else:
        raise bad_request(f"jsonpatch: unable to find the path /{'/'.join(parts)}")
    return doc


def json_patch(original: Any, ops: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test; any failure changes nothing."""
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(original)
    for op in ops:
        if not isinstance(op, Mapping):
            raise bad_request("json: cannot unmarshal into Go value of type jsonpatch.Operation")
        kind = op.get("op")
        parts = _pointer(op.get("path"))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from"))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise InvalidArgument(
                    f"the server rejected our request due to an error in our request: "
                    f"testing value /{'/'.join(parts)} failed: test failed",
                    reason="Invalid",
                )
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc
