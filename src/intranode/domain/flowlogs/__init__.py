"""VPC Flow Logs, pure: from conntrack observations to Google's flow-log ``LogEntry`` documents.

The pipeline, one module per step (``gcp_vpc_specs.md`` §A3's recommended order):

==================  ===========================================================================
``observations``    what the kernel reports: :class:`ConntrackEntry` (a snapshot row or a
                    destroy event), :class:`DeniedPacket` (nflog, packets the firewall dropped)
``aggregate``       :class:`Aggregator`: diffs snapshots by conntrack id, folds the deltas per
                    5-tuple, reporter and aggregation interval, closes flows on destroy events,
                    and says what to persist so nothing is lost or counted twice on a restart
``inventory``       :class:`Inventory`: IP -> VM, subnet (and its ``logConfig``), VPC, GKE pod
``records``         jsonPayload and LogEntry envelope; :func:`build_entries` runs annotate ->
                    filterExpr -> flowSampling -> metadata on flushed buckets
``cel``             the ``filterExpr`` CEL subset: :func:`compile_filter`,
                    :func:`validate_filter_expr`
``sampling``        deterministic, seeded keep/drop decisions (primary and flowSampling)
``metadata``        INCLUDE_ALL / EXCLUDE_ALL / CUSTOM_METADATA stripping
==================  ===========================================================================
"""
