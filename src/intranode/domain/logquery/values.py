"""Literal conversions of the Logging query language and the LogEntry JSON forms.

A comparison converts its right-hand side to the type of the field; a conversion that fails
makes the comparison false (it is not an error). Each converter here returns ``None`` for
"does not convert". They are cached: the same literal is converted once, not once per entry.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from functools import lru_cache

NS = 1_000_000_000
_EPOCH = dt.date(1970, 1, 1)
# The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799

SEVERITIES: dict[str, int] = {
    "DEFAULT": 0,
    "DEBUG": 100,
    "INFO": 200,
    "NOTICE": 300,
    "WARNING": 400,
    "ERROR": 500,
    "CRITICAL": 600,
    "ALERT": 700,
    "EMERGENCY": 800,
}
SEVERITY_NAMES: dict[int, str] = {v: k for k, v in SEVERITIES.items()}

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INT = re.compile(r"[+-]?\d+")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?)?"
)
_DURATION = re.compile(r"([+-]?)(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": NS,
    "m": 60 * NS,
    "h": 3600 * NS,
}


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Unicode NFKC_Casefold, the normal form Logging compares strings in."""
    if text.isascii():
        return text.lower()
    once = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKC", once).casefold()


@lru_cache(maxsize=4096)
def to_number(text: str) -> float | None:
    """A JSON-payload number (a double) from a literal."""
    if _NUMBER.fullmatch(text) is None:
        return None
    value = float(text)
    return None if value in (float("inf"), float("-inf")) else value


@lru_cache(maxsize=4096)
def to_int(text: str) -> int | None:
    """An int32/int64 proto field from a literal (JSON also writes int64 as a string)."""
    return int(text) if _INT.fullmatch(text) else None


def to_bool(text: str) -> bool | None:
    low = text.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    return None


@lru_cache(maxsize=4096)
def to_timestamp(text: str) -> int | None:
    """:func:`parse_timestamp` of a literal, cached: a filter converts the same one per row."""
    return parse_timestamp(text)


def parse_timestamp(text: str) -> int | None:
    """Nanoseconds since the epoch from RFC 3339 (``Z``, ``+hh:mm`` or ``+hhmm``, up to 9
    fractional digits) or an ISO 8601 date (midnight UTC). A time without an offset is UTC."""
    m = _TIMESTAMP.fullmatch(text.strip())
    if m is None:
        return None
    year, month, day, hh, mm, ss, frac, zone = m.groups()
    days = _epoch_day(int(year), int(month), int(day))
    h, mi, se = int(hh or 0), int(mm or 0), int(ss or 0)
    if days is None or h > 23 or mi > 59 or se > 59:
        return None
    seconds = days * 86400 + h * 3600 + mi * 60 + se
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:])
        if oh > 23 or om > 59:
            return None
        seconds -= sign * (oh * 3600 + om * 60)
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        return None
    nanos = int(frac.ljust(9, "0")) if frac else 0
    return seconds * NS + nanos


@lru_cache(maxsize=1024)
def _epoch_day(year: int, month: int, day: int) -> int | None:
    try:
        return (dt.date(year, month, day) - _EPOCH).days
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def _date_text(days: int) -> str:
    return (_EPOCH + dt.timedelta(days=days)).isoformat()


def format_timestamp(ns: int) -> str:
    """Proto3 JSON form: UTC ``Z`` with 0, 3, 6 or 9 fractional digits."""
    seconds, nanos = divmod(ns, NS)
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    return f"{_date_text(days)}T{hours:02d}:{minutes:02d}:{secs:02d}{fraction_text(nanos)}Z"


def fraction_text(nanos: int) -> str:
    """``.5`` s as proto3 writes it: ``.500`` (0, 3, 6 or 9 digits)."""
    if nanos == 0:
        return ""
    if nanos % 1_000_000 == 0:
        return f".{nanos // 1_000_000:03d}"
    if nanos % 1_000 == 0:
        return f".{nanos // 1_000:06d}"
    return f".{nanos:09d}"


@lru_cache(maxsize=4096)
def to_duration(text: str) -> int | None:
    """Nanoseconds from ``1s``, ``999ms``, ``-1.5h`` (ns, us, ms, s, m, h)."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        return None
    sign, number, unit = m.groups()
    try:
        value = int(Decimal(number) * _DURATION_UNITS[unit])
    except InvalidOperation:
        return None
    return -value if sign == "-" else value


def to_severity(text: str) -> int | None:
    """A LogSeverity from its name in any case or its number."""
    named = SEVERITIES.get(text.upper())
    if named is not None:
        return named
    return to_int(text)


def as_double(value: float | int) -> float:
    """A JSON number as the double Logging reads it (a huge integer becomes infinite)."""
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def json_number_text(value: float | int) -> str:
    """How a JSON number reads as text (``8080``, not ``8080.0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    return str(value) if isinstance(value, int) else repr(value)
