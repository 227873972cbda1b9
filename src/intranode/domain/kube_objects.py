"""Kubernetes object metadata as the API server fills it in.

``resourceVersion`` is not stored: the API layer sets it from the store revision on the way out.
"""

from __future__ import annotations

import uuid
from typing import Any

from intranode.domain.timefmt import k8s_time


def new_uid() -> str:
    return str(uuid.uuid4())


def object_meta(
    name: str,
    *,
    now: float,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: dict[str, Any] | None = None,
    generate_name: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": new_uid(), "creationTimestamp": k8s_time(now)}
    if namespace is not None:
        meta["namespace"] = namespace
    if generate_name:
        meta["generateName"] = generate_name
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner:
        meta["ownerReferences"] = [owner]
    return meta
