"""One cluster's Kubernetes API as an ASGI app (served over TLS by ``KubeServers``)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from intranode.api.app import BearerAuth
from intranode.api.kube import discovery
from intranode.api.kube.exec import (
    PodExecutor,
    deny,
    exec_params,
    exec_target,
    not_running,
    refusal,
    serve_exec,
)
from intranode.api.kube.objects import ClusterObjects
from intranode.api.kube.openapi import OpenApi
from intranode.api.kube.requests import KubeApi, kube_of
from intranode.api.kube.resources import handle
from intranode.api.kube.status import (
    JSON,
    api_error_handler,
    http_error_handler,
    internal_error_handler,
    json_response,
    status_body,
    status_response,
    unknown_path,
)
from intranode.api.kube.watch import ChangeFeed
from intranode.controllers.context import Context
from intranode.domain.kube.types import GROUP_VERSIONS, PODS
from intranode.domain.resources import CLUSTER
from intranode.errors import ApiError

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
ExecutorSource = Callable[[], PodExecutor | None]


class KubeAuth(BearerAuth):
    """The daemon's bearer token, refused with Kubernetes' 401 Status (HTTP and WebSocket)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.authorized(scope):
            await self.app(scope, receive, send)
            return
        response = json_response(status_body("Unauthorized", "Unauthorized"), 401)
        if scope["type"] == "http":
            await response(scope, receive, send)
            return
        await deny(WebSocket(scope, receive, send), response)


def create_kube_app(
    ctx: Context, cluster_key: str, feed: ChangeFeed, executor: ExecutorSource
) -> Starlette:
    cluster = ctx.resources.get(CLUSTER, cluster_key)
    version = discovery.version_info(
        str(cluster.data.get("currentMasterVersion") or "") if cluster else None
    )
    openapi = OpenApi(GROUP_VERSIONS, version["gitVersion"].lstrip("v"))

    async def get_version(request: Request) -> Response:
        return json_response(kube_of(request).version)

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def openapi_index(request: Request) -> Response:
        return Response(openapi.index, media_type=JSON)

    async def openapi_doc(request: Request) -> Response:
        body = openapi.docs.get(request.path_params["path"])
        if body is None:
            raise unknown_path()
        return Response(body, media_type=JSON)

    async def openapi_v2(request: Request) -> Response:
        raise unknown_path()

    async def exec_ws(ws: WebSocket) -> None:
        api: KubeApi = ws.app.state.kube
        try:
            pod = api.objects.get(PODS, ws.path_params["namespace"], ws.path_params["name"])
            params = exec_params(ws.query_params)
            container = exec_target(pod, params.container)
        except ApiError as exc:
            await deny(ws, status_response(exc))
            return
        why = not_running(pod, container)
        if why is not None:
            await deny(ws, refusal(why))
            return
        await serve_exec(ws, pod, params, container, executor())

    routes = [
        Route("/version", get_version, methods=["GET"]),
        Route("/healthz", healthy, methods=["GET"]),
        Route("/livez", healthy, methods=["GET"]),
        Route("/readyz", healthy, methods=["GET"]),
        Route("/openapi/v3", openapi_index, methods=["GET"]),
        Route("/openapi/v3/{path:path}", openapi_doc, methods=["GET"]),
        Route("/openapi/v2", openapi_v2, methods=["GET"]),
        WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/exec", exec_ws),
        Route("/api", handle, methods=ALL_METHODS),
        Route("/api/{rest:path}", handle, methods=ALL_METHODS),
        Route("/apis", handle, methods=ALL_METHODS),
        Route("/apis/{rest:path}", handle, methods=ALL_METHODS),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: api_error_handler,
            HTTPException: http_error_handler,
            Exception: internal_error_handler,
        },
    )
    app.state.kube = KubeApi(
        ctx=ctx,
        cluster=cluster_key,
        objects=ClusterObjects(ctx, cluster_key, feed.cache),
        feed=feed,
        version=version,
    )
    app.add_middleware(KubeAuth, token=ctx.token)
    return app
