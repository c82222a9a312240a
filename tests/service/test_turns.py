"""LoopTurns: one prediction per turn of the event loop, first come first served, and no wait
for a lone request. (What it fixes, connections left in the accept queue under overload, is
measured by the serving benchmark's c=256 soak.)"""
from __future__ import annotations

import asyncio

from service.turns import LoopTurns


async def ticking(turns_seen: list[int]) -> asyncio.Handle:
    """Counts loop turns: a callback that re-schedules itself runs once per turn."""
    loop = asyncio.get_running_loop()

    def tick() -> None:
        turns_seen[0] += 1
        handles[0] = loop.call_soon(tick)

    handles = [loop.call_soon(tick)]
    return handles


def test_concurrent_callers_get_one_turn_each_in_arrival_order():
    async def main():
        turns, turn_counter, taken = LoopTurns(), [0], []
        handles = await ticking(turn_counter)

        async def caller(index: int) -> None:
            await turns.take()
            taken.append((index, turn_counter[0]))

        await asyncio.gather(*(caller(index) for index in range(8)))
        handles[0].cancel()
        return taken

    taken = asyncio.run(main())
    assert [index for index, _ in taken] == list(range(8))
    loop_turns = [turn for _, turn in taken]
    assert len(set(loop_turns)) == 8, f"two predictions shared a loop turn: {loop_turns}"


def test_a_lone_caller_does_not_wait():
    async def main():
        turns = LoopTurns()
        step = turns.take().__await__()
        try:
            next(step)
        except StopIteration:
            return True  # finished without suspending
        return False

    assert asyncio.run(main())


def test_a_caller_cancelled_after_being_handed_the_turn_passes_it_on():
    async def main():
        turns, done = LoopTurns(), []

        async def caller(name: str) -> None:
            await turns.take()
            done.append(name)

        first, second, third = (asyncio.create_task(caller(name)) for name in ("first", "second", "third"))
        await asyncio.sleep(0)  # this turn: "first" takes it, the other two wait
        await asyncio.sleep(0)  # next turn: the turn is handed to "second", which has not run yet
        assert len(turns.waiting) == 1 and not second.done()  # "third" still waits
        second.cancel()
        await asyncio.wait_for(third, 2)
        return done, first.done(), second.cancelled()

    done, first_done, cancelled = asyncio.run(main())
    assert done == ["first", "third"] and first_done and cancelled
