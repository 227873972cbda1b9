"""Request helpers shared by the API modules: the context, strict JSON bodies."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from intranode.controllers.context import Context
from intranode.errors import InvalidArgument

M = TypeVar("M", bound=BaseModel)


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"Invalid JSON payload received. {exc}", reason="parseError") from exc


async def read_model(request: Request, model: type[M]) -> M:
    """Parse a request body into ``model`` with Google's error text for bad input."""
    data = await read_json(request)
    return parse_model(data, model)


def parse_model(data: Any, model: type[M]) -> M:
    if not isinstance(data, dict):
        raise InvalidArgument(
            "Invalid JSON payload received. Expected an object at the top level.",
            reason="parseError",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgument(describe_pydantic(exc)) from exc


def describe_pydantic(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ())]
        if e.get("type") == "extra_forbidden":
            parent = ".".join(loc[:-1])
            parts.append(
                f'Invalid JSON payload received. Unknown name "{loc[-1] if loc else ""}"'
                + (f" at '{parent}'" if parent else "")
                + ": Cannot find field."
            )
        else:
            value = e.get("input")
            try:
                shown = json.dumps(value)
            except (TypeError, ValueError):
                shown = repr(value)
            parts.append(
                f"Invalid value at '{'.'.join(loc)}' ({shown}): {e.get('msg', 'invalid value')}"
            )
    return "\n".join(parts) or "Invalid JSON payload received."
