"""Each cluster's Kubernetes API on its own TLS port of 127.0.0.1 (``KubeEndpoints``).

The first start of a cluster makes its CA and serving certificate and keeps them, with the
port, in the store (kind ``CLUSTER_SECRET``), so a restarted daemon serves the same endpoint
that gcloud already wrote into kubeconfig: the same port when it is still free.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import logging
import os
import re
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from intranode.api.kube.app import create_kube_app
from intranode.api.kube.exec import PodExecutor
from intranode.api.kube.tls import ClusterPki, make_pki
from intranode.api.kube.watch import ChangeFeed
from intranode.controllers.context import Context, EndpointInfo
from intranode.controllers.pods import ensure_system_namespaces
from intranode.domain.resources import CLUSTER, CLUSTER_SECRET
from intranode.errors import Unavailable

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_SERVING_STATES = ("RUNNING", "RECONCILING", 2, 3)
_DELETING_STATES = ("STOPPING", 4)
_PORT_TRIES = 200


class _QuietRefusals(logging.Filter):
    """uvicorn logs a refused WebSocket upgrade (kubectl exec into a pod that is not running)
    as an error, and kubectl's SPDY fallback as an unsupported upgrade; both are answered."""

    _NOISE = (
        "ASGI callable returned without completing handshake.",
        "Unsupported upgrade request.",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self._NOISE


_QUIET = _QuietRefusals()


class _Server(uvicorn.Server):
    """Signals belong to the daemon (see daemon.py)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class _Running:
    server: _Server
    task: asyncio.Task[None]
    info: EndpointInfo


def safe_name(cluster_key: str) -> str:
    """``projects/p/locations/l/clusters/c`` -> ``p_l_c`` (a directory name)."""
    parts = cluster_key.split("/")
    name = "_".join(parts[1::2]) if len(parts) % 2 == 0 else cluster_key
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _bind(port: int) -> socket.socket | None:
    # proto=IPPROTO_TCP: asyncio turns Nagle off only on sockets that say they are TCP, and
    # without that a response's body waits for a delayed ACK (+40 ms per request).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            return None
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class KubeServers:
    """Starts, stops and keeps track of every cluster's Kubernetes API endpoint."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.feed = ChangeFeed(ctx.resources)
        # The data plane registers the executor that runs ``kubectl exec`` commands in pods.
        self.executor: PodExecutor | None = None
        self._running: dict[str, _Running] = {}
        self._lock = asyncio.Lock()
        logging.getLogger("uvicorn.error").addFilter(_QUIET)

    def _folder(self, cluster_key: str) -> Path:
        return self.ctx.settings.state_dir / "clusters" / safe_name(cluster_key)

    def _pki(self, cluster_key: str) -> tuple[ClusterPki, int]:
        res = self.ctx.resources.get(CLUSTER_SECRET, cluster_key)
        if res is not None:
            return ClusterPki.from_dict(res.data["pki"]), int(res.data.get("port") or 0)
        pki = make_pki(cluster_key.rsplit("/", 1)[-1])
        self.ctx.resources.put(
            CLUSTER_SECRET, cluster_key, cluster_key, {"pki": pki.to_dict(), "port": 0}
        )
        return pki, 0

    def _listen(self, cluster_key: str, stored_port: int) -> socket.socket:
        candidates: list[int] = [stored_port] if stored_port else []
        base = self.ctx.settings.kube_port_base
        if base:
            candidates += [p for p in range(base, base + _PORT_TRIES) if p != stored_port]
        candidates.append(0)
        for port in candidates:
            sock = _bind(port)
            if sock is not None:
                return sock
        raise Unavailable(f"no free port on {HOST} for the Kubernetes API of {cluster_key}")

    async def start(self, cluster_key: str) -> EndpointInfo:
        async with self._lock:
            running = self._running.get(cluster_key)
            if running is not None and not running.task.done():
                return running.info
            pki, stored_port = self._pki(cluster_key)
            sock = self._listen(cluster_key, stored_port)
            port = int(sock.getsockname()[1])
            if port != stored_port:
                self.ctx.resources.put(
                    CLUSTER_SECRET, cluster_key, cluster_key, {"pki": pki.to_dict(), "port": port}
                )
            folder = self._folder(cluster_key)
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            cert, key = folder / "apiserver.crt", folder / "apiserver.key"
            _write_private(cert, pki.cert)
            _write_private(key, pki.key)
            ensure_system_namespaces(self.ctx, cluster_key)
            app = create_kube_app(self.ctx, cluster_key, self.feed, lambda: self.executor)
            app.state.kube.objects.purge_terminating()
            config = uvicorn.Config(
                app,
                ssl_certfile=str(cert),
                ssl_keyfile=str(key),
                log_level="warning",
                access_log=False,
                lifespan="off",
                ws="websockets-sansio",
                timeout_graceful_shutdown=2,
            )
            server = _Server(config)
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started:
                if task.done():
                    sock.close()
                    exc = task.exception()
                    raise Unavailable(f"the Kubernetes API of {cluster_key} could not start: {exc}")
                await asyncio.sleep(0.01)
            info = EndpointInfo(f"{HOST}:{port}", base64.b64encode(pki.ca_cert.encode()).decode())
            self._running[cluster_key] = _Running(server, task, info)
            log.info("Kubernetes API of %s on https://%s", cluster_key, info.endpoint)
            return info

    async def stop(self, cluster_key: str) -> None:
        """Close the endpoint. A cluster being deleted (gone, or STOPPING) also loses its CA,
        serving key and port, as a re-created GKE cluster gets new ones."""
        async with self._lock:
            running = self._running.pop(cluster_key, None)
            if running is not None:
                self.feed.close_cluster(cluster_key)
                running.server.should_exit = True
                try:
                    await asyncio.wait_for(asyncio.shield(running.task), timeout=5)
                except (TimeoutError, asyncio.CancelledError):
                    running.server.force_exit = True
                    running.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await running.task
            cluster = self.ctx.resources.get(CLUSTER, cluster_key)
            if cluster is None or cluster.data.get("status") in _DELETING_STATES:
                self.ctx.resources.delete(CLUSTER_SECRET, cluster_key)
                shutil.rmtree(self._folder(cluster_key), ignore_errors=True)

    def endpoint(self, cluster_key: str) -> EndpointInfo | None:
        running = self._running.get(cluster_key)
        return running.info if running is not None else None

    async def start_all(self) -> None:
        """Serve every cluster that is up (at daemon start)."""
        for res in self.ctx.resources.find(CLUSTER):
            if res.data.get("status") in _SERVING_STATES:
                try:
                    await self.start(res.key)
                except Exception:  # one broken cluster must not keep the others down
                    log.exception("cannot start the Kubernetes API of %s", res.key)

    async def shutdown(self) -> None:
        for key in list(self._running):
            await self.stop(key)
        self.feed.close()
