"""Kernel fixtures for the pod runtime: uniquely named namespaces (``t<4 hex>-p-0001``), a veth
between two of them, and a runtime whose server, processes and mounts are checked gone after
each test. Everything is removed by exact name or PID, even when a test fails."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import NetnsFactory


@pytest.fixture
def netns() -> Iterator[NetnsFactory]:
    factory = NetnsFactory(f"t{secrets.token_hex(2)}-")
    try:
        yield factory
    finally:
        factory.remove_all()
        left = (
            set(os.listdir("/run/netns")) & set(factory.made)
            if Path("/run/netns").is_dir()
            else set()
        )
        assert not left, f"namespaces left behind: {sorted(left)}"


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "run"
    d.mkdir()
    yield d
    mounts = Path("/proc/self/mounts").read_text()
    left = [line.split()[1] for line in mounts.splitlines() if line.split()[1].startswith(str(d))]
    for path in left:  # a failed test's mounts: ours, by exact path
        subprocess.run(["umount", "-l", path], check=False)
    assert not left, f"mounts left behind: {left}"
