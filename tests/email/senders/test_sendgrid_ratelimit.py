"""The token bucket that caps messages per second for the whole process."""

from __future__ import annotations

import threading
import time

import pytest

from referral_automation.email.senders.ratelimit import TokenBucket
from tests.support.sendgrid import FakeClock


def test_burst_then_one_token_every_interval() -> None:
    """It gives the burst at once, then one token per 1/rate seconds."""
    clock = FakeClock()
    bucket = TokenBucket(10, burst=3, clock=clock.monotonic, sleep=clock.sleep)
    times = []
    for _ in range(7):
        bucket.acquire()
        times.append(round(clock.monotonic() - 1000.0, 6))
    assert times == [0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.4]


def test_idle_time_refills_up_to_the_burst_only() -> None:
    """It refills while idle but never beyond the burst."""
    clock = FakeClock()
    bucket = TokenBucket(10, burst=2, clock=clock.monotonic, sleep=clock.sleep)
    bucket.acquire()
    bucket.acquire()
    clock.sleep(60)
    clock.sleeps.clear()
    for _ in range(3):
        bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.1)]


def test_hold_until_stops_every_caller() -> None:
    """It gives no token before a hold's deadline, whatever the tokens in hand."""
    clock = FakeClock()
    bucket = TokenBucket(100, burst=10, clock=clock.monotonic, sleep=clock.sleep)
    bucket.hold_for(5)
    assert bucket.acquire() == pytest.approx(5)
    assert clock.monotonic() - 1000.0 == pytest.approx(5)


def test_rejects_a_rate_that_is_not_positive() -> None:
    """It refuses a zero rate."""
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_threads_together_stay_within_the_rate() -> None:
    """It keeps many threads together within the rate: beyond the burst, no token before its slot."""
    rate, burst, total = 400.0, 4, 120
    bucket = TokenBucket(rate, burst=burst)
    acquired: list[int] = []
    lock = threading.Lock()

    def worker(count: int) -> None:
        for _ in range(count):
            bucket.acquire()
            with lock:
                acquired.append(1)

    threads = [threading.Thread(target=worker, args=(total // 8,)) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert len(acquired) == total
    # Each token beyond the burst is reserved at its own slot, 1/rate after the one before, and
    # sleeping never ends early: however the threads were scheduled, the last one got its token no
    # sooner than this. (When each thread *returns* depends on the scheduler, not on the bucket.)
    assert elapsed >= (total - burst) / rate
