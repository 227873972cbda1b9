"""``logConfig.metadata``: which metadata fields a flow-log record keeps.

* ``EXCLUDE_ALL_METADATA``: the base fields only (:data:`BASE_FIELDS`);
* ``INCLUDE_ALL_METADATA``: everything the collector could annotate;
* ``CUSTOM_METADATA``: the base fields and those ``metadataFields`` names, each a top-level
  field (``src_gke_details``) or a path below one (``src_vpc.vpc_name``, keeping only that
  leaf and the objects above it). Names of fields a record does not have are ignored.

Metadata is stripped last, after ``filterExpr`` and ``flowSampling`` (a filter may read a field
the record will not carry).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

INCLUDE_ALL = "INCLUDE_ALL_METADATA"
EXCLUDE_ALL = "EXCLUDE_ALL_METADATA"
CUSTOM = "CUSTOM_METADATA"
BASE_FIELDS = frozenset(
    {
        "connection",
        "reporter",
        "bytes_sent",
        "packets_sent",
        "rtt_msec",
        "start_time",
        "end_time",
        "round_trip_time",
        "disposition",
    }
)
METADATA_FIELDS = (
    "src_instance",
    "dest_instance",
    "src_vpc",
    "dest_vpc",
    "src_gke_details",
    "dest_gke_details",
    "src_location",
    "dest_location",
    "src_google_service",
    "dest_google_service",
    "src_gateway",
    "dest_gateway",
)


def strip(payload: dict[str, Any], mode: str, fields: Iterable[str] = ()) -> dict[str, Any]:
    """The payload as ``mode`` keeps it (a new dict when anything is removed)."""
    if mode == INCLUDE_ALL:
        return payload
    base = {k: v for k, v in payload.items() if k in BASE_FIELDS}
    if mode != CUSTOM:
        return base
    for name in fields:
        path = name.split(".")
        picked = _pick(payload, path)
        if picked is not None:
            _merge(base, path, picked)
    return base


def _pick(payload: Mapping[str, Any], path: list[str]) -> Any:
    cur: Any = payload
    for key in path:
        if not isinstance(cur, Mapping) or key not in cur:
            return None
        cur = cur[key]
    return cur


def _merge(out: dict[str, Any], path: list[str], value: Any) -> None:
    # Objects on the way are copied, never changed: records of a batch share their metadata.
    cur = out
    for key in path[:-1]:
        nxt = cur.get(key)
        nxt = cur[key] = dict(nxt) if isinstance(nxt, dict) else {}
        cur = nxt
    cur[path[-1]] = value
