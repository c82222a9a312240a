"""One prediction per turn of the event loop, in arrival order.

A prediction runs on the event loop (CPU-bound, one worker per core: a thread hop would only add
GIL hand-offs). Without turns, every request read in one loop turn is predicted before the loop
polls its sockets again; under overload one turn lasts hundreds of milliseconds, and uvloop
accepts one new connection per turn, so connections waiting in the kernel's accept queue went
past 10 s while accepted ones were served. With turns the loop polls between predictions:
waiting connections are accepted and read, and requests are served first come, first served.
An idle server pays nothing: the first request of a turn goes straight through.
"""
from __future__ import annotations

import asyncio
from collections import deque


class LoopTurns:
    def __init__(self) -> None:
        self.waiting: deque[asyncio.Future] = deque()
        self.taken = False

    async def take(self) -> None:
        """Return when it is this caller's turn; the turn ends when the loop next goes round."""
        loop = asyncio.get_running_loop()
        if self.taken or self.waiting:
            future = loop.create_future()
            self.waiting.append(future)
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._pass_on()  # handed the turn, then cancelled: hand it to the next
                raise
        self.taken = True
        loop.call_soon(self._pass_on)

    def _pass_on(self) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(None)  # still taken: the woken caller schedules the next hand-over
                return
        self.taken = False
