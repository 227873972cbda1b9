"""Container (GKE) API v1 on the wire: clusters, node pools, operations and server config, under
both ``/v1/projects/{p}/locations/{l}/...`` and the legacy ``/v1/projects/{p}/zones/{z}/...``.

Query parameters such as ``alt``, ``$alt`` (``json;enum-encoding=int``) and ``prettyPrint`` are
ignored; answers always carry enum names, which every client parses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from intranode.api.deps import CtxDep, read_model
from intranode.controllers import clusters, serviceusage
from intranode.controllers.clusters import Where
from intranode.controllers.context import Context
from intranode.domain import container_messages as msgs

router = APIRouter()

Doc = dict[str, Any]


def _routes(form: str) -> None:
    base = f"/v1/projects/{{project}}/{form}/{{location}}"

    def where(ctx: Context, project: str, location: str) -> Where:
        # Google takes a project's number where it takes its id.
        return Where(serviceusage.resolve_project(ctx, project), location, form)

    async def create_cluster(request: Request, ctx: CtxDep, project: str, location: str) -> Doc:
        body = await read_model(request, msgs.CreateClusterRequest)
        return clusters.create_cluster(ctx, where(ctx, project, location), body.cluster)

    async def list_clusters(ctx: CtxDep, project: str, location: str) -> Doc:
        found = clusters.list_clusters(ctx, where(ctx, project, location))
        return {"clusters": found} if found else {}

    async def get_cluster(ctx: CtxDep, project: str, location: str, cluster: str) -> Doc:
        return clusters.get_cluster(ctx, where(ctx, project, location), cluster)

    async def update_cluster(
        request: Request, ctx: CtxDep, project: str, location: str, cluster: str
    ) -> Doc:
        body = await read_model(request, msgs.UpdateClusterRequest)
        return clusters.update_cluster(ctx, where(ctx, project, location), cluster, body.update)

    async def delete_cluster(ctx: CtxDep, project: str, location: str, cluster: str) -> Doc:
        return clusters.delete_cluster(ctx, where(ctx, project, location), cluster)

    async def list_node_pools(ctx: CtxDep, project: str, location: str, cluster: str) -> Doc:
        pools = clusters.list_node_pools(ctx, where(ctx, project, location), cluster)
        return {"nodePools": pools} if pools else {}

    async def get_node_pool(
        ctx: CtxDep, project: str, location: str, cluster: str, pool: str
    ) -> Doc:
        return clusters.get_node_pool(ctx, where(ctx, project, location), cluster, pool)

    async def create_node_pool(
        request: Request, ctx: CtxDep, project: str, location: str, cluster: str
    ) -> Doc:
        body = await read_model(request, msgs.CreateNodePoolRequest)
        at = where(ctx, project, location)
        return clusters.create_node_pool(ctx, at, cluster, body.node_pool)

    async def delete_node_pool(
        ctx: CtxDep, project: str, location: str, cluster: str, pool: str
    ) -> Doc:
        return clusters.delete_node_pool(ctx, where(ctx, project, location), cluster, pool)

    async def list_operations(ctx: CtxDep, project: str, location: str) -> Doc:
        ops = clusters.list_operations(ctx, where(ctx, project, location))
        return {"operations": ops} if ops else {}

    async def get_operation(ctx: CtxDep, project: str, location: str, operation: str) -> Doc:
        return clusters.get_operation(ctx, where(ctx, project, location), operation)

    async def cancel_operation(
        request: Request, ctx: CtxDep, project: str, location: str, operation: str
    ) -> Doc:
        await read_model(request, msgs.CancelOperationRequest)
        return clusters.cancel_operation(ctx, where(ctx, project, location), operation)

    async def server_config(ctx: CtxDep, project: str, location: str) -> Doc:
        return clusters.server_config(ctx, where(ctx, project, location))

    table: list[tuple[str, str, Callable[..., Any]]] = [
        ("POST", "/clusters", create_cluster),
        ("GET", "/clusters", list_clusters),
        ("GET", "/clusters/{cluster}", get_cluster),
        ("PUT", "/clusters/{cluster}", update_cluster),
        ("DELETE", "/clusters/{cluster}", delete_cluster),
        ("GET", "/clusters/{cluster}/nodePools", list_node_pools),
        ("POST", "/clusters/{cluster}/nodePools", create_node_pool),
        ("GET", "/clusters/{cluster}/nodePools/{pool}", get_node_pool),
        ("DELETE", "/clusters/{cluster}/nodePools/{pool}", delete_node_pool),
        ("POST", "/operations/{operation}:cancel", cancel_operation),
        ("GET", "/operations", list_operations),
        ("GET", "/operations/{operation}", get_operation),
        ("GET", "/serverConfig" if form == "locations" else "/serverconfig", server_config),
    ]
    for method, path, endpoint in table:
        router.add_api_route(
            base + path, endpoint, methods=[method], name=f"container.{form}.{endpoint.__name__}"
        )


_routes("locations")
_routes("zones")
