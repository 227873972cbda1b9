"""Timestamps in the forms Google's APIs and Kubernetes print them."""

from __future__ import annotations

import datetime as dt

_UTC = dt.UTC
_PACIFIC = dt.timezone(dt.timedelta(hours=-8))


def rfc3339(ts: float, digits: int = 9) -> str:
    """``2026-11-26T08:42:04.123456789Z`` (Container, Logging)."""
    whole = int(ts)
    frac = ts - whole
    base = dt.datetime.fromtimestamp(whole, _UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 0:
        return base + "Z"
    return f"{base}.{round(frac * 10**digits) % 10**digits:0{digits}d}Z"


def rfc3339_ns(ns: int) -> str:
    base = dt.datetime.fromtimestamp(ns // 1_000_000_000, _UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ns % 1_000_000_000:09d}Z"


def k8s_time(ts: float) -> str:
    """``2026-11-26T08:42:04Z`` (Kubernetes metav1.Time)."""
    return dt.datetime.fromtimestamp(int(ts), _UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def compute_time(ts: float) -> str:
    """``2026-11-26T00:42:04.123-08:00`` (Compute creationTimestamp, Pacific like Google)."""
    t = dt.datetime.fromtimestamp(ts, _PACIFIC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}-08:00"
