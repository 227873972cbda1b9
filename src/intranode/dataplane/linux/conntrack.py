"""The VPC router's connections, read with the ``conntrack`` tool inside its namespace.

Measured (``style_and_deps.md`` Part 2): ``conntrack -L -o extended`` and a parse are about 10x
faster than pyroute2's lazy attribute decoding, so snapshots run
``ip netns exec NS conntrack -L -o extended,id,timestamp`` and parse the text. conntrack-tools
1.4.7 prints, per entry::

    ipv4 2 tcp 6 119 TIME_WAIT src=A dst=B sport=1 dport=2 packets=6 bytes=325 src=B dst=A
    sport=2 dport=1 packets=4 bytes=1216 [ASSURED] mark=0 delta-time=3 use=1 id=2079284401

(``packets``/``bytes`` need ``nf_conntrack_acct=1``, ``delta-time`` needs
``nf_conntrack_timestamp=1``; ICMP tuples carry their own ``type``/``code``/``id``, so the
conntrack id is the ``id=`` after the REPLY tuple.) Destroy events come from one long-running
``conntrack -E -e DESTROY -o extended,id,timestamp`` per namespace, whose lines start with the
event time (``[1795683908.332003]	[DESTROY] ipv4 ...``). That reader is supervised: a reader
that died is restarted on the next call (and its death reported once as a ``DataplaneError``
with its exit code and stderr); its PID and start time are exposed (:meth:`LinuxFlowSource.
readers`) so that a later run can stop one a crash left behind, by exact PID.

Lost events (conntrack prints ``We have hit ENOBUFS``) are counted in
:attr:`DestroyReader.lost_warnings`; the socket buffer is raised (``-b``) to make them rare.
Snapshots every tick keep the cost of a lost event small: only the packets a flow sent after
the last snapshot and before it was removed depend on its destroy event.
"""

from __future__ import annotations

import collections
import errno
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import IO

from intranode.domain.flowlogs.observations import (
    PORT_PROTOCOLS,
    ConntrackEntry,
    Counters,
    FiveTuple,
    ReaderProcess,
)
from intranode.errors import DataplaneError

OUTPUT = "extended,id,timestamp"
EVENT_BUFFER = 8 * 1024 * 1024
_TUPLE_KEYS = frozenset(
    {"src", "dst", "sport", "dport", "type", "code", "id", "srckey", "dstkey", "packets", "bytes"}
)
_NO_NETNS = "Cannot open network namespace"
_PORT_PROTOCOLS_TOO = frozenset({*PORT_PROTOCOLS, 33, 136})  # DCCP, UDP-Lite


class ParseError(ValueError):
    pass


# -- parsing ------------------------------------------------------------------------------------
def parse_line(line: str) -> ConntrackEntry | None:
    """One line of ``conntrack -L``/``-E`` output (``-o extended,id[,timestamp]``); ``None``
    for lines that are not entries. Raises :class:`ParseError` for an entry without an id."""
    s = line.strip()
    when: float | None = None
    if s.startswith("["):  # an event: "[time]\t[DESTROY] ipv4 ..."
        close = s.find("]")
        try:
            when = float(s[1:close])
        except ValueError:
            when = None
        s = s[close + 1 :].lstrip()
        if s.startswith("["):
            s = s[s.find("]") + 1 :].lstrip()
    tokens = s.split()
    if len(tokens) < 5 or tokens[0] not in ("ipv4", "ipv6"):
        return None
    try:
        proto = int(tokens[3])
    except ValueError:
        return None
    orig: dict[str, str] = {}
    reply: dict[str, str] = {}
    trailer: dict[str, str] = {}
    cur = orig
    phase = 1  # 1: ORIGINAL tuple, 2: REPLY tuple, 3: after it
    for tok in tokens[4:]:
        if tok[0] == "[":
            if phase == 2 and reply:
                phase, cur = 3, trailer
            continue
        key, eq, value = tok.partition("=")
        if not eq:
            continue  # the timeout and the TCP state come before the tuples
        if phase == 1:
            if key == "src" and "src" in orig:
                phase, cur = 2, reply
        elif phase == 2 and (key not in _TUPLE_KEYS or key in reply):
            phase, cur = 3, trailer
        if phase == 3:
            cur = trailer
        cur[key] = value
    if "id" not in trailer:
        raise ParseError(f"conntrack printed an entry without an id (needs -o id): {line!r}")
    if "src" not in orig or "src" not in reply:
        raise ParseError(f"conntrack printed an entry without both tuples: {line!r}")
    age = trailer.get("delta-time")
    return ConntrackEntry(
        ct_id=int(trailer["id"]),
        original=_tuple(proto, orig),
        reply=_tuple(proto, reply),
        orig_counters=_counters(orig),
        reply_counters=_counters(reply),
        age=int(age) if age is not None and age.isdigit() else None,
        time=when,
    )


def _tuple(proto: int, fields: Mapping[str, str]) -> FiveTuple:
    if proto in _PORT_PROTOCOLS_TOO and "sport" in fields:
        return FiveTuple(
            proto, fields["src"], fields["dst"], int(fields["sport"]), int(fields["dport"])
        )
    return FiveTuple(proto, fields["src"], fields["dst"])


def _counters(fields: Mapping[str, str]) -> Counters:
    return Counters(int(fields.get("packets", 0)), int(fields.get("bytes", 0)))


# The common line (TCP or UDP over IPv4, no zones or labels), matched in one go: a snapshot of
# a busy router has tens of thousands of them. Anything else takes parse_line's general path.
_FAST = re.compile(
    r"ipv4 +2 (tcp|udp) +(\d+) +\d+ (?:[A-Z_]+ )?"
    r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) packets=(\d+) bytes=(\d+) (?:\[UNREPLIED\] )?"
    r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) packets=(\d+) bytes=(\d+)"
    r"(?: \[\w+\])* mark=\d+ (?:delta-time=(\d+) )?use=\d+ id=(\d+)\s*$"
)


Cache = dict[int, tuple[str, ConntrackEntry]]


def parse_output(text: str, cache: Cache | None = None) -> list[ConntrackEntry]:
    """Every entry of a ``conntrack -L`` listing. With ``cache`` (kept by the caller between
    listings of one namespace), an entry whose tuples and counters did not change is returned
    as the very object of the previous listing, so callers can skip it by identity."""
    out: list[ConntrackEntry] = []
    fresh: Cache = {}
    fast = _FAST.match
    for line in text.splitlines():
        m = fast(line)
        if m is None:
            entry = parse_line(line)
            if entry is not None:
                out.append(entry)
            continue
        ct_id = int(m.group(16))
        key = line[m.start(3) : m.end(14)]
        hit = cache.get(ct_id) if cache is not None else None
        if hit is not None and hit[0] == key:
            entry = hit[1]
        else:
            g = m.groups()
            proto = int(g[1])
            entry = ConntrackEntry(
                ct_id,
                FiveTuple(proto, g[2], g[3], int(g[4]), int(g[5])),
                FiveTuple(proto, g[8], g[9], int(g[10]), int(g[11])),
                Counters(int(g[6]), int(g[7])),
                Counters(int(g[12]), int(g[13])),
                int(g[14]) if g[14] is not None else None,
            )
        fresh[ct_id] = (key, entry)
        out.append(entry)
    if cache is not None:
        cache.clear()
        cache.update(fresh)
    return out


# -- processes ------------------------------------------------------------------------------------
def _argv(netns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", netns, "conntrack", *args]


def _failure(what: str, code: int, stderr: str) -> DataplaneError:
    err = errno.ENOENT if _NO_NETNS in stderr else code
    text = stderr.strip().splitlines()
    detail = text[-1] if text else f"exit code {code}"
    return DataplaneError(f"{what}: {detail}", errno=err, stderr=stderr)


def proc_start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/PID/stat`` (clock ticks after boot), or None if PID is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = stat[stat.rfind(")") + 2 :].split()
    return int(rest[19]) if len(rest) > 19 else None


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


class DestroyReader:
    """``conntrack -E -e DESTROY`` in one namespace, parsed by a thread into a queue."""

    def __init__(self, netns: str, *, buffer_size: int = EVENT_BUFFER) -> None:
        self.netns = netns
        argv = _argv(netns, "-E", "-e", "DESTROY", "-o", OUTPUT, "-b", str(buffer_size))
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        except OSError as exc:
            raise DataplaneError(
                f"cannot start conntrack -E in {netns}: {exc}", errno=exc.errno
            ) from exc
        self.pid = self._proc.pid
        self.start_time = proc_start_time(self.pid) or 0
        self._lock = threading.Lock()
        self._events: collections.deque[ConntrackEntry] = collections.deque()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self.lost_warnings = 0
        self.bad_lines = 0
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_events, args=(self._proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self._proc.stderr,), daemon=True),
        ]
        for t in self._threads:
            t.start()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 1.0) -> None:
        """``ip netns exec`` execs conntrack in place; once the PID runs conntrack, give it a
        moment to subscribe, so the caller's first snapshot is not older than the watch."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._proc.poll() is None:
            if _comm(self.pid) == "conntrack":
                time.sleep(0.05)
                return
            time.sleep(0.005)

    def _read_events(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                entry = parse_line(line)
            except (ParseError, ValueError, IndexError, KeyError):
                self.bad_lines += 1
                continue
            if entry is not None:
                with self._lock:
                    self._events.append(entry)

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            if "ENOBUFS" in line:
                self.lost_warnings += 1
            self._stderr.append(line.rstrip("\n"))

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    @property
    def stderr(self) -> str:
        return "\n".join(self._stderr)

    def drain(self) -> list[ConntrackEntry]:
        with self._lock:
            out = list(self._events)
            self._events.clear()
        return out

    def stop(self, grace: float = 2.0) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for t in self._threads:
            t.join(grace)


class LinuxFlowSource:
    """:class:`~intranode.dataplane.flow_source.FlowSource` on the real kernel (root)."""

    def __init__(self, *, event_buffer: int = EVENT_BUFFER) -> None:
        self._event_buffer = event_buffer
        self._readers: dict[str, DestroyReader] = {}
        self._caches: dict[str, Cache] = {}
        self.restarts = 0
        self.listing_cpu = 0.0  # CPU seconds the conntrack -L processes used, all together

    def snapshot(self, netns: str) -> list[ConntrackEntry]:
        argv = _argv(netns, "-L", "-o", OUTPUT)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as exc:
            raise DataplaneError(f"cannot run conntrack: {exc}", errno=exc.errno) from exc
        assert proc.stdout is not None and proc.stderr is not None
        with proc.stdout, proc.stderr:
            out = proc.stdout.read()
            err = proc.stderr.read()  # one summary line: it cannot fill its pipe meanwhile
        # Reaped here rather than by Popen, to learn what the listing cost.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.listing_cpu += usage.ru_utime + usage.ru_stime
        if proc.returncode != 0:
            raise _failure(f"conntrack -L in {netns}", proc.returncode, err)
        try:
            return parse_output(out, self._caches.setdefault(netns, {}))
        except (ParseError, ValueError) as exc:
            raise DataplaneError(f"conntrack -L in {netns}: {exc}", stderr=err) from exc

    def destroyed(self, netns: str) -> list[ConntrackEntry]:
        reader = self._readers.get(netns)
        if reader is None:
            self._readers[netns] = DestroyReader(netns, buffer_size=self._event_buffer)
            return []
        events = reader.drain()
        if not reader.alive:
            # Keep what it read before it ended, start a new one, and say it ended.
            reader.stop()
            del self._readers[netns]
            self.restarts += 1
            code = reader.returncode if reader.returncode is not None else -1
            if events:
                return events + self.destroyed(netns)
            raise _failure(f"conntrack -E in {netns} ended", code, reader.stderr)
        return events

    def reader(self, netns: str) -> DestroyReader | None:
        return self._readers.get(netns)

    def readers(self) -> Mapping[str, ReaderProcess]:
        return {
            ns: ReaderProcess(ns, r.pid, r.start_time) for ns, r in self._readers.items() if r.alive
        }

    def stop_stale(self, process: ReaderProcess) -> bool:
        if any(r.pid == process.pid for r in self._readers.values()):
            return False  # ours
        if proc_start_time(process.pid) != process.start_time or _comm(process.pid) != (
            "conntrack"
        ):
            return False
        try:
            os.kill(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def stop_watching(self, netns: str) -> None:
        self._caches.pop(netns, None)
        reader = self._readers.pop(netns, None)
        if reader is not None:
            reader.stop()

    def close(self) -> None:
        for netns in list(self._readers):
            self.stop_watching(netns)
