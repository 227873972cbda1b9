"""Live probes for Connectivity Tests: real packets from a test's source to its destination.

:class:`Prober` is implemented by :class:`intranode.dataplane.linux.prober.LinuxProber` (sends
from inside the source's network namespace, root) and by :class:`FakeProber` here (in memory,
for unit tests). ``probe`` blocks for up to about a second: from asyncio code call it through
``asyncio.to_thread``. A prober never raises for what the network does; a namespace that does
not exist or a protocol it cannot probe comes back as :attr:`ProbeResult.error`.

What a probe is, by protocol (``protocol`` is the test's: ``TCP``, ``UDP``, ``ICMP``):

- TCP: a connection attempt to ``port`` (connect, then closed at once);
- UDP: one datagram to ``port``;
- ICMP: an echo request.

A probe **arrived** when the destination's namespace saw it come in (when ``dst.netns`` is
known, as Google's probes are counted where they land), else when the destination answered
it: a TCP SYN-ACK or RST, an echo reply, a UDP reply or ICMP port unreachable. Latency is one
way: arrival time minus send time when seen at the destination, half the round trip
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from intranode.domain.connectivity.probing import ProbeResult

PROTOCOLS = ("TCP", "UDP", "ICMP")

__all__ = ["PROTOCOLS", "FakeProber", "ProbeEndpoint", "ProbeResult", "Prober"]


@dataclass(frozen=True)
class ProbeEndpoint:
    """An end of a probe: its address, and the kernel namespace that holds it ("" when it is
    not one of intranode's: then arrival is judged by the answer)."""

    ip: str
    netns: str = ""


class Prober(Protocol):
    def probe(
        self,
        src: ProbeEndpoint,
        dst: ProbeEndpoint,
        protocol: str,
        port: int | None,
        count: int,
    ) -> ProbeResult:
        """Send ``count`` probes from ``src`` (which needs a ``netns``) to ``dst``."""
        ...


Key = tuple[str, str, str, int | None]  # src ip, dst ip, protocol, port


@dataclass
class FakeProber:
    """Answers from a table: ``results[(src ip, dst ip, protocol, port)]``, else ``default``
    (a function of the key, by default: every probe arrives in 100 µs). ``calls`` records every
    probe asked for, with its endpoints."""

    results: dict[Key, ProbeResult] = field(default_factory=dict)
    default: Callable[[Key, int], ProbeResult] | None = None
    calls: list[tuple[ProbeEndpoint, ProbeEndpoint, str, int | None, int]] = field(
        default_factory=list
    )

    def probe(
        self,
        src: ProbeEndpoint,
        dst: ProbeEndpoint,
        protocol: str,
        port: int | None,
        count: int,
    ) -> ProbeResult:
        self.calls.append((src, dst, protocol, port, count))
        key = (src.ip, dst.ip, protocol, port)
        if key in self.results:
            return self.results[key]
        if self.default is not None:
            return self.default(key, count)
        return ProbeResult(count, count, tuple(100 for _ in range(count)))
