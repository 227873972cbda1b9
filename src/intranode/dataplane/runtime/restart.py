"""Restart policy and kubelet's crash-loop back-off, as pure logic over explicit times.

Kubelet keeps one back-off entry per container (``flowcontrol.Backoff``, 10 s initial, 300 s
cap). When a container has exited, kubelet restarts it at once unless it finished less than
the current back-off ago; then it waits (state ``waiting`` / ``CrashLoopBackOff``, message
``back-off 10s restarting failed container=c pod=p_ns(uid)``). Every restart doubles the
back-off up to the cap; an entry older than twice the cap starts over at 10 s. So a container
that crashes at once restarts immediately the first time, then after 10 s, 20 s, 40 s, … 5m0s.

Public API::

    should_restart(policy, exit_code) -> bool
    CrashBackoff(initial=10, maximum=300): .delay(finished_at, now) -> float;
                                                .advance(finished_at, now)
    go_duration(seconds) -> str                 Go's time.Duration text: 10s, 1m20s, 5m0s
    crash_loop_message(backoff, container, pod, namespace, uid) -> str
    ALWAYS, ON_FAILURE, NEVER, CRASH_LOOP_BACK_OFF
"""

from __future__ import annotations

from dataclasses import dataclass

ALWAYS = "Always"
ON_FAILURE = "OnFailure"
NEVER = "Never"
CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
INITIAL_BACKOFF = 10.0
MAX_BACKOFF = 300.0


def should_restart(policy: str, exit_code: int) -> bool:
    """Whether a container that exited with ``exit_code`` is started again."""
    if policy == NEVER:
        return False
    if policy == ON_FAILURE:
        return exit_code != 0
    return True


@dataclass
class CrashBackoff:
    """One container's back-off entry (mutable; owned by its supervisor)."""

    initial: float = INITIAL_BACKOFF
    maximum: float = MAX_BACKOFF
    backoff: float = 0.0
    last_update: float | None = None

    def _expired(self, at: float) -> bool:
        return self.last_update is None or at - self.last_update > 2 * self.maximum

    def delay(self, finished_at: float, now: float) -> float:
        """Seconds to wait before restarting a container that finished at ``finished_at``."""
        if self._expired(finished_at):
            return 0.0
        return max(0.0, finished_at + self.backoff - now)

    def advance(self, finished_at: float, now: float) -> None:
        """A container that finished at ``finished_at`` restarts now: the next crash waits twice
        as long (up to the cap)."""
        if self._expired(finished_at):
            self.backoff = self.initial
        else:
            self.backoff = min(self.backoff * 2, self.maximum)
        self.last_update = now


def go_duration(seconds: float) -> str:
    """``time.Duration.String()`` for whole seconds: ``10s``, ``1m20s``, ``5m0s``, ``1h0m0s``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def crash_loop_message(backoff: float, container: str, pod: str, namespace: str, uid: str) -> str:
    return (
        f"back-off {go_duration(backoff)} restarting failed container={container} "
        f"pod={pod}_{namespace}({uid})"
    )
