"""How the runtime writes down what it creates, before it creates it.

The runtime needs only this of a ledger: ``record`` before an object exists (so a crash between
the two leaves a record that cleanup can act on), ``forget`` after it is gone. Names are exact
(a path or a PID), never patterns. ``LedgerSink`` puts these records in the data plane's
``Ledger`` (``dataplane/protocol.py``; the state database in the daemon) as rows with
``netns=""`` (so deleting a pod's network namespace never drops them: the mount or process may
outlive it) and string data; ``by_kind()`` reads them back for adoption and cleanup.

A PID cannot be recorded before its process exists; container and server processes are
recorded right after ``fork``, with their start time, so a reused PID is never mistaken for
ours.

Public API::

    RecordSink (protocol)
    LedgerSink(ledger, owner): RecordSink over the data plane's Ledger; .by_kind()
    MemoryRecords: a dict-backed sink for tests; .of_kind(kind)
    KIND_UTS, KIND_PROCESS, KIND_EXEC, KIND_SERVER, KIND_CAPTURE, RUNTIME_KINDS
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from intranode.dataplane.protocol import Ledger

# A bind-mounted UTS namespace: name = the file's path.
KIND_UTS = "uts-namespace"
# A container's process: name = its PID; data = start time, pod uid, container, restart count,
# started_at and container ID (what adoption needs).
KIND_PROCESS = "process"
# A ``kubectl exec`` command: name = its PID; data = start time, pod and container. Exec
# sessions die with the daemon's WebSocket, so a restarted daemon stops what is left of them.
KIND_EXEC = "exec-process"
# The shared hello-app/web server: name = its PID; data = start time and control socket.
KIND_SERVER = "pod-server"
# A Packet Mirroring collector's capture (tcpdump in its namespace): name = its PID; data =
# start time and namespace. A restarted daemon stops what is left and starts captures anew.
KIND_CAPTURE = "capture-process"
RUNTIME_KINDS = (KIND_UTS, KIND_PROCESS, KIND_EXEC, KIND_SERVER, KIND_CAPTURE)

Data = Mapping[str, str | int]
ByKind = dict[str, dict[str, dict[str, str | int]]]


class RecordSink(Protocol):
    def record(self, kind: str, name: str, data: Data) -> None: ...

    def forget(self, kind: str, name: str) -> None: ...


class LedgerSink:
    """The runtime's records as rows of the data plane's ledger, under ``owner``."""

    def __init__(self, ledger: Ledger, owner: str) -> None:
        self.ledger = ledger
        self.owner = owner

    def record(self, kind: str, name: str, data: Data) -> None:
        self.ledger.record(kind, "", name, self.owner, {k: str(v) for k, v in data.items()})

    def forget(self, kind: str, name: str) -> None:
        self.ledger.forget(kind, "", name)

    def by_kind(self) -> ByKind:
        """``{kind: {name: data}}`` of this owner's runtime records (adopt= / cleanup input)."""
        out: ByKind = {kind: {} for kind in RUNTIME_KINDS}
        for entry in self.ledger.entries(self.owner):
            if entry.kind in out and entry.netns == "":
                out[entry.kind][entry.name] = dict(entry.data)
        return out


class MemoryRecords:
    """A ``RecordSink`` that keeps the records in a dict: ``{(kind, name): data}``."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, str | int]] = {}

    def record(self, kind: str, name: str, data: Data) -> None:
        self.items[(kind, name)] = dict(data)

    def forget(self, kind: str, name: str) -> None:
        self.items.pop((kind, name), None)

    def of_kind(self, kind: str) -> dict[str, dict[str, str | int]]:
        return {name: data for (k, name), data in self.items.items() if k == kind}
