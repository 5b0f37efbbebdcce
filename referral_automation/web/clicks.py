"""Group commit for referral-link clicks: the clicks that arrive while a batch is being written
are written together, in the next one.

A click's transaction costs far more than its rows (the session, BEGIN and COMMIT, and on
PostgreSQL a flush of the write-ahead log), and on SQLite there is one writer anyway. So one
background task writes what has gathered, waits for it, and writes again while clicks keep coming;
a lone click is written at once. Each redirect still answers only once its click is committed: a
302 never stands for a click that is not stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from referral_automation.services.responses.clicks import Click

#: Clicks written in one transaction at most: a burst is split so no redirect waits for thousands.
MAX_BATCH = 256

#: Writes a batch of clicks off the event loop; each click's campaign (None: unknown code).
WriteClicks = Callable[[Sequence[Click]], Awaitable[list[str | None]]]


class ClickBatcher:
    """Clicks gathered while the previous batch is written, then written as one batch."""

    def __init__(self, write: WriteClicks, *, max_batch: int = MAX_BATCH) -> None:
        self._write = write
        self._max_batch = max_batch
        self._pending: list[tuple[Click, asyncio.Future[str | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, click: Click) -> str | None:
        """The campaign of the click's request once the click is committed (None: unknown code)."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending.append((click, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_pending())
        return await future

    async def _write_pending(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._write_batch(batch)
        finally:
            self._writer = None

    async def _write_batch(self, batch: list[tuple[Click, asyncio.Future[str | None]]]) -> None:
        try:
            campaigns = await self._write([click for click, _ in batch])
        except Exception as error:  # every redirect of the batch answers with it (a 500), none hangs
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), campaign in zip(batch, campaigns, strict=True):
            if not future.done():  # a client that went away has cancelled its future
                future.set_result(campaign)
