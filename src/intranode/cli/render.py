"""Rich tables for ``intranode status``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_status(data: dict[str, Any], *, pid: int | None) -> None:
    console = Console()
    console.print(
        f"daemon: pid {pid if pid is not None else '?'}  api {data.get('url', '')}  "
        f"project {data.get('project', '')}"
    )
    clusters = data.get("clusters", [])
    if not clusters:
        console.print("no clusters")
        return
    for c in clusters:
        inv = "on" if c.get("intraNodeVisibility") else "off"
        console.print(
            f"\ncluster [bold]{c['name']}[/bold] ({c['location']}): {c['status']}, "
            f"intra-node visibility {inv}, endpoint {c.get('endpoint', '')}"
        )
        table = Table("node", "internal IP", "pod range", "pods")
        for n in c.get("nodes", []):
            table.add_row(n["name"], n.get("internalIP", ""), n.get("podCIDR", ""), str(n["pods"]))
        console.print(table)
        pods = Table("namespace", "pod", "IP", "node", "phase")
        for p in c.get("pods", []):
            pods.add_row(p["namespace"], p["name"], p.get("ip", ""), p.get("node", ""), p["phase"])
        console.print(pods)
