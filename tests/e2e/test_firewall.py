"""VPC firewall rules, made with the real gcloud, enforced in the VPC router on real packets:
with intra-node visibility on they apply to pod-to-pod traffic on one node too; with it off,
that traffic never reaches the VPC and no rule applies to it (as on GKE).

Two nodes: pod-1 and pod-2 on the first, pod-3 on the second.

Needs root (the daemon creates namespaces); CI runs as root.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import GUIDE_POD_1, GUIDE_POD_2, Daemon
from tests.e2e.pods import (
    flow_entries,
    node_names,
    now_text,
    pinned,
    pod_ip,
    reaches,
    wait_running,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 and os.environ.get("CI") != "true", reason="the data plane needs root"
    ),
]

CLUSTER = "walls"
ZONE = "--zone=us-central1-a"
# New connections meet a changed rule set within a second.
SETTLE = 1.0


@dataclass(frozen=True)
class Scene:
    daemon: Daemon
    pod_range: str
    node_tag: str
    pod2: str
    pod3: str


def _set_inv(daemon: Daemon, on: bool) -> None:
    flag = "--enable-intra-node-visibility" if on else "--no-enable-intra-node-visibility"
    daemon.gcloud("container", "clusters", "update", CLUSTER, ZONE, flag)


def _rule(daemon: Daemon, name: str, *flags: str) -> None:
    daemon.gcloud("compute", "firewall-rules", "create", name, "--network=default", *flags)
    time.sleep(SETTLE)


def _delete_rule(daemon: Daemon, name: str) -> None:
    daemon.gcloud("compute", "firewall-rules", "delete", name, "-q")
    time.sleep(SETTLE)


@pytest.fixture(scope="module")
def scene(daemon: Daemon) -> Iterator[Scene]:
    daemon.gcloud(
        "container",
        "clusters",
        "create",
        CLUSTER,
        ZONE,
        "--num-nodes=2",
        "--enable-intra-node-visibility",
    )
    daemon.gcloud("container", "clusters", "get-credentials", CLUSTER, ZONE)
    first, second = node_names(daemon)
    daemon.kubectl("apply", "-f", "-", input=pinned(GUIDE_POD_1, first))
    daemon.kubectl("apply", "-f", "-", input=pinned(GUIDE_POD_2, first))
    daemon.kubectl("apply", "-f", "-", input=pinned(GUIDE_POD_2, second, "pod-3"))
    wait_running(daemon, "pod-1", "pod-2", "pod-3")
    cluster = json.loads(
        daemon.gcloud("container", "clusters", "describe", CLUSTER, ZONE, "--format=json").stdout
    )
    instance = json.loads(
        daemon.gcloud("compute", "instances", "describe", first, ZONE, "--format=json").stdout
    )
    yield Scene(
        daemon,
        pod_range=cluster["clusterIpv4Cidr"],
        node_tag=instance["tags"]["items"][0],
        pod2=pod_ip(daemon, "pod-2"),
        pod3=pod_ip(daemon, "pod-3"),
    )
    daemon.gcloud("container", "clusters", "delete", "-q", CLUSTER, ZONE)


def test_the_guides_pods_talk_under_gkes_own_rules(scene: Scene) -> None:
    d = scene.daemon
    assert reaches(d, "pod-1", scene.pod2)
    assert reaches(d, "pod-1", scene.pod3)


def test_an_ingress_deny_blocks_same_node_traffic_only_with_intra_node_visibility(
    scene: Scene,
) -> None:
    d = scene.daemon
    _rule(
        d,
        "deny-8080",
        "--direction=INGRESS",
        "--priority=900",
        "--action=DENY",
        "--rules=tcp:8080",
        f"--source-ranges={scene.pod_range}",
    )
    try:
        assert not reaches(d, "pod-1", scene.pod2)  # same node, through the VPC
        assert not reaches(d, "pod-1", scene.pod3)  # other node
        _set_inv(d, False)
        try:
            assert reaches(d, "pod-1", scene.pod2)  # stays in the node: no VPC, no rule
            assert not reaches(d, "pod-1", scene.pod3)
        finally:
            _set_inv(d, True)
        assert not reaches(d, "pod-1", scene.pod2)
    finally:
        _delete_rule(d, "deny-8080")
    assert reaches(d, "pod-1", scene.pod2)
    assert reaches(d, "pod-1", scene.pod3)


def test_a_higher_priority_allow_wins_and_deny_wins_a_tie(scene: Scene) -> None:
    d = scene.daemon
    common = ["--direction=INGRESS", "--rules=tcp:8080", f"--source-ranges={scene.pod_range}"]
    _rule(d, "deny-900", "--priority=900", "--action=DENY", *common)
    _rule(d, "allow-800", "--priority=800", "--action=ALLOW", *common)
    try:
        assert reaches(d, "pod-1", scene.pod2)
        _rule(d, "deny-800", "--priority=800", "--action=DENY", *common)
        try:
            assert not reaches(d, "pod-1", scene.pod2)
        finally:
            _delete_rule(d, "deny-800")
    finally:
        _delete_rule(d, "allow-800")
        _delete_rule(d, "deny-900")
    assert reaches(d, "pod-1", scene.pod2)


def test_an_egress_deny_on_the_node_tag_blocks_what_its_pods_send(scene: Scene) -> None:
    d = scene.daemon
    _rule(
        d,
        "deny-egress",
        "--direction=EGRESS",
        "--priority=900",
        "--action=DENY",
        "--rules=tcp:8080",
        f"--destination-ranges={scene.pod_range}",
        f"--target-tags={scene.node_tag}",
    )
    try:
        assert not reaches(d, "pod-1", scene.pod2)
        assert not reaches(d, "pod-1", scene.pod3)
        assert not reaches(d, "pod-3", scene.pod2)  # GKE gives every node the cluster's tag
    finally:
        _delete_rule(d, "deny-egress")
    assert reaches(d, "pod-1", scene.pod3)
    _rule(
        d,
        "deny-egress-other",
        "--direction=EGRESS",
        "--priority=900",
        "--action=DENY",
        "--rules=tcp:8080",
        f"--destination-ranges={scene.pod_range}",
        "--target-tags=some-other-tag",
    )
    try:
        assert reaches(d, "pod-1", scene.pod2)  # no node carries that tag
    finally:
        _delete_rule(d, "deny-egress-other")


def test_a_disabled_rule_does_nothing_until_enabled(scene: Scene) -> None:
    d = scene.daemon
    _rule(
        d,
        "deny-off",
        "--direction=INGRESS",
        "--priority=900",
        "--action=DENY",
        "--rules=tcp:8080",
        f"--source-ranges={scene.pod_range}",
        "--disabled",
    )
    try:
        assert reaches(d, "pod-1", scene.pod2)
        d.gcloud("compute", "firewall-rules", "update", "deny-off", "--no-disabled")
        time.sleep(SETTLE)
        assert not reaches(d, "pod-1", scene.pod2)
    finally:
        _delete_rule(d, "deny-off")


def test_an_established_connection_outlives_a_new_deny(scene: Scene) -> None:
    """Google's firewall is stateful: a rule change does not cut connections it let in."""
    d = scene.daemon
    script = (
        "import socket, time\n"
        f"s = socket.create_connection(('{scene.pod2}', 8080))\n"
        "for i in range(8):\n"
        "    s.sendall(b'GET / HTTP/1.1\\r\\nHost: pod-2\\r\\n\\r\\n')\n"
        "    print('ok' if b'Hello' in s.recv(4096) else 'bad', flush=True)\n"
        "    time.sleep(0.5)\n"
    )
    proc = subprocess.Popen(
        [d.kubectl_bin, "exec", "pod-1", "--", "python3", "-c", script],
        env=d.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.2)
        _rule(
            d,
            "deny-late",
            "--direction=INGRESS",
            "--priority=900",
            "--action=DENY",
            "--rules=tcp:8080",
            f"--source-ranges={scene.pod_range}",
        )
        out, _ = proc.communicate(timeout=30)
        assert out.split() == ["ok"] * 8
        assert not reaches(d, "pod-1", scene.pod2)  # a new connection is denied
    finally:
        proc.kill()
        _delete_rule(d, "deny-late")


def test_service_account_targets_pick_the_nodes_running_as_it(scene: Scene) -> None:
    d = scene.daemon
    instance = json.loads(
        d.gcloud("compute", "instances", "describe", node_names(d)[0], ZONE, "--format=json").stdout
    )
    account = instance["serviceAccounts"][0]["email"]
    assert account.endswith("-compute@developer.gserviceaccount.com"), account
    common = [
        "--direction=INGRESS",
        "--priority=900",
        "--action=DENY",
        "--rules=tcp:8080",
        f"--source-ranges={scene.pod_range}",
    ]
    _rule(d, "deny-other-sa", *common, "--target-service-accounts=other@example.com")
    try:
        assert reaches(d, "pod-1", scene.pod2)
    finally:
        _delete_rule(d, "deny-other-sa")
    _rule(d, "deny-node-sa", *common, f"--target-service-accounts={account}")
    try:
        assert not reaches(d, "pod-1", scene.pod2)
    finally:
        _delete_rule(d, "deny-node-sa")


def _firewall_entries(d: Daemon, dest: str, since: str) -> list[dict[str, Any]]:
    flt = (
        f'logName="projects/{d.project}/logs/compute.googleapis.com%2Ffirewall" '
        f'AND jsonPayload.connection.dest_ip="{dest}" AND timestamp>="{since}"'
    )
    return list(json.loads(d.gcloud("logging", "read", flt, "--format=json").stdout))


def test_rules_with_logging_write_allowed_and_denied_connections(scene: Scene) -> None:
    d = scene.daemon
    first = node_names(d)[0]
    d.gcloud(
        "compute",
        "networks",
        "subnets",
        "update",
        "default",
        "--region=us-central1",
        "--enable-flow-logs",
        "--logging-flow-sampling=1.0",
    )
    common = ["--direction=INGRESS", "--rules=tcp:8080", f"--source-ranges={scene.pod_range}"]
    since = now_text()
    _rule(d, "log-allow", "--priority=800", "--action=ALLOW", "--enable-logging", *common)
    try:
        assert reaches(d, "pod-1", scene.pod2)
        _rule(d, "log-deny", "--priority=700", "--action=DENY", "--enable-logging", *common)
        try:
            denied_since = now_text()
            time.sleep(1)
            assert not reaches(d, "pod-1", scene.pod2)
            deadline = time.monotonic() + 20
            entries: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                entries = _firewall_entries(d, scene.pod2, since)
                if {e["jsonPayload"]["disposition"] for e in entries} == {"ALLOWED", "DENIED"}:
                    break
                time.sleep(1)
            by = {e["jsonPayload"]["disposition"]: e["jsonPayload"] for e in entries}
            assert set(by) == {"ALLOWED", "DENIED"}, entries
            allowed, denied = by["ALLOWED"], by["DENIED"]
            assert allowed["rule_details"]["reference"] == "network:default/firewall:log-allow"
            assert allowed["rule_details"]["priority"] == 800
            assert allowed["rule_details"]["action"] == "ALLOW"
            assert allowed["rule_details"]["direction"] == "INGRESS"
            assert denied["rule_details"]["reference"] == "network:default/firewall:log-deny"
            assert denied["rule_details"]["action"] == "DENY"
            for p in (allowed, denied):
                assert p["connection"]["dest_port"] == 8080
                assert p["connection"]["protocol"] == 6
                assert p["instance"]["vm_name"] == first  # the VM the ingress rule applied to
            # Flow logs: egress is sampled before the firewall, ingress after it, so the
            # denied connection has its SRC record and no DEST record.
            time.sleep(7)
            port = denied["connection"]["src_port"]  # the denied connection's own 5-tuple
            flows = [
                e["jsonPayload"]
                for e in flow_entries(d, pod_ip(d, "pod-1"), scene.pod2, denied_since)
                if e["jsonPayload"]["connection"].get("dest_port") == 8080
                and e["jsonPayload"]["connection"].get("src_port") == port
            ]
            assert {p["reporter"] for p in flows} == {"SRC"}, json.dumps(flows)
        finally:
            _delete_rule(d, "log-deny")
    finally:
        _delete_rule(d, "log-allow")


ORG = "--organization=123456789012"  # intranode's emulated organization (Settings)


def test_an_organization_policy_overrides_the_vpc_rules_until_it_says_goto_next(
    scene: Scene,
) -> None:
    d = scene.daemon
    policies = ("compute", "firewall-policies")
    d.gcloud(*policies, "create", ORG, "--short-name=org-walls")
    try:
        d.gcloud(
            *policies,
            "rules",
            "create",
            "100",
            "--firewall-policy=org-walls",
            ORG,
            "--action=deny",
            "--direction=INGRESS",
            f"--src-ip-ranges={scene.pod_range}",
            "--layer4-configs=tcp:8080",
        )
        _rule(
            d,
            "allow-first",
            "--direction=INGRESS",
            "--priority=0",
            "--action=ALLOW",
            "--rules=tcp:8080",
            f"--source-ranges={scene.pod_range}",
        )
        try:
            assert reaches(d, "pod-1", scene.pod2)  # not associated yet
            d.gcloud(*policies, "associations", "create", "--firewall-policy=org-walls", ORG)
            time.sleep(SETTLE)
            assert not reaches(d, "pod-1", scene.pod2)  # the organization comes first
            assert not reaches(d, "pod-1", scene.pod3)
            d.gcloud(
                *policies,
                "rules",
                "update",
                "100",
                "--firewall-policy=org-walls",
                ORG,
                "--action=goto_next",
            )
            time.sleep(SETTLE)
            assert reaches(d, "pod-1", scene.pod2)  # the VPC rules decide again
        finally:
            _delete_rule(d, "allow-first")
            d.gcloud(
                *policies,
                "associations",
                "delete",
                "--firewall-policy=org-walls",
                ORG,
                check=False,
            )
    finally:
        d.gcloud(*policies, "delete", "org-walls", ORG, "-q", check=False)
    time.sleep(SETTLE)
    assert reaches(d, "pod-1", scene.pod2)


def test_a_network_policy_applies_in_the_networks_enforcement_order(scene: Scene) -> None:
    d = scene.daemon
    policies = ("compute", "network-firewall-policies")
    d.gcloud(*policies, "create", "net-walls", "--global")
    try:
        d.gcloud(
            *policies,
            "rules",
            "create",
            "100",
            "--firewall-policy=net-walls",
            "--global-firewall-policy",
            "--action=deny",
            "--direction=INGRESS",
            f"--src-ip-ranges={scene.pod_range}",
            "--layer4-configs=tcp:8080",
        )
        d.gcloud(
            *policies,
            "associations",
            "create",
            "--firewall-policy=net-walls",
            "--network=default",
            "--global-firewall-policy",
        )
        time.sleep(SETTLE)
        # After the VPC rules (the default): GKE's allow for the pod range decides first.
        assert reaches(d, "pod-1", scene.pod2)
        d.gcloud(
            "compute",
            "networks",
            "update",
            "default",
            "--network-firewall-policy-enforcement-order=BEFORE_CLASSIC_FIREWALL",
        )
        time.sleep(SETTLE)
        try:
            assert not reaches(d, "pod-1", scene.pod2)
        finally:
            d.gcloud(
                "compute",
                "networks",
                "update",
                "default",
                "--network-firewall-policy-enforcement-order=AFTER_CLASSIC_FIREWALL",
            )
    finally:
        d.gcloud(
            *policies,
            "associations",
            "delete",
            "--firewall-policy=net-walls",
            "--name=" + "net-walls-association",
            "--global-firewall-policy",
            check=False,
        )
        d.gcloud(*policies, "delete", "net-walls", "--global", "-q", check=False)
    time.sleep(SETTLE)
    assert reaches(d, "pod-1", scene.pod2)
