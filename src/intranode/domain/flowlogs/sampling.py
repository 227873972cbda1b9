"""Deterministic, seeded keep/drop decisions.

A decision is a hash of the seed and a key compared with the rate, so the same key gets the
same answer in every run with the same seed, and the kept fraction tends to the rate.

* :func:`keep_record` is ``logConfig.flowSampling``. Google applies it per record ("the
  fraction of flow log records kept"); intranode keys it on the 5-tuple and the interval,
  *not* on the reporter, so the SRC and DEST records of one direction of a flow in one
  interval are kept or dropped together when both subnets have the same rate (with different
  rates, the lower rate's records are a subset of the higher's). Each interval of a long flow
  and each direction of a connection is decided on its own, as they are separate records.
* :func:`keep_primary` is primary sampling (Google samples packets, about 1 in 30): intranode
  keeps every packet by default (rate 1.0); below that, each observed delta of a connection
  (the packets one tick saw) is kept or dropped whole.
"""

from __future__ import annotations

import hashlib

from intranode.domain.flowlogs.observations import FiveTuple

_SCALE = float(2**64)


def _unit(seed: str, key: str) -> float:
    """A number in [0, 1) fixed by seed and key."""
    digest = hashlib.blake2b(key.encode(), key=seed.encode()[:64], digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def decide(seed: str, key: str, rate: float) -> bool:
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return _unit(seed, key) < rate


def keep_record(seed: str, flow: FiveTuple, interval_start: int, rate: float) -> bool:
    if rate >= 1.0:
        return True  # the common case, decided without building the key
    return decide(seed, f"r|{flow.encode()}|{interval_start}", rate)


def keep_primary(seed: str, stream: str, tick: float, rate: float) -> bool:
    if rate >= 1.0:
        return True
    return decide(seed, f"p|{stream}|{tick:.6f}", rate)
