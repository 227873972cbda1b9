"""Everything a controller or API handler needs, passed explicitly (no globals)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from intranode.config import Settings
from intranode.controllers.operations import OperationRunner
from intranode.controllers.placements import PlacementIndex
from intranode.store.db import Database
from intranode.store.logs import LogStore
from intranode.store.resources import ResourceStore


@dataclass(frozen=True)
class EndpointInfo:
    """Where a cluster's Kubernetes API answers: ``endpoint`` as GKE puts it in the cluster
    resource (``127.0.0.1:PORT``) and the base64 PEM of the cluster's CA."""

    endpoint: str
    ca_certificate_b64: str


class KubeEndpoints(Protocol):
    """Serves each cluster's Kubernetes API on its own TLS port (implemented by the api layer).

    ``start`` makes the cluster's CA and serving certificate the first time (kept in the store,
    so a restart keeps them and, when free, the port) and is idempotent; ``stop`` closes it.
    """

    async def start(self, cluster_key: str) -> EndpointInfo: ...

    async def stop(self, cluster_key: str) -> None: ...


class _NoEndpoints:
    async def start(self, cluster_key: str) -> EndpointInfo:
        return EndpointInfo("127.0.0.1:0", "")

    async def stop(self, cluster_key: str) -> None:
        return None


@dataclass
class Context:
    settings: Settings
    db: Database
    resources: ResourceStore
    logs: LogStore
    runner: OperationRunner
    token: str
    clock: Callable[[], float] = time.time
    endpoints: KubeEndpoints = field(default_factory=_NoEndpoints)
    # True while the node agent runs pods on the kernel; without it pods wait, and say why.
    data_plane: bool = False
    placements: PlacementIndex = field(init=False)

    def __post_init__(self) -> None:
        self.placements = PlacementIndex(self.resources)

    @classmethod
    def open(cls, settings: Settings, token: str, *, db_path: str | None = None) -> Context:
        db = Database(db_path or settings.db_path)
        return cls(
            settings=settings,
            db=db,
            resources=ResourceStore(db),
            logs=LogStore(db, retention_days=settings.log_retention_days),
            runner=OperationRunner(),
            token=token,
        )
