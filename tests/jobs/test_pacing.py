"""The pacer of waiting pages' places: the first change at once, the ones after folded into one, none lost."""

from __future__ import annotations

import asyncio
import logging

from comfyweb.jobs.relay.pacing import Pacer


class Recorder:
    def __init__(self) -> None:
        self.state = 0
        self.sent: list[int] = []

    async def send(self) -> None:
        self.sent.append(self.state)  # what a run sends is what holds when it runs


async def test_the_first_call_runs_at_once_and_the_next_ones_fold_into_one_due_run():
    page = Recorder()
    pacer = Pacer(page.send, interval=3600)
    page.state = 1
    await pacer.call()
    assert page.sent == [1], "at once"
    due = set()
    for state in range(2, 7):
        page.state = state
        await pacer.call()
        due.add(pacer.later)
    assert page.sent == [1], "within the interval: nothing yet"
    assert len(due) == 1 and None not in due, "one run is due for the five calls"
    pacer.cancel()


async def test_the_run_at_the_end_of_the_interval_sends_the_last_change():
    page = Recorder()
    pacer = Pacer(page.send, interval=0.05)
    await pacer.call()
    for state in (1, 2, 3):
        page.state = state
        await pacer.call()
    due = pacer.later
    assert due is not None
    await due
    assert page.sent == [0, 3]
    assert pacer.later is None, "the next change may be scheduled again"


async def test_a_page_that_leaves_drops_the_run_due():
    page = Recorder()
    pacer = Pacer(page.send, interval=3600)
    await pacer.call()
    await pacer.call()
    due = pacer.later
    pacer.cancel()
    await asyncio.gather(due, return_exceptions=True)
    assert due.cancelled() and page.sent == [0] and pacer.later is None


async def test_a_failed_run_is_logged_and_the_pacer_goes_on(caplog):
    calls = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("the database blinked")

    pacer = Pacer(flaky, interval=0.01)
    await pacer.call()
    await pacer.call()
    with caplog.at_level(logging.WARNING):
        await pacer.later
    assert "a paced update failed" in caplog.text
    await asyncio.sleep(0.02)
    await pacer.call()
    assert len(calls) == 3
