"""service/turns.py: the turn is released once nobody waits (cases beyond tests/service/test_turns.py)."""
from __future__ import annotations

import asyncio

import pytest

from service.turns import LoopTurns


@pytest.mark.parametrize("callers", [pytest.param(1, id="one"), pytest.param(5, id="five")])
def test_the_turn_is_free_again_after_a_burst(callers):
    async def main():
        turns, order = LoopTurns(), []

        async def caller(index):
            await turns.take()
            order.append(index)

        await asyncio.gather(*(caller(i) for i in range(callers)))
        await asyncio.sleep(0)  # the last holder's turn ends when the loop goes round
        return order, turns.taken, len(turns.waiting)

    assert asyncio.run(main()) == (list(range(callers)), False, 0)


def test_a_waiter_cancelled_before_its_turn_is_skipped():
    async def main():
        turns, done = LoopTurns(), []

        async def caller(name):
            await turns.take()
            done.append(name)

        tasks = [asyncio.create_task(caller(n)) for n in ("a", "b", "c")]
        await asyncio.sleep(0)  # "a" holds the turn, "b" and "c" wait
        tasks[1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return done

    assert asyncio.run(main()) == ["a", "c"]
