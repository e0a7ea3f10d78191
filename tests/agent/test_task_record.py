"""What other instances read from the store: never the end of a task without its results."""

from __future__ import annotations

from comfyweb.agent.tasks import Phase, RunOptions, Task
from comfyweb.comfy.progress import new_progress


def task_with_status(status: str, phase: Phase) -> Task:
    progress = new_progress({"9": {}}, "p")
    progress[""]["status"] = status
    return Task(id="t", prompt={}, options=RunOptions(), prompt_id="p", progress=progress, phase=phase)


def test_a_finished_run_is_stored_as_running_until_its_results_are_in():
    task = task_with_status("succeeded", phase=Phase.SUBMITTED)
    assert task.record("i")["progress"][""]["status"] == "running"
    assert task.progress[""]["status"] == "succeeded", "the task itself keeps the truth"


def test_the_final_record_carries_the_final_status():
    task = task_with_status("succeeded", phase=Phase.FINAL)
    task.results = {"9": ["aGVsbG8="]}
    record = task.record("i")
    assert record["progress"][""]["status"] == "succeeded" and record["results"] == {"9": ["aGVsbG8="]}


def test_a_record_is_a_snapshot():
    task = task_with_status("running", phase=Phase.SUBMITTED)
    record = task.record("i")
    task.progress["9"]["value"] = 1
    assert record["progress"]["9"]["value"] == 0
