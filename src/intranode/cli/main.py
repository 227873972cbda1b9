"""``intranode``: up, down, status, env, doctor."""

from __future__ import annotations

import os
import sys

import click

from intranode.cli import daemonctl
from intranode.cli.client import DaemonClient
from intranode.cli.flows import flows_command
from intranode.cli.gcloud_env import console_link, export_lines, write_gcloud_config
from intranode.cli.mirror import mirror
from intranode.cli.preflight import preflight_command
from intranode.cli.target import Target
from intranode.config import DEFAULT_PORT, DEFAULT_PROJECT

state_dir_option = click.option(
    "--state-dir",
    envvar="INTRANODE_STATE_DIR",
    default=None,
    help="State directory (default /var/lib/intranode; env INTRANODE_STATE_DIR).",
)


@click.group()
@click.version_option(package_name="intranode")
def cli() -> None:
    """GKE networking with intra-node visibility on this machine, driven by the real gcloud
    and kubectl."""


@cli.command()
@state_dir_option
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--project", default=DEFAULT_PROJECT, show_default=True)
@click.option("--detach", is_flag=True, help="Return once the API answers.")
@click.option(
    "--prefix",
    default="in-",
    show_default=True,
    help="Prefix of every kernel object's name (each daemon on a machine needs its own).",
)
@click.option(
    "--no-dataplane",
    is_flag=True,
    help="Serve the APIs only: no namespaces, pods stay Pending (no root needed).",
)
@click.option(
    "--log-retention-days",
    type=click.IntRange(min=1),
    default=None,
    help="Keep log entries this many days (default 30, as Cloud Logging's _Default bucket).",
)
@click.option(
    "--organization-id",
    default=None,
    help="Id of the emulated organization that holds the project (hierarchical firewall policies).",
)
@click.option("--folder-id", default=None, help="Id of the emulated folder that holds the project.")
def up(
    state_dir: str | None,
    port: int,
    project: str,
    detach: bool,
    prefix: str,
    no_dataplane: bool,
    log_retention_days: int | None,
    organization_id: str | None,
    folder_id: str | None,
) -> None:
    """Start the daemon (root: it creates network namespaces)."""
    if not no_dataplane and os.geteuid() != 0:
        raise click.ClickException(
            "intranode needs root: it creates network namespaces for nodes, pods and the VPC "
            "router (run with sudo, or use --no-dataplane to serve the APIs only)"
        )
    target = Target.from_option(state_dir)
    running = target.pid()
    if running is not None:
        raise click.ClickException(
            f"a daemon (pid {running}) already runs with state dir {target.state_dir}"
        )
    if not daemonctl.port_free(port):
        raise click.ClickException(
            f"port {port} on 127.0.0.1 is in use; choose another with --port"
        )
    options = {
        "log-retention-days": log_retention_days,
        "organization-id": organization_id,
        "folder-id": folder_id,
    }
    argv = daemonctl.daemon_argv(target.state_dir, port, project, prefix, not no_dataplane, options)
    if not detach:
        os.execv(argv[0], argv)
    pid = daemonctl.start_detached(target, argv, port)
    settings = target.settings()
    write_gcloud_config(settings)
    click.echo(f"intranode is up (pid {pid}) at {settings.base_url}, state in {target.state_dir}")
    click.echo('Point gcloud and kubectl at it:  eval "$(intranode env)"', err=True)


@cli.command()
@state_dir_option
@click.option("--purge", is_flag=True, help="Also delete the state directory.")
def down(state_dir: str | None, purge: bool) -> None:
    """Stop the daemon; it removes what it created. State is kept unless --purge."""
    target = Target.from_option(state_dir)
    stopped = daemonctl.stop(target)
    click.echo("intranode stopped" if stopped else "no intranode daemon was running")
    if purge:
        daemonctl.purge(target)
        click.echo(f"removed {target.state_dir}")


@cli.command()
@state_dir_option
def env(state_dir: str | None) -> None:
    """Print export lines pointing gcloud and kubectl at the daemon, and the console's login
    link (on stderr, so that ``eval "$(intranode env)"`` shows it and does not run it)."""
    target = Target.from_option(state_dir)
    settings = target.settings()
    write_gcloud_config(settings)
    for line in export_lines(settings):
        click.echo(line)
    link = console_link(settings)
    if link is not None:
        click.echo(f"intranode console: {link}", err=True)


@cli.command()
@state_dir_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def status(state_dir: str | None, fmt: str) -> None:
    """The daemon, its clusters, nodes and pods at a glance."""
    target = Target.from_option(state_dir)
    data = DaemonClient(target).get("/intranode/v1/status")
    if fmt == "json":
        import json

        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    from intranode.cli.render import print_status

    print_status(data, pid=target.pid())


@cli.command()
def doctor() -> None:
    """Check this machine for what intranode needs."""
    from rich.console import Console
    from rich.table import Table

    from intranode.cli.doctor import run_checks

    checks = run_checks()
    table = Table("check", "found", "status", "to fix")
    for c in checks:
        mark = "ok" if c.ok else ("MISSING" if c.required else "optional")
        table.add_row(c.name, c.found, mark, "" if c.ok else c.fix)
    Console().print(table)
    if any(c.required and not c.ok for c in checks):
        sys.exit(1)


cli.add_command(flows_command)
cli.add_command(mirror)
cli.add_command(preflight_command)


def main() -> None:
    cli(prog_name="intranode")
