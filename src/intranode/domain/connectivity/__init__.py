"""Connectivity Tests (Network Management API v1) and ``intranode preflight``, pure: what a
test is, the path its packet takes through the VPC as Google traces it, what to change when
the firewall drops it, how live probes compare, and which same-node flows break when
intra-node visibility is turned on. No I/O: the controllers read the store and the kernel.

The firewall is :mod:`intranode.domain.firewall`'s model, the one the router's nftables
table is compiled from; nothing here copies its rules.

Modules and their public API::

    spec        ConnectivityTestBody / EndpointBody (request messages), check_test_id,
                new_test_document, updated_document (updateMask), test_spec -> TestSpec
                (EndpointSpec, PodRef), PROTOCOLS, RESULTS, OUTPUT_ONLY
    world       World(project, networks, nodes, pods) with holder(network, ip) -> Holder;
                Network (firewall inputs + FirewallModel, routes, subnet ranges), Node,
                ClusterView, Pod, Route; builders node_view, cluster_view, pod_view,
                route_view, network_view; select_route; pod_uri
    analysis    analyze(world, spec) -> Analysis(result, outcomes, return_result,
                return_traces); Outcome(trace, source, target, dst_ip, block); Location;
                firewall_info(network, hit, project)
    steps       Step, Trace and the typed infos (InstanceInfo, GkePodInfo, NetworkInfo,
                FirewallInfo, RouteInfo, EndpointInfo, DeliverInfo, DropInfo, AbortInfo),
                their API JSON (to_json), result_of, reachability_json
    advice      suggestions(network, packet, project, sender=, receiver=) -> [Suggestion];
                blocking(...), suggest(...), with_suggestion(inputs, suggestion)
    probing     ProbeResult (what a prober saw), NotProbed, probing_details(...) -> JSON,
                percentile
    preflight   declared_flows, observed_flows, merge, check(...) -> Report (to_json)
"""
