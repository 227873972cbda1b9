"""The connections a namespace's conntrack holds now, for the traffic map: the VPC router's
(what crossed the VPC) and each node's (everything that passed through the node, including
pod-to-pod traffic that never left it).

Lines are read with the data plane's own parser
(:func:`intranode.dataplane.linux.conntrack.parse_line`); the map adds what that parser leaves
out, the state and the remaining timeout, to tell how long a connection has been idle: the
kernel resets an entry's timeout on every packet, so ``full timeout - remaining`` is the time
since its last packet. The full timeouts are the kernel's defaults (a sysctl can change them;
intranode sets none).

Node namespaces keep no byte counters (``nf_conntrack_acct`` is on in the routers only), so
connections seen only there carry no byte counts.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Protocol

from intranode.dataplane.linux.conntrack import OUTPUT, ParseError, parse_line
from intranode.domain.flowlogs.observations import Counters, FiveTuple
from intranode.errors import DataplaneError

LIST_TIMEOUT = 5.0  # seconds for one listing
_STATE = re.compile(r"<state>([A-Z_]+)</state>")
_TIMEOUT = re.compile(r"<timeout>(\d+)</timeout>")

# Linux's default conntrack timeouts (seconds), by TCP state; other protocols below.
TCP_TIMEOUTS = {
    "SYN_SENT": 120,
    "SYN_RECV": 60,
    "ESTABLISHED": 432000,
    "FIN_WAIT": 120,
    "CLOSE_WAIT": 60,
    "LAST_ACK": 30,
    "TIME_WAIT": 120,
    "CLOSE": 10,
    "SYN_SENT2": 120,
}
UDP_TIMEOUT, UDP_STREAM_TIMEOUT, ICMP_TIMEOUT, GENERIC_TIMEOUT = 30, 120, 30, 600


@dataclass(frozen=True)
class Connection:
    original: FiveTuple
    orig_counters: Counters
    reply_counters: Counters
    state: str
    idle: float  # seconds since the last packet

    @property
    def reverse(self) -> FiveTuple:
        t = self.original
        return FiveTuple(t.protocol, t.dest_ip, t.src_ip, t.dest_port, t.src_port)


class ConnectionSource(Protocol):
    def connections(self, netns: str) -> list[Connection]:
        """What conntrack in ``netns`` holds now; raises ``DataplaneError`` if it cannot be
        read (no such namespace, no conntrack tool)."""
        ...


def full_timeout(protocol: int, state: str, assured: bool) -> int:
    if protocol == 6:
        return TCP_TIMEOUTS.get(state, GENERIC_TIMEOUT)
    if protocol == 17:
        return UDP_STREAM_TIMEOUT if assured else UDP_TIMEOUT
    if protocol == 1:
        return ICMP_TIMEOUT
    return GENERIC_TIMEOUT


def parse_listing(text: str) -> list[Connection]:
    """The connections of a ``conntrack -L -o xml,...`` listing (lines that are no entry, or
    that the parser cannot read, are skipped)."""
    out = []
    for line in text.splitlines():
        try:
            entry = parse_line(line)
        except (ParseError, ValueError, IndexError, KeyError):
            continue
        if entry is None:
            continue
        state = _STATE.search(line)
        remaining = _TIMEOUT.search(line)
        name = state.group(1) if state else ""
        full = full_timeout(entry.original.protocol, name, "<assured/>" in line)
        left = int(remaining.group(1)) if remaining else full
        out.append(
            Connection(
                original=entry.original,
                orig_counters=entry.orig_counters,
                reply_counters=entry.reply_counters,
                state=name,
                idle=float(max(0, full - left)),
            )
        )
    return out


class ConntrackConnections:
    """:class:`ConnectionSource` on the real kernel (root): ``conntrack -L`` in the namespace."""

    def connections(self, netns: str) -> list[Connection]:
        argv = ["ip", "netns", "exec", netns, "conntrack", "-L", "-o", OUTPUT]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=LIST_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataplaneError(f"cannot list conntrack in {netns}: {exc}") from exc
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise DataplaneError(
                f"conntrack -L in {netns}: {detail}", errno=proc.returncode, stderr=proc.stderr
            )
        return parse_listing(proc.stdout)
