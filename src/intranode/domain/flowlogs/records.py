"""Flow-log records and their ``LogEntry`` envelope, as Google writes them (``gcp_vpc_specs.md``
§A4-A5), and the last steps of the pipeline.

A record's ``jsonPayload``:

* base fields: ``connection`` (``src_ip``, ``src_port``, ``dest_ip``, ``dest_port``,
  ``protocol``; ports are numbers and are left out for protocols without ports, ICMP among
  them), ``reporter`` (``SRC``/``DEST``), ``bytes_sent`` and ``packets_sent`` (int64, so JSON
  strings), ``start_time`` and ``end_time`` (RFC 3339, nanoseconds);
* ``bytes_sent`` counts whole IP packets, headers included: what conntrack's accounting
  counts and what the sender's own IP layer sent (Google's newer docs speak of payload bytes;
  intranode keeps the exact, checkable IP count);
* ``rtt_msec`` is left out: conntrack does not measure round trips, and a record carries no
  made-up value (absent fields are omitted, never null);
* metadata, each when known: ``src_instance``/``dest_instance`` (``project_id``, ``region``,
  ``zone``, ``vm_name``, ``managed_instance_group`` for GKE nodes), ``src_vpc``/``dest_vpc``
  (``project_id``, ``vpc_name``, ``subnetwork_name``, ``subnetwork_region``),
  ``src_gke_details``/``dest_gke_details`` (``cluster``, ``pod`` with ``pod_workload``,
  ``service``) for pod IPs.

The envelope: ``logName`` ``projects/P/logs/compute.googleapis.com%2Fvpc_flows`` in the project
of the reporting VM's subnet, ``resource`` ``gce_subnetwork`` with ``project_id``,
``subnetwork_id``, ``subnetwork_name`` and ``location`` (the reporting VM's zone),
``timestamp`` = the record's ``end_time``; ``insertId`` and ``receiveTimestamp`` are filled by
``write_entries``. No severity (DEFAULT).

:func:`build_entries` runs, per flushed bucket: ``flowSampling`` (decided on the 5-tuple and
interval alone, so first) -> annotate -> ``filterExpr`` -> strip metadata -> envelope, each under
the reporting subnet's ``logConfig``. Records of one batch share the metadata objects of the
same endpoints (nothing changes them afterwards).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from intranode.domain.flowlogs.aggregate import Bucket
from intranode.domain.flowlogs.cel import CelError, compile_filter
from intranode.domain.flowlogs.inventory import MANY_SERVICES, Endpoint, PodInfo, SubnetInfo
from intranode.domain.flowlogs.metadata import strip
from intranode.domain.flowlogs.observations import FiveTuple
from intranode.domain.flowlogs.sampling import keep_record
from intranode.domain.timefmt import rfc3339_ns

LOG_ID = "compute.googleapis.com%2Fvpc_flows"
RESOURCE_TYPE = "gce_subnetwork"

Warn = Callable[[SubnetInfo, str], None]


def log_name(project: str) -> str:
    return f"projects/{project}/logs/{LOG_ID}"


def time_text(t: float) -> str:
    # To the microsecond, what a float of seconds since the epoch holds (one float of ns is
    # off by up to 128 ns); the fraction apart from the whole seconds, so it rounds exactly.
    whole = math.floor(t)
    return rfc3339_ns(whole * 1_000_000_000 + round((t - whole) * 1_000_000) * 1_000)


def connection(t: FiveTuple) -> dict[str, Any]:
    out: dict[str, Any] = {"src_ip": t.src_ip}
    if t.src_port is not None:
        out["src_port"] = t.src_port
    out["dest_ip"] = t.dest_ip
    if t.dest_port is not None:
        out["dest_port"] = t.dest_port
    out["protocol"] = t.protocol
    return out


def instance_details(ep: Endpoint) -> dict[str, Any]:
    inst = ep.instance
    out: dict[str, Any] = {
        "project_id": inst.project,
        "region": inst.region,
        "zone": inst.zone,
        "vm_name": inst.name,
    }
    if inst.instance_group:
        out["managed_instance_group"] = {"name": inst.instance_group, "zone": inst.zone}
    return out


def vpc_details(subnet: SubnetInfo) -> dict[str, Any]:
    return {
        "project_id": subnet.project,
        "vpc_name": subnet.network,
        "subnetwork_name": subnet.name,
        "subnetwork_region": subnet.region,
    }


def gke_details(pod: PodInfo) -> dict[str, Any]:
    details: dict[str, Any] = {"pod_name": pod.name, "pod_namespace": pod.namespace}
    if pod.workload_name and pod.workload_type:
        details["pod_workload"] = {
            "workload_name": pod.workload_name,
            "workload_type": pod.workload_type,
        }
    out: dict[str, Any] = {
        "cluster": {"cluster_name": pod.cluster, "cluster_location": pod.cluster_location},
        "pod": details,
    }
    if pod.services:
        out["service"] = [
            {"service_name": name}
            if name == MANY_SERVICES
            else {"service_name": name, "service_namespace": namespace}
            for name, namespace in pod.services
        ]
    return out


class _Memo:
    """What many records of one batch share: metadata of the same endpoints, envelopes'
    resources of the same subnet and zone, and the text of the same instants (bounds are
    listing times, so a batch has few). Shared dicts are never modified afterwards."""

    def __init__(self) -> None:
        self.times: dict[float, str] = {}
        self.endpoints: dict[tuple[str, int], tuple[Endpoint, dict[str, Any]]] = {}
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}

    def time(self, t: float) -> str:
        text = self.times.get(t)
        if text is None:
            text = self.times[t] = time_text(t)
        return text

    def metadata(self, prefix: str, ep: Endpoint) -> dict[str, Any]:
        # Keyed by identity: endpoints live as long as the inventory, longer than a batch
        # (the endpoint is kept in the value so the id cannot be reused meanwhile).
        hit = self.endpoints.get((prefix, id(ep)))
        if hit is None:
            fields = {
                f"{prefix}_instance": instance_details(ep),
                f"{prefix}_vpc": vpc_details(ep.subnet),
            }
            if ep.pod is not None:
                fields[f"{prefix}_gke_details"] = gke_details(ep.pod)
            hit = self.endpoints[(prefix, id(ep))] = (ep, fields)
        return hit[1]

    def resource(self, reporter: Endpoint) -> dict[str, Any]:
        subnet = reporter.subnet
        key = (subnet.key, reporter.instance.zone)
        found = self.resources.get(key)
        if found is None:
            found = self.resources[key] = {
                "type": RESOURCE_TYPE,
                "labels": {
                    "project_id": subnet.project,
                    "subnetwork_id": subnet.id,
                    "subnetwork_name": subnet.name,
                    "location": reporter.instance.zone,
                },
            }
        return found


def payload(bucket: Bucket, memo: _Memo | None = None) -> dict[str, Any]:
    """The record with every metadata field the collector knows."""
    m = memo or _Memo()
    key = bucket.key
    start, end = key.start, key.start + key.length
    last = min(max(bucket.last, start), end)  # Bucket.end_time and start_time, inline
    first = min(max(bucket.first, start), last)
    return {
        "connection": connection(key.flow),
        "reporter": key.reporter,
        "bytes_sent": str(bucket.bytes),
        "packets_sent": str(bucket.packets),
        "start_time": m.time(first),
        "end_time": m.time(last),
        **(m.metadata("src", bucket.src) if bucket.src is not None else _NONE),
        **(m.metadata("dest", bucket.dest) if bucket.dest is not None else _NONE),
    }


_NONE: dict[str, Any] = {}


def envelope(
    record: dict[str, Any], reporter: Endpoint, memo: _Memo | None = None
) -> dict[str, Any]:
    return {
        "logName": log_name(reporter.subnet.project),
        "resource": (memo or _Memo()).resource(reporter),
        "timestamp": record["end_time"],
        "jsonPayload": record,
    }


def build_entries(
    buckets: Iterable[Bucket], *, seed: str = "", warn: Warn | None = None
) -> list[dict[str, Any]]:
    """The LogEntry documents of flushed buckets that pass their subnet's filter and
    sampling. A stored filter that does not compile (the API refuses such filters, so only an
    older state can hold one) keeps every record and is reported through ``warn``."""
    out: list[dict[str, Any]] = []
    memo = _Memo()
    for bucket in buckets:
        if not bucket.packets and not bucket.bytes:
            continue
        reporter = bucket.reporter_endpoint
        cfg = reporter.subnet.log
        if not keep_record(seed, bucket.key.flow, bucket.key.start, cfg.flow_sampling):
            continue
        record = payload(bucket, memo)
        if cfg.filter_expr:
            try:
                predicate = compile_filter(cfg.filter_expr)
            except CelError as err:
                if warn is not None:
                    warn(reporter.subnet, str(err))
            else:
                if not predicate(record):
                    continue
        out.append(envelope(strip(record, cfg.metadata, cfg.metadata_fields), reporter, memo))
    return out
