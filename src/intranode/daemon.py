"""The intranode daemon: Google's APIs on one loopback port, each cluster's Kubernetes API on
its own TLS port, background operations, and (from the data-plane issue on) the kernel.

Run as ``python -m intranode.daemon --state-dir DIR --port N --project ID``; ``intranode up``
does that for users.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from intranode.api.app import create_app
from intranode.api.kube.server import KubeServers
from intranode.config import DEFAULT_PORT, DEFAULT_PROJECT, Settings, ensure_token
from intranode.controllers import bootstrap, clusters, connectivity, preflight
from intranode.controllers.context import Context
from intranode.controllers.firewall_logs import FirewallLogWriter
from intranode.controllers.flowlogs import FlowCollector
from intranode.controllers.nodeagent import NodeAgent
from intranode.dataplane.linux import LinuxDataplane
from intranode.dataplane.linux.conntrack import LinuxFlowSource
from intranode.dataplane.linux.nflog import LinuxNflogSource
from intranode.dataplane.linux.prober import LinuxProber
from intranode.store.ledger import SqliteLedger

log = logging.getLogger("intranode.daemon")


class _Server(uvicorn.Server):
    """Signals are the daemon's, so that shutdown also stops endpoints and operations."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="intranode-daemon")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--project", default=DEFAULT_PROJECT)
    p.add_argument("--prefix", default="in-")
    p.add_argument(
        "--no-dataplane",
        action="store_true",
        help="serve the APIs only: no namespaces, pods stay Pending (no root needed)",
    )
    p.add_argument("--log-retention-days", type=_positive, default=30)
    p.add_argument("--organization-id", type=_numeric_id, default=Settings.organization_id)
    p.add_argument("--folder-id", type=_numeric_id, default=Settings.folder_id)
    a = p.parse_args(argv)
    return Settings(
        state_dir=Path(a.state_dir).resolve(),
        port=a.port,
        project=a.project,
        prefix=a.prefix,
        dataplane=not a.no_dataplane,
        log_retention_days=a.log_retention_days,
        organization_id=a.organization_id,
        folder_id=a.folder_id,
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _numeric_id(text: str) -> str:
    # Organization and folder ids are decimal numbers on Google Cloud.
    if not text.isdigit() or text.startswith("0"):
        raise argparse.ArgumentTypeError(f"must be a decimal number, not {text!r}")
    return text


async def serve(settings: Settings) -> None:
    token = ensure_token(settings.token_path)
    ctx = Context.open(settings, token)
    kube = KubeServers(ctx)
    ctx.endpoints = kube
    agent = _node_agent(ctx) if settings.dataplane else None
    ctx.data_plane = agent is not None
    bootstrap.bootstrap(ctx)
    app = create_app(ctx)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="websockets-sansio",
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            raise SystemExit(f"the API could not listen on {settings.host}:{settings.port}")
        await asyncio.sleep(0.02)
    await kube.start_all()
    await clusters.recover(ctx)
    await connectivity.recover(ctx)
    flows: FlowCollector | None = None
    fwlogs: FirewallLogWriter | None = None
    stop_flows = asyncio.Event()
    background: list[asyncio.Task[None]] = []
    if agent is not None:
        await agent.start()
        kube.executor = agent.executor
        connectivity.use_prober(ctx, LinuxProber())
        preflight.use_flow_source(ctx, LinuxFlowSource())
        # One nflog reader per router feeds both: the firewall's denied packets go to the
        # flow-log collector (egress-denied flows keep their SRC record) and to Firewall Rules
        # Logging. The writer first stops readers a crash left holding the nflog groups.
        nflog = LinuxNflogSource()
        fwlogs = FirewallLogWriter(ctx, nflog)
        flows = FlowCollector(ctx, LinuxFlowSource(), denied=nflog)
        firewalls = agent.firewalls
        background = [
            asyncio.create_task(flows.run(stop_flows), name="flow logs"),
            asyncio.create_task(fwlogs.run(stop_flows, lambda: firewalls), name="firewall logs"),
        ]
    settings.pid_file.write_text(f"{os.getpid()}\n")
    settings.daemon_file.write_text(settings.to_json())
    log.warning("intranode listening on %s (state %s)", settings.base_url, settings.state_dir)

    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopper}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await ctx.runner.shutdown()
    stop_flows.set()
    for task in background:
        await task
    if flows is not None and fwlogs is not None and agent is not None:
        # Report what crossed the routers up to now before they go.
        await asyncio.to_thread(flows.close, flush=True)
        await asyncio.to_thread(fwlogs.close, dict(agent.firewalls))
    if agent is not None:
        # intranode down: no namespace, link, process or mount of ours may stay behind.
        await agent.stop(teardown_kernel=True)
    await kube.shutdown()
    await serving
    settings.pid_file.unlink(missing_ok=True)
    ctx.db.close()


def _node_agent(ctx: Context) -> NodeAgent:
    if os.geteuid() != 0:
        raise SystemExit(
            "intranode needs root to create network namespaces for nodes, pods and the VPC "
            "router (or start it with --no-dataplane to serve the APIs only)"
        )
    ledger = SqliteLedger(ctx.db)
    return NodeAgent(ctx, LinuxDataplane(ledger), ledger)


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO if os.environ.get("INTRANODE_DEBUG") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The collector makes many short-lived objects per flow; collecting the young generation
    # every 10,000 allocations instead of 700 cut its CPU per flow by 16% (bench/flowlogs.py).
    gc.set_threshold(10_000, 10, 10)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
