"""GKE's names for what a cluster owns fit Compute's 63 characters and say whose they are."""

from __future__ import annotations

import re

from intranode.domain import naming

LONGEST = "c" * 39 + "1"  # cluster and node pool names go up to 40 characters
RFC1035 = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")


def test_a_node_is_named_after_its_cluster_pool_and_group() -> None:
    name = naming.node_name("flow-log-test", "default-pool", "1a2b3c4d", "xyz1")
    assert name == "gke-flow-log-test-default-pool-1a2b3c4d-xyz1"
    assert naming.instance_group_name("flow-log-test", "default-pool", "1a2b3c4d") == (
        "gke-flow-log-test-default-pool-1a2b3c4d-grp"
    )


def test_long_cluster_and_pool_names_are_cut_to_fit() -> None:
    name = naming.node_name(LONGEST, "pool-" + "p" * 35, "1a2b3c4d")
    assert len(name) <= 63 and RFC1035.fullmatch(name)
    assert name.startswith("gke-" + "c" * 20 + "-pool-" + "p" * 15 + "-1a2b3c4d-")
    # A cut that would end on "-" drops it.
    assert naming.node_name("a" * 19 + "-b", "p", "1a2b3c4d", "xyz1") == (
        "gke-" + "a" * 19 + "-p-1a2b3c4d-xyz1"
    )


def test_firewall_and_range_names_of_the_longest_cluster_fit() -> None:
    chash = naming.cluster_hash(naming.new_cluster_id())
    made = [naming.firewall_name(LONGEST, chash, s) for s in naming.FIREWALL_SUFFIXES]
    made += [naming.node_tag(LONGEST, chash)]
    made += [naming.pods_range_name(LONGEST, chash), naming.services_range_name(LONGEST, chash)]
    for name in made:
        assert len(name) <= 63 and RFC1035.fullmatch(name), name
    assert naming.firewall_name("c1", "0123abcd", "all") == "gke-c1-0123abcd-all"
    assert naming.pods_range_name("c1", "0123abcd") == "gke-c1-pods-0123abcd"


def test_operation_and_pod_names_have_gkes_shapes() -> None:
    assert re.fullmatch(
        r"operation-1764146524123-[0-9a-f]{8}", naming.operation_name(1764146524.123)
    )
    assert re.fullmatch(r"netd-[bcdfghjklmnpqrstvwxz2456789]{5}", naming.daemonset_pod_name("netd"))
    assert re.fullmatch(r"[0-9a-f]{64}", naming.new_cluster_id())
