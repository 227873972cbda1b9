"""Kernel fixtures for Packet Mirroring (root only): ONE lab per session under a fresh
``t<4 hex>-`` prefix, torn down by exact name from its ledger whatever the tests do;
afterwards no namespace of the prefix is left and the host's own links, routes, rules and
nftables tables are as they were."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab import MirrorLab


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.kernel)


def _netns_list() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def _host_state() -> dict[str, str]:
    return {
        name: subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        for name, argv in {
            "links": ["ip", "-o", "link"],
            "routes": ["ip", "route", "show", "table", "all"],
            "rules": ["ip", "rule"],
            "nft": ["nft", "list", "tables"],
        }.items()
    }


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MirrorLab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    before = _host_state()
    made = MirrorLab.create(tmp_path_factory.mktemp("mirrorlab"))
    try:
        yield made
    finally:
        made.close()
        assert [n for n in _netns_list() if n.startswith(made.prefix)] == []
        assert _host_state() == before
