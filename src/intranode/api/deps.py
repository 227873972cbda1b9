"""Request helpers shared by the API modules: the context, strict JSON bodies."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from intranode.controllers.context import Context
from intranode.domain.wire import parse_message
from intranode.errors import InvalidArgument

M = TypeVar("M", bound=BaseModel)


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


def _no_constant(name: str) -> Any:
    # Python reads NaN and Infinity; JSON (and Google's parser) has no such tokens.
    raise ValueError(f"Unexpected token {name}")


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw, parse_constant=_no_constant)
    # ValueError too: Python refuses integers over 4,300 digits, which is the caller's fault.
    except ValueError as exc:
        raise InvalidArgument(f"Invalid JSON payload received. {exc}", reason="parseError") from exc


async def read_model(request: Request, model: type[M]) -> M:
    """Parse a request body into ``model`` with Google's error text for bad input."""
    data = await read_json(request)
    return parse_model(data, model)


def parse_model(data: Any, model: type[M]) -> M:
    return parse_message(model, data)
