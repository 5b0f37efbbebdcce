"""PostgreSQL's referral-link clicks written on the event loop, over one async connection of their own.

Through the threadpool, a batch of clicks also waits for a worker thread, for the GIL the event
loop holds while it serves other requests, and for the loop to notice the result: under load that
made a batch take twice as long, and the redirect with it (benchmarks/HISTORY.md). Here a batch is
one statement, ``SELECT_AND_INSERT_POSTGRES``, run in autocommit (a statement is its own
transaction: one round trip, committed when it answers), awaited on the loop, which serves other
requests while PostgreSQL works. When a person's first click is among the clicks (a response that
stops follow-ups: once in a request's life), the statement inserts nothing and the batch goes to
``record_clicks`` in the threadpool, which writes the clicks and the response together.

The connection is opened on first use (with a connect timeout) and each batch has a time limit.
Like the engine's pool (``pool_pre_ping``), a connection idle for a while is checked before it is
used, and replaced once if it went away (the server restarted, a firewall cut it): under load
batches follow each other and nothing is checked. A statement that fails is not tried again,
since whether it committed is unknown: the connection is closed, the next batch opens another, and
the failed batch's redirects answer 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy import Engine

from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.responses.clicks import (
    SELECT_AND_INSERT_POSTGRES,
    Click,
    Found,
    StoredClick,
    found_in,
    postgres_parameters,
    settle,
)
from referral_automation.web.clicks import WriteClicks

CONNECT_TIMEOUT_SECONDS = 10
#: The most a batch's statement may take before its connection is given up.
BATCH_TIMEOUT_SECONDS = 10.0
#: A connection unused for longer is checked (``SELECT 1``) before its next batch.
IDLE_CHECK_SECONDS = 5.0


class PostgresClickWriter:
    """Writes batches of clicks (``ClickBatcher``'s ``write``) on the running event loop."""

    def __init__(
        self,
        connect_args: dict[str, Any],
        signer: LinkSigner,
        fallback: WriteClicks,
        *,
        timeout: float = BATCH_TIMEOUT_SECONDS,
    ) -> None:
        self._connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, **connect_args, "autocommit": True}
        self._signer = signer
        self._fallback = fallback
        self._timeout = timeout
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._used_at = 0.0

    @classmethod
    def for_engine(
        cls, engine: Engine, signer: LinkSigner, fallback: WriteClicks, *, timeout: float = BATCH_TIMEOUT_SECONDS
    ) -> PostgresClickWriter:
        """A writer connecting as ``engine`` does (its URL's host, database, user and options)."""
        _, connect_args = engine.dialect.create_connect_args(engine.url)
        return cls(dict(connect_args), signer, fallback, timeout=timeout)

    async def write(self, clicks: Sequence[Click]) -> list[str | None]:
        """Record ``clicks`` in one transaction; each click's campaign (``None``: unknown code)."""
        stored = [StoredClick.of(click, self._signer) for click in clicks]
        parameters = postgres_parameters(stored, with_first_clicks=False)
        found = await self._select_and_insert(parameters)
        campaigns, firsts = settle(stored, found)
        if firsts:  # nothing was inserted: the clicks go with their response
            return await self._fallback(clicks)
        return campaigns

    async def close(self) -> None:
        if self._connection is not None:
            await self._drop()

    async def _select_and_insert(self, parameters: tuple[Any, ...]) -> Found:
        connection = await self._connected()
        try:
            async with asyncio.timeout(self._timeout):
                cursor = await connection.execute(SELECT_AND_INSERT_POSTGRES, parameters)
                rows = await cursor.fetchall()
        except BaseException:
            await self._drop()
            raise
        self._used_at = asyncio.get_running_loop().time()
        return found_in(rows)

    async def _connected(self) -> psycopg.AsyncConnection[Any]:
        """The open connection, made on this event loop (a test client may run one loop per request),
        checked first when it has been idle."""
        loop = asyncio.get_running_loop()
        if self._connection is not None and (self._loop is not loop or self._connection.closed):
            await self._drop()
        if self._connection is not None and loop.time() - self._used_at > IDLE_CHECK_SECONDS:
            await self._check(self._connection)
        if self._connection is None:
            self._connection = await psycopg.AsyncConnection.connect(**self._connect_args)
            self._loop = loop
        return self._connection

    async def _check(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """``SELECT 1`` on the idle connection; dropped (to be replaced) if it fails."""
        try:
            async with asyncio.timeout(self._timeout):
                await connection.execute("SELECT 1")
        except (psycopg.Error, TimeoutError):
            await self._drop()

    async def _drop(self) -> None:
        connection, self._connection, self._loop = self._connection, None, None
        if connection is not None:
            await connection.close()
