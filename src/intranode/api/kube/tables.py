"""``meta.k8s.io/v1`` Tables, which ``kubectl get`` asks for with ``Accept: ...;as=Table``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from intranode.domain.kube.tables import pod_conditions, table_spec


def wants_table(accept: str | None) -> bool:
    """True when the client accepts a Table (kubectl's human-readable ``get``)."""
    if not accept:
        return False
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if "as=Table" in params and "g=meta.k8s.io" in params:
            return True
    return False


def _row_object(obj: Mapping[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return dict(obj)
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def table(
    plural: str,
    objects: Iterable[Mapping[str, Any]],
    now: float,
    *,
    resource_version: str,
    include_object: str = "Metadata",
    with_columns: bool = True,
) -> dict[str, Any]:
    spec = table_spec(plural)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": spec.cells(obj, now)}
        if plural == "pods":
            conds = pod_conditions(obj)
            if conds:
                row["conditions"] = conds
        shown = _row_object(obj, include_object)
        if shown is not None:
            row["object"] = shown
        rows.append(row)
    out: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [c.definition() for c in spec.columns] if with_columns else None,
        "rows": rows,
    }
    if not with_columns:
        del out["columnDefinitions"]
    return out
