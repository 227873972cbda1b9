"""Placeholder: replaced by the Service Usage controller.

Contract other controllers rely on: ``require_enabled(ctx, project, service)`` raises
``PermissionDenied`` exactly as Google does when ``service`` is disabled in ``project``.
"""

from intranode.controllers.context import Context


def seed_project(ctx: Context, project: str) -> None:
    return None


def require_enabled(ctx: Context, project: str, service: str) -> None:
    return None
