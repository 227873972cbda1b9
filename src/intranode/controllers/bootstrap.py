"""What a new project holds before the user does anything: enabled services, the default
auto-mode network with its subnets and firewall rules. Idempotent: run at every start."""

from __future__ import annotations

from intranode.controllers import compute, serviceusage
from intranode.controllers.context import Context


def bootstrap(ctx: Context) -> None:
    project = ctx.settings.project
    serviceusage.seed_project(ctx, project)
    compute.seed_project(ctx, project)
