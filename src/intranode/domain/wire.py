"""Request bodies parsed as Google's front end parses them, with its error text.

Unknown names are refused (``Invalid JSON payload received. Unknown name "x" at 'resource':
Cannot find field.``), numbers may arrive as JSON numbers or decimal strings (proto3 JSON),
booleans must be booleans, and paths are printed in proto form (``cluster.node_pools[0]``).
Every API module parses its bodies through :func:`parse_message`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from intranode.errors import InvalidArgument


# Strict bodies --------------------------------------------------------------------------------
def _json_int(value: Any) -> Any:
    """proto3 JSON integers: numbers or decimal strings; never booleans."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "not an integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise PydanticCustomError("int_parsing", "not an integer") from None
    return value


def _json_float(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "not a number")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_int)]
JsonFloat = Annotated[float, BeforeValidator(_json_float)]


class Wire(BaseModel):
    """A request body message: camelCase names (snake_case accepted too, as proto3 JSON
    parsers do), unknown names refused."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )

    def given(self, name: str) -> bool:
        """Whether the body carried this field (PATCH touches only given fields)."""
        return name in self.model_fields_set


M = TypeVar("M", bound=BaseModel)

_PROTO_TYPES = (
    ("int", "TYPE_INT32"),
    ("float", "TYPE_DOUBLE"),
    ("bool", "TYPE_BOOL"),
    ("string", "TYPE_STRING"),
    ("list", "TYPE_MESSAGE"),
    ("model", "TYPE_MESSAGE"),
    ("dict", "TYPE_MESSAGE"),
)


def parse_message(model: type[M], data: Any, root: str = "") -> M:
    """Parse a body into ``model`` or raise 400 with the front end's wording; ``root`` names
    the top of the body in messages (Compute says ``resource``; others name nothing)."""
    if not isinstance(data, dict):
        raise InvalidArgument(
            "Invalid JSON payload received. Expected an object"
            + (f" at '{root}'." if root else " at the top level."),
            reason="parseError",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgument(_describe(exc, root), reason="parseError") from exc


def _describe(exc: ValidationError, root: str) -> str:
    lines = []
    for e in exc.errors():
        loc = list(e.get("loc", ()))
        kind = str(e.get("type", ""))
        if kind == "extra_forbidden":
            where = _proto_path(root, loc[:-1])
            at = f" at '{where}'" if where else ""
            lines.append(
                f'Invalid JSON payload received. Unknown name "{loc[-1]}"{at}: Cannot find field.'
            )
            continue
        proto = next((t for p, t in _PROTO_TYPES if kind.startswith(p)), "TYPE_STRING")
        lines.append(
            f"Invalid value at '{_proto_path(root, loc)}' ({proto}), {json.dumps(e.get('input'))}"
        )
    return "\n".join(lines) or "Invalid JSON payload received."


def _proto_path(root: str, loc: Sequence[int | str]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", part).lower()
            path += f".{name}" if path else name
    return path
