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

:func:`build_entries` runs, per flushed bucket: annotate -> ``filterExpr`` -> ``flowSampling``
-> strip metadata -> envelope, each under the reporting subnet's ``logConfig``.
"""

from __future__ import annotations

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
    return rfc3339_ns(round(t * 1_000_000_000))


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


def payload(bucket: Bucket) -> dict[str, Any]:
    """The record with every metadata field the collector knows."""
    out: dict[str, Any] = {
        "connection": connection(bucket.key.flow),
        "reporter": bucket.key.reporter,
        "bytes_sent": str(bucket.counters.bytes),
        "packets_sent": str(bucket.counters.packets),
        "start_time": time_text(bucket.start_time),
        "end_time": time_text(bucket.end_time),
    }
    for prefix, ep in (("src", bucket.src), ("dest", bucket.dest)):
        if ep is None:
            continue
        out[f"{prefix}_instance"] = instance_details(ep)
        out[f"{prefix}_vpc"] = vpc_details(ep.subnet)
        if ep.pod is not None:
            out[f"{prefix}_gke_details"] = gke_details(ep.pod)
    return out


def envelope(record: dict[str, Any], reporter: Endpoint) -> dict[str, Any]:
    subnet = reporter.subnet
    return {
        "logName": log_name(subnet.project),
        "resource": {
            "type": RESOURCE_TYPE,
            "labels": {
                "project_id": subnet.project,
                "subnetwork_id": subnet.id,
                "subnetwork_name": subnet.name,
                "location": reporter.instance.zone,
            },
        },
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
    for bucket in buckets:
        if not bucket.counters:
            continue
        reporter = bucket.reporter_endpoint
        cfg = reporter.subnet.log
        record = payload(bucket)
        if cfg.filter_expr:
            try:
                predicate = compile_filter(cfg.filter_expr)
            except CelError as err:
                if warn is not None:
                    warn(reporter.subnet, str(err))
            else:
                if not predicate(record):
                    continue
        if not keep_record(seed, bucket.key.flow, bucket.key.start, cfg.flow_sampling):
            continue
        out.append(envelope(strip(record, cfg.metadata, cfg.metadata_fields), reporter))
    return out
