"""``intranode preflight CLUSTER``: run before ``gcloud container clusters update CLUSTER
--enable-intra-node-visibility`` to see what would stop working.

It asks the daemon (``GET /intranode/v1/preflight/CLUSTER``) for the report: every same-node
Pod-to-Pod flow that works now and the firewall would block once the flow crosses the VPC
(with the rule that blocks it and the rule that would let only that flow through), an
ip-masq-agent configuration that would masquerade same-node traffic, and the cluster's own
requirements (GKE version, no Windows Server node pools).

Exit status: 0 when nothing would break (or intra-node visibility is already on), 1 when
something would, 2 when the report could not be made (no daemon, no such cluster).
``--format markdown`` prints a report to paste into a change review; ``json`` / ``yaml`` the
report as data.
"""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

from intranode.cli.client import DaemonClient
from intranode.cli.flows import parse_duration
from intranode.cli.target import Target

EXIT_BREAKS = 1
EXIT_FAILED = 2


class _Failed(click.ClickException):
    exit_code = EXIT_FAILED


def _client(target: Target) -> DaemonClient:
    return DaemonClient(target, timeout=60.0)


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx, param) from None


def _flow_text(flow: dict[str, Any]) -> str:
    src, dst = flow["source"], flow["destination"]
    return (
        f"{src['namespace']}/{src['pod']} ({src['ip']}) -> {dst['namespace']}/{dst['pod']} "
        f"({dst['ip']}) {flow['protocol']}/{flow['port']}"
    )


def _rule_text(rule: dict[str, Any]) -> str:
    name = rule.get("displayName") or rule.get("policy") or "?"
    kind = rule.get("firewallRuleType", "")
    return (
        f"{name} [{kind}, {rule.get('direction')}, priority {rule.get('priority')}, "
        f"{rule.get('action')}]"
    )


def as_text(report: dict[str, Any]) -> str:
    lines = [
        f"cluster {report['cluster']} ({report['location']}), network {report['network']}",
        "intra-node visibility: " + ("on" if report["intraNodeVisibility"] else "off"),
    ]
    if report["intraNodeVisibility"]:
        lines.append("Intra-node visibility is already on: enabling it changes nothing.")
    for req in report["requirements"]:
        lines.append(f"[{'ok' if req['ok'] else 'FAIL'}] {req['name']}: {req['message']}")
    masq = report["ipMasqAgent"]
    lines.append("[ok] ip-masq-agent" if masq["ok"] else "[FAIL] ip-masq-agent:")
    lines.extend(f"    {p}" for p in masq["problems"])
    lines.append(
        f"same-node flows checked: {report['flowsChecked']}, would break: {report['flowsBreaking']}"
    )
    for b in report["breaking"]:
        lines.append(f"  BREAKS  {_flow_text(b)} on {b['node']} (from: {', '.join(b['from'])})")
        for rule in b["blockedBy"]:
            lines.append(f"          blocked by {_rule_text(rule)}")
        if b.get("masqueraded"):
            lines.append("          masqueraded by ip-masq-agent")
        for s in b["suggestions"]:
            lines.append(
                f"          fix: {s['gcloud']}" if s.get("gcloud") else f"          {s['note']}"
            )
    lines.append(
        "verdict: " + ("something would break" if report["wouldBreak"] else "nothing would break")
    )
    return "\n".join(lines)


def as_markdown(report: dict[str, Any]) -> str:
    verdict = "**would break**" if report["wouldBreak"] else "nothing would break"
    out = [
        f"### Intra-node visibility preflight: cluster `{report['cluster']}` "
        f"({report['location']})",
        "",
        f"- Intra-node visibility now: {'on' if report['intraNodeVisibility'] else 'off'}",
        f"- Verdict: {verdict}",
        f"- Same-node flows checked: {report['flowsChecked']}; breaking: {report['flowsBreaking']}",
        "",
        "| check | result | detail |",
        "|---|---|---|",
    ]
    for req in report["requirements"]:
        out.append(f"| {req['name']} | {'ok' if req['ok'] else 'FAIL'} | {req['message']} |")
    masq = report["ipMasqAgent"]
    detail = " ".join(masq["problems"]) or "covers the Pod range"
    out.append(f"| ip-masq-agent | {'ok' if masq['ok'] else 'FAIL'} | {detail} |")
    if report["breaking"]:
        out += [
            "",
            "| source | destination | port | node | blocked by | fix |",
            "|---|---|---|---|---|---|",
        ]
        for b in report["breaking"]:
            src, dst = b["source"], b["destination"]
            rules = "<br>".join(_rule_text(r) for r in b["blockedBy"]) or (
                "ip-masq-agent" if b.get("masqueraded") else ""
            )
            fixes = "<br>".join(
                f"`{s['gcloud']}`" if s.get("gcloud") else s.get("note", "")
                for s in b["suggestions"]
            )
            out.append(
                f"| {src['namespace']}/{src['pod']} ({src['ip']}) "
                f"| {dst['namespace']}/{dst['pod']} ({dst['ip']}) "
                f"| {b['protocol']}/{b['port']} | {b['node']} | {rules} | {fixes} |"
            )
    return "\n".join(out)


@click.command("preflight")
@click.argument("cluster")
@click.option(
    "--state-dir",
    envvar="INTRANODE_STATE_DIR",
    default=None,
    help="State directory (default /var/lib/intranode; env INTRANODE_STATE_DIR).",
)
@click.option("--location", "--zone", "location", default=None, help="The cluster's location.")
@click.option("--project", default=None, help="The cluster's project (default: the daemon's).")
@click.option(
    "--seen-within",
    default="1h",
    show_default=True,
    callback=_duration,
    help="Also check flows seen this recently (flow logs, conntrack): 30m, 2h, 1d; 0 for none.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json", "yaml"]),
    default="text",
    show_default=True,
)
def preflight_command(
    cluster: str,
    state_dir: str | None,
    location: str | None,
    project: str | None,
    seen_within: float,
    fmt: str,
) -> None:
    """What enabling intra-node visibility on CLUSTER would break: same-node flows the
    firewall would block (with the rule to add), ip-masq-agent, requirements. Exits 1 when
    something would break."""
    target = Target.from_option(state_dir)
    params: dict[str, Any] = {"seenWithin": seen_within}
    if location:
        params["location"] = location
    if project:
        params["project"] = project
    try:
        report = _client(target).get(f"/intranode/v1/preflight/{cluster}", **params)
    except click.ClickException as exc:
        raise _Failed(exc.message) from exc
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(report, sort_keys=True), nl=False)
    elif fmt == "markdown":
        click.echo(as_markdown(report))
    else:
        click.echo(as_text(report))
    if report["wouldBreak"]:
        raise SystemExit(EXIT_BREAKS)
