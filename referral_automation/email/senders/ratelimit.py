"""A thread-safe token bucket: the global ceiling on messages per second for one process.

Every attempt to call the provider takes a token first, whichever pool thread makes it, so
retries count against the same budget as first tries. Tokens may go negative: a caller
*reserves* the next free slot under the lock and sleeps outside it, so waiting threads are
served in order and never hold the lock while asleep. When the provider says "slow down"
(a 429 with a reset time), ``hold_until`` stops every thread, not only the one that was told.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """At most ``burst + rate * T`` tokens are granted in any interval of length ``T`` (each beyond
    the burst at its own reserved slot; when its thread gets to run again is the scheduler's)."""

    def __init__(
        self,
        rate_per_second: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.rate = float(rate_per_second)
        #: A small burst (about a tenth of a second's worth) keeps the pool busy without spikes.
        self.burst = max(1, burst if burst is not None else int(self.rate / 10))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = clock()
        self._held_until = float("-inf")

    def acquire(self) -> float:
        """Take one token, sleeping until it exists; return how long the caller waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._held_until)
            if start > self._updated:
                self._tokens = min(float(self.burst), self._tokens + (start - self._updated) * self.rate)
                self._updated = start
            self._tokens -= 1.0
            ready_at = self._updated + max(0.0, -self._tokens) / self.rate
        waited = 0.0
        while ready_at > now:
            self._sleep(ready_at - now)
            waited += ready_at - now
            # A hold that arrived while we slept (another thread got a 429) applies to us too.
            with self._lock:
                now, ready_at = self._clock(), max(ready_at, self._held_until)
        return waited

    def hold_until(self, deadline: float) -> None:
        """Give no token before ``deadline`` (same clock), e.g. until a 429's reset time."""
        with self._lock:
            self._held_until = max(self._held_until, deadline)
            if deadline > self._updated:
                # No burst after a hold: one token at the deadline, then the steady rate.
                self._tokens = min(self._tokens, 1.0)
                self._updated = deadline

    def hold_for(self, seconds: float) -> None:
        """``hold_until`` relative to now."""
        self.hold_until(self._clock() + max(0.0, seconds))
