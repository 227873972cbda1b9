"""Kernel fixtures for flow logs (root only): a router lab with its own prefix, removed by exact
name whatever the test does, and a check that nothing of that prefix is left."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Lab


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.kernel)


def _netns_list() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces")
    for tool in ("ip", "nft", "conntrack"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    made = Lab.create()
    try:
        yield made
    finally:
        made.close()
        assert [n for n in _netns_list() if n.startswith(made.prefix)] == []
