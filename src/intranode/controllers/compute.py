"""Placeholder: replaced by the Compute controller."""

from intranode.controllers.context import Context


def seed_project(ctx: Context, project: str) -> None:
    return None
