"""Placeholder: replaced by the Kubernetes endpoint manager."""

from intranode.controllers.context import Context, EndpointInfo


class KubeServers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def start(self, cluster_key: str) -> EndpointInfo:
        return EndpointInfo("127.0.0.1:0", "")

    async def stop(self, cluster_key: str) -> None:
        return None

    async def start_all(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
