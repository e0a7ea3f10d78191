"""What an agent shows of a task has been written to the shared store first.

Two agent instances on one store: whatever the instance running a task answers (`/api/status`, its
WebSocket frames), the other instance, reading the store right after, is never behind it.
"""

from __future__ import annotations

import asyncio
import json

from tests.agent.conftest import running_agent
from tests.prompts import sampler_workflow

ORDER = {"queued": 0, "downloading": 0, "running": 1, "succeeded": 2, "failed": 2, "cancelled": 2}


def stage(progress: dict) -> tuple[int, int]:
    """How far a task has got: its status, then the steps done over every node."""
    status = ORDER[progress[""]["status"]]
    return status, sum(entry.get("value", 0) for node, entry in progress.items() if node)


async def test_a_second_instance_is_never_behind_what_the_first_shows(agent_settings):
    async with (
        running_agent(agent_settings) as first,
        running_agent(agent_settings) as second,
        first.client() as to_first,
        second.client() as to_second,
    ):
        pairs: list[tuple[tuple[int, int], tuple[int, int]]] = []

        async def compare(shown: dict) -> None:
            answer = await to_second.get("/api/status", params={"id": "shared"})
            assert answer.status_code == 200, "the task the first instance showed is in the store"
            pairs.append((stage(shown), stage(answer.json())))

        async def poll_status() -> None:
            while True:
                answer = await to_first.get("/api/status", params={"id": "shared"})
                if answer.status_code == 200:
                    await compare(answer.json())
                    if ORDER[answer.json()[""]["status"]] == 2:
                        return

        headers = {"X-Fc-Invocation-Type": "Async", "task-id": "shared"}
        polling = asyncio.create_task(poll_status())
        accepted = await to_first.post("/api/run", json=sampler_workflow(steps=30), headers=headers)
        assert accepted.status_code == 202
        async with first.connect("/api/run/ws?id=shared") as socket:
            async for raw in socket:
                await compare(json.loads(raw)["data"].get("progress") or json.loads(raw)["data"])
        await asyncio.wait_for(polling, 60)
    assert len(pairs) > 10
    behind = [(shown, stored) for shown, stored in pairs if stored < shown]
    assert not behind, f"the second instance was behind {len(behind)} time(s) of {len(pairs)}: {behind[:5]}"
    assert pairs[-1][1][0] == 2, "both end on the final state"
