"""Removing what the runtime recorded, from the records alone (``intranode down`` after a
crash, or the stale part after a restart): processes by PID *and* start time, UTS
namespaces by exact path. Nothing is looked up by name pattern.

Public API::

    async cleanup_recorded(sink, records, grace=5.0) -> list[str]
        records: {kind: {name: data}} for KIND_PROCESS, KIND_EXEC, KIND_SERVER, KIND_UTS
        (other kinds are ignored); returns "kind name" of each object removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from intranode.dataplane.runtime import process, sandbox
from intranode.dataplane.runtime.records import (
    KIND_CAPTURE,
    KIND_EXEC,
    KIND_PROCESS,
    KIND_SERVER,
    KIND_UTS,
    RecordSink,
)


async def cleanup_recorded(
    sink: RecordSink, records: Mapping[str, Mapping[str, Mapping[str, Any]]], grace: float = 5.0
) -> list[str]:
    removed: list[str] = []
    stops = []
    for kind in (KIND_EXEC, KIND_CAPTURE, KIND_PROCESS, KIND_SERVER):
        for pid_text, data in (records.get(kind) or {}).items():
            handle = process.adopt(int(pid_text), int(data.get("start_time", -1)))
            if handle is not None:
                stops.append(handle.stop(grace))
                removed.append(f"{kind} {pid_text}")
            sink.forget(kind, pid_text)
    await asyncio.gather(*stops)
    # Processes first: none of them may still be inside a namespace being removed.
    for path in records.get(KIND_UTS) or {}:
        if sandbox.is_uts_mount(Path(path)) or Path(path).exists():
            removed.append(f"{KIND_UTS} {path}")
        await asyncio.to_thread(sandbox.remove_uts, Path(path), sink)
    return removed
