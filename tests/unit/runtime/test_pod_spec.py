"""Reading a Pod object into what the runtime runs: env with $(VAR) and fieldRefs, command and
args expanded, TCP ports, restart policy, grace period, hostnames and log paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from intranode.dataplane.runtime.sandbox import Sandbox, pod_hostname
from intranode.dataplane.runtime.spec import (
    DEFAULT_PATH,
    container_log_path,
    expand,
    pod_run,
)

SANDBOX = Sandbox(Path("/run/netns/in-p-0001"), Path("/run/intranode/uts/in-p-0001"), "pod-1")


def _pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "pod-1",
            "namespace": "team",
            "uid": "u-1",
            "labels": {"app": "web"},
        },
        "spec": {"nodeName": "node-a", **spec},
        "status": {"podIP": "10.4.0.7", "hostIP": "10.128.0.2"},
    }


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("$(A)-$(B)", "1-2"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("cost $5", "cost $5"),
        ("$(A", "$(A"),
        ("tail$", "tail$"),
    ],
)
def test_expand_follows_kubernetes(text: str, out: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == out


def test_env_values_fieldrefs_and_expansion_in_command_and_args() -> None:
    pod = _pod(
        containers=[
            {
                "name": "c",
                "image": "busybox",
                "command": ["sh", "-c"],
                "args": ["echo $(GREETING) from $(POD_IP) $$(HOME)"],
                "env": [
                    {"name": "NAME", "value": "world"},
                    {"name": "GREETING", "value": "hello $(NAME)"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {
                        "name": "APP",
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}},
                    },
                    {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ],
                "ports": [
                    {"containerPort": 8080, "protocol": "TCP"},
                    {"containerPort": 53, "protocol": "UDP"},
                    {"containerPort": 9090},
                ],
                "workingDir": "/tmp",
            }
        ],
        restartPolicy="OnFailure",
        terminationGracePeriodSeconds=5,
    )
    run = pod_run(pod, SANDBOX, Path("/logs/u-1"), {"c": 4})
    assert (run.uid, run.name, run.namespace, run.restart_policy, run.grace_period) == (
        "u-1",
        "pod-1",
        "team",
        "OnFailure",
        5.0,
    )
    (c,) = run.containers
    assert c.command == ("sh", "-c")
    assert c.args == ("echo hello world from 10.4.0.7 $(HOME)",)
    assert c.env_dict() == {
        "PATH": DEFAULT_PATH,
        "HOSTNAME": "pod-1",
        "HOME": "/root",
        "NAME": "world",
        "GREETING": "hello world",
        "POD_IP": "10.4.0.7",
        "NS": "team",
        "APP": "web",
        "SECRET": "",
    }
    assert c.ports == (8080, 9090)
    assert c.working_dir == "/tmp"
    assert c.restart_count == 4


def test_defaults_when_the_spec_says_little() -> None:
    run = pod_run(_pod(containers=[{"name": "c", "image": "nginx"}]), SANDBOX, Path("/l"))
    assert run.restart_policy == "Always"
    assert run.grace_period == 30.0
    (c,) = run.containers
    assert (c.command, c.args, c.ports, c.restart_count) == ((), (), (), 0)


def test_hostnames_are_cut_to_63_characters_without_a_trailing_dash() -> None:
    assert pod_hostname("pod-1") == "pod-1"
    assert pod_hostname("pod-1", "custom") == "custom"
    name = "a" * 62 + "-b" + "c" * 10
    assert pod_hostname(name) == "a" * 62


def test_container_logs_are_per_restart() -> None:
    assert container_log_path(Path("/l"), "c", 2) == Path("/l/c/2.log")
