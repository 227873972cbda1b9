"""The live check's result (``probingDetails``): what real probe packets between the two
endpoints did, set against the configuration analysis.

``result`` (Google's ``ProbingResult``):

- ``REACHABLE`` / ``UNREACHABLE``: 95 % or more of the probes arrived / were lost, and the
  configuration analysis agrees (or could not decide: ``AMBIGUOUS``, ``UNDETERMINED``);
- ``REACHABILITY_INCONSISTENT``: between 5 % and 95 % arrived, or the packets and the
  analysis disagree (the analysis says ``REACHABLE`` and the probes were lost, or the other
  way round). intranode's use of this value for a disagreement is its own: both answers come
  from the same machine here, so a disagreement is a finding;
- ``UNDETERMINED``: no probe could be sent. ``abortCause`` ``NO_SOURCE_LOCATION`` when the
  source is nowhere intranode can send from (the internet, an address no Pod or node holds);
  otherwise ``error`` (a google.rpc.Status) says why: intranode runs without its data plane
  (``--no-dataplane``; code 14, UNAVAILABLE), the protocol has no probe (code 12,
  UNIMPLEMENTED), the source's namespace is gone (code 5, NOT_FOUND).

Latency is one way, in microseconds (``latencyMicros`` is an int64, so a JSON string): the
50th and 95th percentiles of the probes that arrived.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intranode.domain.connectivity.steps import EndpointInfo, Json, Result

PERCENTILES = (50, 95)
REACHED = 0.95  # at least this share arrived: reachable
LOST = 0.05  # at most this share arrived: unreachable
_CODES = {"UNAVAILABLE": 14, "UNIMPLEMENTED": 12, "NOT_FOUND": 5, "INTERNAL": 13}


@dataclass(frozen=True)
class ProbeResult:
    """What a prober saw: probes sent, how many reached the destination, the one-way latency
    of each that did (microseconds), and an error when none could be sent."""

    sent: int
    delivered: int
    latencies_us: tuple[int, ...] = ()
    error: str = ""
    error_status: str = "INTERNAL"


@dataclass(frozen=True)
class NotProbed:
    """Why no probe was sent: ``status`` names the google.rpc code, or ``abort_cause`` is
    ``NO_SOURCE_LOCATION``."""

    message: str
    status: str = "UNAVAILABLE"
    abort_cause: str = ""


def percentile(values: Sequence[int], percent: int) -> int:
    """Nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def packets_say(probe: ProbeResult) -> str:
    share = probe.delivered / probe.sent if probe.sent else 0.0
    if share >= REACHED:
        return "REACHABLE"
    if share <= LOST:
        return "UNREACHABLE"
    return "REACHABILITY_INCONSISTENT"


def probing_result(analysis: Result, probe: ProbeResult) -> str:
    said = packets_say(probe)
    if said != "REACHABILITY_INCONSISTENT" and analysis in ("REACHABLE", "UNREACHABLE"):
        return said if said == analysis else "REACHABILITY_INCONSISTENT"
    return said


def probing_details(
    analysis: Result,
    outcome: ProbeResult | NotProbed,
    endpoint: EndpointInfo,
    verify_time: str,
) -> Json:
    """The ``probingDetails`` of a run."""
    out: dict[str, Any] = {"verifyTime": verify_time}
    if isinstance(outcome, NotProbed):
        out["result"] = "UNDETERMINED"
        if outcome.abort_cause:
            out["abortCause"] = outcome.abort_cause
        else:
            out["error"] = _status(outcome.status, outcome.message)
        out["endpointInfo"] = endpoint.to_json()
        return out
    if outcome.error:
        out["result"] = "UNDETERMINED"
        out["error"] = _status(outcome.error_status, outcome.error)
        out["endpointInfo"] = endpoint.to_json()
        return out
    out["result"] = probing_result(analysis, outcome)
    out["sentProbeCount"] = outcome.sent
    out["successfulProbeCount"] = outcome.delivered
    out["endpointInfo"] = endpoint.to_json()
    if outcome.latencies_us:
        out["probingLatency"] = {
            "latencyPercentiles": [
                {"percent": p, "latencyMicros": str(percentile(outcome.latencies_us, p))}
                for p in PERCENTILES
            ]
        }
    return out


def _status(status: str, message: str) -> Json:
    return {"code": _CODES.get(status, 13), "message": message}
