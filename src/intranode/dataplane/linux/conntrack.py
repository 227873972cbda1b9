"""The VPC router's connections, read with the ``conntrack`` tool inside its namespace.

Measured (``style_and_deps.md`` Part 2): the ``conntrack`` tool and a text parse are about 10x
faster than pyroute2's lazy attribute decoding. Snapshots run
``ip netns exec NS conntrack -L -o xml,id,ktimestamp``: the XML form is the one that carries
the kernel's nanosecond timestamps (``<start>``, and ``<stop>`` in destroy events), which
name each connection exactly even when a reused port brings back its tuple and its id
several times within a second. conntrack-tools 1.4.7 prints one ``<flow>`` per line::

    <flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>A</src>
    <dst>B</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>1</sport><dport>2</dport>
    </layer4><counters><packets>5</packets><bytes>272</bytes></counters></meta><meta
    direction="reply">...</meta><meta direction="independent"><state>TIME_WAIT</state>
    <timeout>119</timeout><mark>0</mark><use>1</use><id>1137367698</id><assured/><timestamp>
    <start>1795688203990254061</start></timestamp><deltatime>1</deltatime></meta></flow>

(``packets``/``bytes`` need ``nf_conntrack_acct=1``, the timestamps
``nf_conntrack_timestamp=1``.) The older ``-o extended,id,timestamp`` lines are understood too
(:func:`parse_line`), without start times. Destroy events come from one long-running
``conntrack -E -e DESTROY -o xml,id,ktimestamp`` per namespace; a thread only moves its output
into memory, and lines are parsed when the collector drains them. That reader is supervised: a
reader that died is restarted on the next call (and its death reported once as a
``DataplaneError`` with its exit code and stderr); its PID and start time are exposed
(:meth:`LinuxFlowSource.readers`) so that a later run can stop one a crash left behind, by
exact PID.

Lost events (conntrack prints ``We have hit ENOBUFS``) are counted in
:attr:`DestroyReader.lost_warnings`; the socket buffer is raised (``-b``) to make them rare.
Snapshots keep the cost of a lost event small: only the packets a flow sent after the last
snapshot and before it was removed depend on its destroy event.

Listings of a busy router repeat most entries unchanged, so :func:`parse_output` keeps, per
namespace, the entries of the previous listing and returns the very same object for a line
whose tuples, counters, id and start did not change (found without parsing the line).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import IO

from intranode.domain.flowlogs.observations import (
    PORT_PROTOCOLS,
    ConntrackEntry,
    Counters,
    FiveTuple,
    ReaderProcess,
)
from intranode.errors import DataplaneError

OUTPUT = "xml,id,ktimestamp"
EVENT_BUFFER = 64 * 1024 * 1024  # the netlink socket's (a busy router's events for seconds)
PIPE_BUFFER = 1024 * 1024  # the pipe to our reader thread (Linux's default ceiling)
_TUPLE_KEYS = frozenset(
    {"src", "dst", "sport", "dport", "type", "code", "id", "srckey", "dstkey", "packets", "bytes"}
)
_NO_NETNS = "Cannot open network namespace"
_PORT_PROTOCOLS_TOO = frozenset({*PORT_PROTOCOLS, 33, 136})  # DCCP, UDP-Lite
_ORIGINAL = '<meta direction="original">'
_REPLY = '<meta direction="reply">'
_INDEPENDENT = '<meta direction="independent">'
_TAG = re.compile(r"<(\w+)>([^<]*)</")
_XML_DIRECTION = (
    r'<meta direction="{0}"><layer3 protonum="2" protoname="ipv4"><src>([^<]+)</src>'
    r'<dst>([^<]+)</dst></layer3><layer4 protonum="({1})" protoname="(?:tcp|udp)">'
    r"<sport>(\d+)</sport><dport>(\d+)</dport></layer4><counters><packets>(\d+)</packets>"
    r"<bytes>(\d+)</bytes></counters></meta>"
)
# The common line (TCP or UDP over IPv4, no zones), matched in one go; others take the
# general path.
_XML_FAST = re.compile(
    r'<flow(?: type="\w+")?>'
    + _XML_DIRECTION.format("original", r"6|17")
    + _XML_DIRECTION.format("reply", r"\d+")
    + r'<meta direction="independent">(?:<[a-z]+>[^<]*</[a-z]+>|<[a-z]+/>)*?<id>(\d+)</id>'
    r"(?:<[a-z]+/>)*(?:<timestamp><start>(\d+)</start>(?:<stop>(\d+)</stop>)?</timestamp>)?"
    r"(?:<[a-z]+>[^<]*</[a-z]+>|<[a-z]+/>)*?(?:<deltatime>(\d+)</deltatime>)?</meta></flow>"
)
_LAYER4 = re.compile(r'<layer4 protonum="(\d+)"')


class ParseError(ValueError):
    pass


# -- parsing ------------------------------------------------------------------------------------
def parse_line(line: str) -> ConntrackEntry | None:
    """One line of ``conntrack -L``/``-E`` output (``-o xml,id,ktimestamp``, or the older
    ``-o extended,id[,timestamp]``); ``None`` for lines that are not entries. Raises
    :class:`ParseError` for an entry without an id."""
    s = line.strip()
    if s.startswith("<flow"):
        return _parse_xml(s)
    return _parse_extended(s, line)


def _parse_xml(s: str) -> ConntrackEntry | None:
    m = _XML_FAST.match(s)
    if m is not None:
        g = m.groups()
        proto = int(g[2])
        start = g[15]
        stop = g[16]
        return ConntrackEntry(
            int(g[14]),
            FiveTuple(proto, g[0], g[1], int(g[3]), int(g[4])),
            FiveTuple(proto, g[7], g[8], int(g[10]), int(g[11])),
            Counters(int(g[5]), int(g[6])),
            Counters(int(g[12]), int(g[13])),
            int(g[17]) if g[17] is not None else None,
            int(stop) / 1e9 if stop is not None else None,
            int(start) if start is not None and start != "0" else None,
        )
    return _parse_xml_any(s)


def _parse_xml_any(s: str) -> ConntrackEntry | None:
    o = s.find(_ORIGINAL)
    r = s.find(_REPLY, o)
    i = s.find(_INDEPENDENT, r)
    if o < 0 or r < 0 or i < 0:
        raise ParseError(f"conntrack printed an entry without both tuples: {s!r}")
    layer4 = _LAYER4.search(s, o, r)
    if layer4 is None:
        return None
    proto = int(layer4.group(1))
    orig = dict(_TAG.findall(s, o, r))
    reply = dict(_TAG.findall(s, r, i))
    rest = dict(_TAG.findall(s, i))
    if "id" not in rest:
        raise ParseError(f"conntrack printed an entry without an id (needs -o id): {s!r}")
    if "src" not in orig or "src" not in reply:
        raise ParseError(f"conntrack printed an entry without both tuples: {s!r}")
    age = rest.get("deltatime")
    start = rest.get("start")
    stop = rest.get("stop")
    return ConntrackEntry(
        ct_id=int(rest["id"]),
        original=_tuple(proto, orig),
        reply=_tuple(proto, reply),
        orig_counters=_counters(orig),
        reply_counters=_counters(reply),
        age=int(age) if age is not None and age.isdigit() else None,
        time=int(stop) / 1e9 if stop is not None and stop.isdigit() else None,
        start=int(start) if start is not None and start.isdigit() and start != "0" else None,
    )


def _parse_extended(s: str, line: str) -> ConntrackEntry | None:
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


# The common extended line (TCP or UDP over IPv4, no zones or labels), matched in one go.
_FAST = re.compile(
    r"ipv4 +2 (tcp|udp) +(\d+) +\d+ (?:[A-Z_]+ )?"
    r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) packets=(\d+) bytes=(\d+) (?:\[UNREPLIED\] )?"
    r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) packets=(\d+) bytes=(\d+)"
    r"(?: \[\w+\])* mark=\d+ (?:delta-time=(\d+) )?use=\d+ id=(\d+)\s*$"
)

# Per namespace, by conntrack id: the text that names the entry's tuples, counters, id and
# start in the last listing, and the entry parsed from it.
Cache = dict[int, tuple[str, ConntrackEntry]]


def parse_output(text: str, cache: Cache | None = None) -> list[ConntrackEntry]:
    """Every entry of a ``conntrack -L`` listing. With ``cache`` (kept by the caller between
    listings of one namespace), an entry whose tuples and counters did not change is returned
    as the very object of the previous listing, so callers can skip it by identity."""
    out: list[ConntrackEntry] = []
    fresh: Cache = {}
    old: Cache = cache if cache is not None else {}
    fast = _FAST.match
    for line in text.splitlines():
        if line.startswith("<flow>"):
            # The key is everything but the timeout, state, use count and age, found
            # without parsing: a busy router lists tens of thousands of unchanged entries.
            i = line.find(_INDEPENDENT)
            j = line.find("<id>", i)
            k = line.find("<", j + 4)
            if i < 0 or j < 0 or k < 0:
                entry = parse_line(line)  # raises the right ParseError
                if entry is not None:
                    out.append(entry)
                continue
            ct_id = int(line[j + 4 : k])
            t = line.find("</timestamp>", k)
            key = line[:i] + line[j : k if t < 0 else t]
            hit = old.get(ct_id)
            if hit is not None and hit[0] == key:
                fresh[ct_id] = hit  # the same objects: no garbage per unchanged line
                out.append(hit[1])
                continue
            parsed = _parse_xml(line)
            if parsed is not None:
                fresh[ct_id] = (key, parsed)
                out.append(parsed)
            continue
        m = fast(line)
        if m is None:
            entry = parse_line(line) if not line.startswith("<") else None
            if entry is not None:
                out.append(entry)
            continue
        ct_id = int(m.group(16))
        key = line[m.start(3) : m.end(14)]
        hit = old.get(ct_id)
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


def parse_events(lines: Iterable[str]) -> tuple[list[ConntrackEntry], int]:
    """The entries of ``conntrack -E`` lines, and how many lines could not be read."""
    out: list[ConntrackEntry] = []
    bad = 0
    for line in lines:
        try:
            entry = parse_line(line)
        except (ParseError, ValueError, IndexError, KeyError):
            bad += 1
            continue
        if entry is not None:
            out.append(entry)
    return out, bad


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


def stop_reader(
    proc: subprocess.Popen[bytes], threads: Sequence[threading.Thread], grace: float
) -> None:
    """End a reader process (SIGTERM, then SIGKILL after ``grace``), join the threads that
    read its output, and close its pipes."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for t in threads:
        t.join(grace)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


class DestroyReader:
    """``conntrack -E -e DESTROY`` in one namespace. A thread only moves its output into
    memory (so the kernel's socket buffer drains promptly); :meth:`drain` parses it."""

    def __init__(self, netns: str, *, buffer_size: int = EVENT_BUFFER) -> None:
        self.netns = netns
        argv = _argv(netns, "-E", "-e", "DESTROY", "-o", OUTPUT, "-b", str(buffer_size))
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
            )
        except OSError as exc:
            raise DataplaneError(
                f"cannot start conntrack -E in {netns}: {exc}", errno=exc.errno
            ) from exc
        self.pid = self._proc.pid
        self.start_time = proc_start_time(self.pid) or 0
        assert self._proc.stdout is not None and self._proc.stderr is not None
        # Slack for the moments our reader thread waits for the interpreter (with a lower
        # pipe-max-size the default 64 KiB pipe still works).
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BUFFER)
        self._lock = threading.Lock()
        self._chunks: list[bytes] = []
        self._partial = b""
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self.lost_warnings = 0
        self.bad_lines = 0
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

    def _read_events(self, stream: IO[bytes]) -> None:
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self._chunks.append(chunk)

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace")
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
        """The events read since the last call (complete lines only)."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return []
        data = self._partial + b"".join(chunks)
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        events, bad = parse_events(data[:cut].decode("utf-8", "replace").splitlines())
        self.bad_lines += bad
        return events

    def stop(self, grace: float = 2.0) -> None:
        stop_reader(self._proc, self._threads, grace)


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
        if reader.alive:
            return reader.drain()
        # Keep what it read before it ended, start a new one, and say it ended.
        reader.stop()
        events = reader.drain()
        del self._readers[netns]
        self.restarts += 1
        code = reader.returncode if reader.returncode is not None else -1
        if events:
            return events + self.destroyed(netns)
        raise _failure(f"conntrack -E in {netns} ended", code, reader.stderr)

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
