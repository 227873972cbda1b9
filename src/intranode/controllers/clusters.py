"""Placeholder: replaced by the cluster controller."""

from intranode.controllers.context import Context


async def recover(ctx: Context) -> None:
    return None
