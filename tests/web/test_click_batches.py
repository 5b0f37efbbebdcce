"""Group commit of referral-link clicks (``web.clicks``): the clicks that arrive while a batch is
written go together in the next one, each redirect gets its own click's answer, and a failed
batch fails only its own redirects."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from referral_automation.services.responses.clicks import Click
from referral_automation.web.clicks import ClickBatcher

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def click(code: str) -> Click:
    return Click(code=code, ip=None, user_agent=None, at=AT)


class SlowStore:
    """Writes batches one at a time, each taking until ``release`` is set; an ``unknown…`` code is
    not found, a ``poison…`` code fails its whole batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()

    async def write(self, clicks: Sequence[Click]) -> list[str | None]:
        codes = [c.code for c in clicks]
        self.batches.append(codes)
        await self.release.wait()
        if any(code.startswith("poison") for code in codes):
            raise RuntimeError("the database went away")
        return [None if code.startswith("unknown") else f"campaign-of-{code}" for code in codes]


def test_clicks_arriving_during_a_write_go_together_in_the_next_batch() -> None:
    """It writes the first click alone at once, then everything that arrived meanwhile as one batch,
    and answers each click with its own campaign."""

    async def scenario() -> tuple[list[str | None], list[list[str]]]:
        store = SlowStore()
        batcher = ClickBatcher(store.write)
        first = asyncio.create_task(batcher.record(click("a")))
        await asyncio.sleep(0)
        later = [asyncio.create_task(batcher.record(click(code))) for code in ("b", "unknown1", "c")]
        await asyncio.sleep(0)
        store.release.set()
        answers = await asyncio.gather(first, *later)
        return list(answers), store.batches

    answers, batches = asyncio.run(scenario())
    assert batches == [["a"], ["b", "unknown1", "c"]]
    assert answers == ["campaign-of-a", "campaign-of-b", None, "campaign-of-c"]


def test_a_burst_is_split_into_batches_of_at_most_max_batch() -> None:
    """It never writes more than ``max_batch`` clicks in one transaction."""

    async def scenario() -> list[list[str]]:
        store = SlowStore()
        store.release.set()
        batcher = ClickBatcher(store.write, max_batch=3)
        await asyncio.gather(*(batcher.record(click(f"c{n}")) for n in range(8)))
        return store.batches

    batches = asyncio.run(scenario())
    assert [len(batch) for batch in batches] == [3, 3, 2]
    assert [code for batch in batches for code in batch] == [f"c{n}" for n in range(8)]


def test_a_failed_batch_fails_its_own_redirects_and_the_next_batch_goes_on() -> None:
    """It raises the write's error in each redirect of the failed batch only, and keeps writing."""

    async def scenario() -> tuple[list[object], str | None]:
        store = SlowStore()
        batcher = ClickBatcher(store.write)
        first = asyncio.create_task(batcher.record(click("a")))
        await asyncio.sleep(0)
        doomed = [asyncio.create_task(batcher.record(click(code))) for code in ("poison1", "b")]
        await asyncio.sleep(0)
        store.release.set()
        await first
        outcomes = await asyncio.gather(*doomed, return_exceptions=True)
        after = await batcher.record(click("d"))
        return list(outcomes), after

    outcomes, after = asyncio.run(scenario())
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert after == "campaign-of-d"


def test_a_client_that_goes_away_does_not_stop_the_others() -> None:
    """It still writes a cancelled redirect's click (it arrived) and answers the rest of its batch."""

    async def scenario() -> tuple[list[list[str]], str | None]:
        store = SlowStore()
        batcher = ClickBatcher(store.write)
        first = asyncio.create_task(batcher.record(click("a")))
        await asyncio.sleep(0)
        gone = asyncio.create_task(batcher.record(click("b")))
        stays = asyncio.create_task(batcher.record(click("c")))
        await asyncio.sleep(0)
        gone.cancel()
        store.release.set()
        await first
        with pytest.raises(asyncio.CancelledError):
            await gone
        return store.batches, await stays

    batches, answer = asyncio.run(scenario())
    assert batches == [["a"], ["b", "c"]]
    assert answer == "campaign-of-c"
