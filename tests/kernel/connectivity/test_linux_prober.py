"""The Linux prober against real namespaces: a probe counts as delivered when the destination's
namespace sees it arrive (whatever happens to it there), or, when that namespace is not given,
when the destination answers (SYN-ACK or RST, echo reply, UDP reply or port unreachable);
packets dropped before they leave never count; latency is one way and plausible."""

from __future__ import annotations

import pytest

from intranode.dataplane.linux.prober import LinuxProber
from intranode.dataplane.prober import ProbeEndpoint

from .conftest import (
    DST_IP,
    SRC_IP,
    TCP_CLOSED,
    TCP_DROPPED_AT_DST,
    TCP_DROPPED_AT_SRC,
    TCP_OPEN,
    UDP_CLOSED,
    UDP_ECHO,
    UDP_SILENT,
    ProbeLab,
)

COUNT = 5
prober = LinuxProber(timeout=0.5)


def probe(lab: ProbeLab, protocol: str, port: int | None, *, observe: bool) -> tuple[int, int]:
    src = ProbeEndpoint(SRC_IP, lab.src)
    dst = ProbeEndpoint(DST_IP, lab.dst if observe else "")
    result = prober.probe(src, dst, protocol, port, COUNT)
    assert result.error == ""
    assert len(result.latencies_us) == result.delivered
    # One veth away on one machine: well under the batch's timeout.
    assert all(0 <= us < 500_000 for us in result.latencies_us)
    return result.sent, result.delivered


@pytest.mark.parametrize("observe", [True, False], ids=["seen-at-destination", "answers"])
def test_tcp_to_a_listener_and_to_a_closed_port_both_arrive(lab: ProbeLab, observe: bool) -> None:
    assert probe(lab, "TCP", TCP_OPEN, observe=observe) == (COUNT, COUNT)
    # A RST is the destination answering: the packet got there.
    assert probe(lab, "TCP", TCP_CLOSED, observe=observe) == (COUNT, COUNT)


def test_tcp_dropped_at_the_destination_arrived_but_got_no_answer(lab: ProbeLab) -> None:
    assert probe(lab, "TCP", TCP_DROPPED_AT_DST, observe=True) == (COUNT, COUNT)
    assert probe(lab, "TCP", TCP_DROPPED_AT_DST, observe=False) == (COUNT, 0)


@pytest.mark.parametrize("observe", [True, False], ids=["seen-at-destination", "answers"])
def test_tcp_dropped_before_leaving_never_counts(lab: ProbeLab, observe: bool) -> None:
    assert probe(lab, "TCP", TCP_DROPPED_AT_SRC, observe=observe) == (COUNT, 0)


def test_icmp_echo(lab: ProbeLab) -> None:
    lab.allow_echo(True)
    try:
        assert probe(lab, "ICMP", None, observe=True) == (COUNT, COUNT)
        assert probe(lab, "ICMP", None, observe=False) == (COUNT, COUNT)
    finally:
        lab.allow_echo(False)
    # Requests the destination drops on input: seen arriving, never answered.
    assert probe(lab, "ICMP", None, observe=True) == (COUNT, COUNT)
    assert probe(lab, "ICMP", None, observe=False) == (COUNT, 0)


def test_udp_reply_refusal_and_silence(lab: ProbeLab) -> None:
    assert probe(lab, "UDP", UDP_ECHO, observe=False) == (COUNT, COUNT)
    assert probe(lab, "UDP", UDP_CLOSED, observe=False) == (COUNT, COUNT)  # port unreachable
    # A listener that never answers: only the destination's side can tell it arrived.
    assert probe(lab, "UDP", UDP_SILENT, observe=False) == (COUNT, 0)
    assert probe(lab, "UDP", UDP_SILENT, observe=True) == (COUNT, COUNT)


def test_to_an_address_nobody_holds_nothing_arrives(lab: ProbeLab) -> None:
    src = ProbeEndpoint(SRC_IP, lab.src)
    result = prober.probe(src, ProbeEndpoint("10.77.0.99", lab.dst), "TCP", TCP_OPEN, COUNT)
    assert (result.sent, result.delivered, result.error) == (COUNT, 0, "")


def test_a_missing_namespace_is_an_error_not_a_loss(lab: ProbeLab) -> None:
    gone = f"{lab.prefix}p-ffff"
    result = prober.probe(ProbeEndpoint(SRC_IP, gone), ProbeEndpoint(DST_IP), "TCP", 80, COUNT)
    assert (result.sent, result.delivered) == (0, 0)
    assert result.error == f"network namespace {gone} does not exist"
    assert result.error_status == "NOT_FOUND"
    result = prober.probe(ProbeEndpoint(SRC_IP, lab.src), ProbeEndpoint(DST_IP), "GRE", None, 1)
    assert (result.error, result.error_status) == ("no probe for GRE", "UNIMPLEMENTED")
