"""Ages as kubectl prints them: apimachinery's ``duration.HumanDuration``, case for case."""

from __future__ import annotations

import datetime as dt

_MINUTE = 60
_HOUR = 3600
_DAY = 24 * _HOUR


def human_duration(seconds: float) -> str:
    """``45s``, ``3m5s``, ``25m``, ``5h12m``, ``30h``, ``3d4h``, ``200d``, ``2y5d``, ``9y``.

    Go truncates durations toward zero; a clock up to two seconds behind reads ``0s``.
    """
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 2 * _MINUTE:
        return f"{whole}s"
    minutes = whole // _MINUTE
    if minutes < 10:
        s = whole % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = whole // _HOUR
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_k8s_time(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 ``metav1.Time``; None if absent or unreadable."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def age(timestamp: str, now: float) -> str:
    """kubectl's ``translateTimestampSince``: ``<unknown>`` for a missing time."""
    ts = parse_k8s_time(timestamp)
    return "<unknown>" if ts is None else human_duration(now - ts)
