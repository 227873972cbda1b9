"""Field ownership (``metadata.managedFields``) and server-side apply.

Every write records which manager set which fields: an ``Update`` entry for create, replace
and patch, an ``Apply`` entry for server-side apply. Apply merges the applied configuration
into the live object, refuses (409) to change a field another manager owns unless forced,
and removes fields the manager applied before but no longer does (when no one else owns them).

A field path is a tuple of fieldsV1 keys: ``("f:spec", "f:containers", 'k:{"name":"c"}',
"f:image")``; ``"."`` stands for a list element itself, ``'v:"x"'`` for a member of a set.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from intranode.domain.kube.merge import MERGE_KEYS, SET_LISTS
from intranode.errors import Aborted

Path = tuple[str, ...]
Obj = dict[str, Any]

_IDENTITY_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)
_MISSING = object()


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _item_key(field: str, item: Any) -> str | None:
    key = MERGE_KEYS.get(field)
    if key is None or not isinstance(item, Mapping) or key not in item:
        return None
    return "k:" + _compact({key: item[key]})


def _walk(value: Mapping[str, Any], prefix: Path, out: set[Path]) -> None:
    for key, sub in value.items():
        here = (*prefix, f"f:{key}")
        if isinstance(sub, Mapping) and sub:
            _walk(sub, here, out)
        elif isinstance(sub, list) and sub and key in SET_LISTS:
            out.update((*here, "v:" + _compact(v)) for v in sub)
        elif isinstance(sub, list) and sub and all(_item_key(key, v) is not None for v in sub):
            for item in sub:
                at = (*here, str(_item_key(key, item)))
                out.add((*at, "."))
                _walk(item, at, out)
        else:
            out.add(here)


def field_set(obj: Mapping[str, Any]) -> set[Path]:
    """The fields an object sets, without identity (name, uid, ...) and status."""
    out: set[Path] = set()
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = {k: v for k, v in (body.pop("metadata", None) or {}).items() if k not in _IDENTITY_META}
    if meta:
        _walk({"metadata": meta}, (), out)
    _walk(body, (), out)
    return out


def _step(cur: Any, seg: str) -> Any:
    if cur is _MISSING:
        return _MISSING
    if seg.startswith("f:"):
        return cur.get(seg[2:], _MISSING) if isinstance(cur, Mapping) else _MISSING
    if seg.startswith("k:") and isinstance(cur, list):
        want = json.loads(seg[2:])
        return next(
            (
                v
                for v in cur
                if isinstance(v, Mapping) and all(v.get(k) == w for k, w in want.items())
            ),
            _MISSING,
        )
    if seg.startswith("v:") and isinstance(cur, list):
        value = json.loads(seg[2:])
        return value if value in cur else _MISSING
    if seg == ".":
        return True
    return _MISSING


def value_at(obj: Any, path: Path) -> Any:
    cur = obj
    for seg in path:
        cur = _step(cur, seg)
    return cur


def _remove_at(obj: Any, path: Path) -> None:
    """Delete the field (or list element, for a path ending in ".") ``path`` names."""
    if path and path[-1] == ".":
        path = path[:-1]
    parent = value_at(obj, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) and last.startswith("f:"):
        parent.pop(last[2:], None)
    elif isinstance(parent, list):
        target = _step(parent, last)
        if target is not _MISSING:
            parent.remove(target)


def to_fields_v1(paths: Iterable[Path]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for seg in path:
            node = node.setdefault(seg, {})
    return tree


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, Mapping):
        return out
    for seg, sub in tree.items():
        here = (*prefix, str(seg))
        if isinstance(sub, Mapping) and sub:
            out |= from_fields_v1(sub, here)
        else:
            out.add(here)
    return out


@dataclass
class Entry:
    manager: str
    operation: str  # Apply | Update
    api_version: str
    time: str
    paths: set[Path]
    subresource: str = ""

    def render(self) -> Obj:
        out: Obj = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(self.paths),
        }
        if self.subresource:
            out["subresource"] = self.subresource
        return out

    def label(self) -> str:
        """How a conflict names this manager (apimachinery's printManager)."""
        text = json.dumps(self.manager)
        if self.operation == "Update":
            return f"{text} using {self.api_version} at {self.time}"
        return text


def entries_of(obj: Mapping[str, Any]) -> list[Entry]:
    out = []
    for raw in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(raw, Mapping):
            continue
        out.append(
            Entry(
                manager=str(raw.get("manager", "")),
                operation=str(raw.get("operation", "Update")),
                api_version=str(raw.get("apiVersion", "v1")),
                time=str(raw.get("time", "")),
                paths=from_fields_v1(raw.get("fieldsV1")),
                subresource=str(raw.get("subresource", "")),
            )
        )
    return out


def _store(obj: Obj, entries: list[Entry]) -> Obj:
    kept = [e.render() for e in entries if e.paths]
    meta = obj.setdefault("metadata", {})
    if kept:
        meta["managedFields"] = kept
    else:
        meta.pop("managedFields", None)
    return obj


def render_path(path: Path) -> str:
    """``.spec.containers[name="c"].image`` (structured-merge-diff's Path.String)."""
    text = ""
    for seg in path:
        if seg.startswith("f:"):
            text += "." + seg[2:]
        elif seg.startswith("k:"):
            want = json.loads(seg[2:])
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in want.items()) + "]"
        elif seg.startswith("v:"):
            text += f"[={seg[2:]}]"
    return text


def record_update(
    old: Mapping[str, Any] | None,
    new: Obj,
    manager: str,
    now: str,
    *,
    api_version: str = "v1",
    subresource: str = "",
) -> Obj:
    """``new`` with its managedFields after ``manager`` changed ``old`` into it (an Update).

    A request that rewrites managedFields itself (kubectl moving client-side apply ownership
    to server-side apply does) keeps what it wrote.
    """
    old_entries = entries_of(old) if old is not None else []
    old_raw = (old or {}).get("metadata", {}).get("managedFields")
    new_raw = (new.get("metadata") or {}).get("managedFields")
    if old is not None and new_raw is not None and new_raw != old_raw:
        return new
    new_fields = field_set(new)
    old_fields = field_set(old) if old is not None else set()
    changed = {p for p in new_fields if value_at(old, p) != value_at(new, p)} if old else new_fields
    gone = old_fields - new_fields
    entries: list[Entry] = []
    mine: Entry | None = None
    for e in old_entries:
        if e.manager == manager and e.operation == "Update" and e.subresource == subresource:
            mine = e
            continue
        e.paths -= changed | gone
        entries.append(e)
    if changed or mine is not None:
        mine = mine or Entry(manager, "Update", api_version, now, set(), subresource)
        mine.paths = (mine.paths - gone) | changed
        if changed:
            mine.time = now
        entries.append(mine)
    return _store(copy.deepcopy(new), entries)


@dataclass(frozen=True)
class Conflict:
    owner: Entry
    path: Path


def apply_conflict(conflicts: list[Conflict]) -> Aborted:
    """409 Conflict with kube-apiserver's message and one cause per conflicting field."""
    if len(conflicts) == 1:
        c = conflicts[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {c.owner.label()}: {render_path(c.path)}"
        )
    else:
        by_owner: dict[str, list[Path]] = {}
        for c in conflicts:
            by_owner.setdefault(c.owner.label(), []).append(c.path)
        lines = []
        for owner in sorted(by_owner):
            lines.append(f"conflicts with {owner}:")
            lines += [f"- {render_path(p)}" for p in by_owner[owner]]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {c.owner.label()}",
            "field": render_path(c.path),
        }
        for c in conflicts
    ]
    return Aborted(message, reason="Conflict", details=[{"causes": causes}])


def _apply_merge(live: Any, applied: Any, field: str = "") -> Any:
    """Merge an applied configuration into the live value (no deletions; lists by key)."""
    if isinstance(applied, Mapping) and isinstance(live, Mapping):
        out = copy.deepcopy(dict(live))
        for key, value in applied.items():
            out[key] = _apply_merge(live.get(key), value, key) if key in live else value
        return out
    if isinstance(applied, list) and isinstance(live, list):
        if field in SET_LISTS:
            return live + [v for v in applied if v not in live]
        if applied and all(_item_key(field, v) is not None for v in applied):
            out_list = copy.deepcopy(live)
            for item in applied:
                ident = _item_key(field, item)
                idx = next(
                    (i for i, v in enumerate(out_list) if _item_key(field, v) == ident), None
                )
                if idx is None:
                    out_list.append(copy.deepcopy(item))
                else:
                    out_list[idx] = _apply_merge(out_list[idx], item, field)
            return out_list
    return copy.deepcopy(applied)


def server_side_apply(
    live: Obj, applied: Mapping[str, Any], manager: str, now: str, *, force: bool
) -> Obj:
    """``live`` after ``manager`` applied ``applied`` (raises the 409 Conflict on conflicts)."""
    entries = entries_of(live)
    applied_fields = field_set(applied)
    conflicts: list[Conflict] = []
    for path in sorted(applied_fields):
        if path[-1] == "." or value_at(live, path) == value_at(applied, path):
            continue
        for e in entries:
            if (e.manager, e.operation) != (manager, "Apply") and path in e.paths:
                conflicts.append(Conflict(e, path))
    if conflicts and not force:
        raise apply_conflict(conflicts)
    applied_body = {k: v for k, v in applied.items() if k != "status"}
    applied_meta = {
        k: v for k, v in (applied.get("metadata") or {}).items() if k not in _IDENTITY_META
    }
    applied_body["metadata"] = applied_meta
    merged: Obj = _apply_merge(live, applied_body)
    previous = next((e for e in entries if e.manager == manager and e.operation == "Apply"), None)
    taken = {c.path for c in conflicts}
    others = [e for e in entries if e is not previous]
    for e in others:
        e.paths -= taken
    if previous is not None:
        for path in sorted(previous.paths - applied_fields, key=len, reverse=True):
            element = path[:-1] if path[-1] == "." else path
            if not any(p[: len(element)] == element for e in others for p in e.paths):
                _remove_at(merged, path)
    mine = Entry(manager, "Apply", "v1", now, applied_fields)
    if previous is not None:
        mine.api_version = previous.api_version
    return _store(merged, [*others, mine])
