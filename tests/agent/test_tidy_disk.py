"""A tidy disk: the agent deletes its uploads once unused and its outputs with their records, and nothing else."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from comfyweb.agent.files import FileJanitor, Folders, folders_from_argv, safe_file
from tests.agent.conftest import data_url, eventually, load_image_prompt, png_bytes, wait_for_status
from tests.prompts import sampler_workflow

HOUR = 3600


@pytest.fixture
def tidy_agent(start_agent, emulator, tmp_path):
    def start(**overrides):
        return start_agent(
            comfyui_input_dir=str(emulator.input_dir),
            comfyui_output_dir=str(emulator.output_dir),
            state_dir=str(tmp_path / "agent-state"),
            **overrides,
        )

    return start


def uploads(emulator) -> list[str]:
    return sorted(path.name for path in emulator.input_dir.iterdir() if path.name.startswith("cw_"))


def outputs(emulator) -> list[str]:
    return sorted(str(path.relative_to(emulator.output_dir)) for path in emulator.output_dir.rglob("*.png"))


async def test_inputs_go_when_the_task_ends_outputs_when_the_record_expires(tidy_agent, emulator):
    async with tidy_agent(record_ttl=HOUR) as server, server.client() as client:
        answer = await client.post("/api/run", json=load_image_prompt(data_url(png_bytes((16, 16), "red"))))
        assert answer.status_code == 200, answer.text
        assert uploads(emulator) == [], "the uploaded picture went with its task"
        saved = outputs(emulator)
        assert len(saved) == 1
        janitor = server.agent.runner.janitor  # notes them down just after the answer
        await eventually(lambda: [entry["path"] for entry in janitor.pending()] == saved, "the outputs are noted")
        assert janitor.sweep(now=time.time() + HOUR - 60) == 0, "kept while the record lives"
        assert outputs(emulator) == saved
        assert janitor.sweep(now=time.time() + HOUR + 1) == 1
    assert outputs(emulator) == []
    assert janitor.pending() == []


async def test_a_picture_two_tasks_share_stays_until_neither_needs_it(tidy_agent, emulator):
    emulator.config.step_ms = 20
    picture = {"20": {"class_type": "LoadImage", "inputs": {"image": data_url(png_bytes((16, 16), "green"))}}}
    async with tidy_agent(concurrency=2) as server, server.client() as client:
        headers = {"X-Fc-Invocation-Type": "Async"}
        long_run = sampler_workflow(steps=5000)  # each ends when the test cancels it
        await client.post("/api/run", json=long_run | picture, headers={**headers, "task-id": "a"})
        await wait_for_status(server, "a", {"running"})
        await client.post("/api/run", json=long_run | picture, headers={**headers, "task-id": "b"})
        await eventually(lambda: server.agent.runner.tasks["b"].phase == "submitted", "task b is on ComfyUI")
        await client.delete("/api/run", params={"id": "a"})
        kept = uploads(emulator)
        await client.delete("/api/run", params={"id": "b"})
        await eventually(lambda: not uploads(emulator), "the picture is deleted")
    assert len(kept) == 1, "task b still used the picture when task a ended"


@pytest.mark.parametrize("path", ["sync", "websocket"])
async def test_outputs_after_read_delete_removes_them_once_an_answer_carried_them(tidy_agent, emulator, path):
    async with tidy_agent(outputs_after_read="delete") as server:
        if path == "sync":
            async with server.client() as client:
                answer = await client.post("/api/run", json=load_image_prompt(data_url(png_bytes())))
            assert answer.json()["3"]["results"]
        else:
            async with server.connect() as socket:
                await socket.send(json.dumps(load_image_prompt(data_url(png_bytes()))))
                frames = [json.loads(raw) async for raw in socket]
            assert frames[-1]["type"] == "result" and frames[-1]["data"]["3"]["results"]
        await eventually(lambda: not outputs(emulator), "the outputs are deleted")
        remaining = outputs(emulator)
        pending = server.agent.runner.janitor.pending()
    assert remaining == [] and pending == []


async def test_outputs_an_answer_did_not_carry_are_kept_for_async_clients(tidy_agent, emulator):
    async with tidy_agent(outputs_after_read="delete") as server, server.client() as client:
        headers = {"X-Fc-Invocation-Type": "Async", "task-id": "polled"}
        await client.post("/api/run", json=load_image_prompt(data_url(png_bytes())), headers=headers)
        progress = await wait_for_status(server, "polled", {"succeeded"})
        no_results = await client.post("/api/run", json=load_image_prompt(data_url(png_bytes((9, 9)))),
                                       params={"results": "0"})  # fmt: skip
        image = progress["3"]["images"][0]
        viewed = await client.get("/view", params={"filename": image["filename"], "type": "output"})
    assert no_results.status_code == 200
    assert viewed.status_code == 200, "an async client fetches its output through /view after polling"
    assert len(outputs(emulator)) == 2


async def test_a_file_the_agent_did_not_upload_is_never_deleted(tidy_agent, emulator):
    """A prompt naming a file that looks like an agent upload (but was put there by someone else) leaves it."""
    foreign = "cw_" + "0123456789abcdef" * 2 + ".png"
    (emulator.input_dir / foreign).write_bytes(png_bytes((8, 8), "white"))
    (emulator.input_dir / "visitor.png").write_bytes(png_bytes((8, 8), "white"))
    async with tidy_agent() as server, server.client() as client:
        for name in (foreign, "visitor.png"):
            answer = await client.post("/api/run", json=load_image_prompt(name))
            assert answer.status_code == 200, answer.text
    assert (emulator.input_dir / foreign).exists() and (emulator.input_dir / "visitor.png").exists()


# --- the janitor's own checks: it can be made to delete nothing else ---------------------------------------


@pytest.fixture
def folders(tmp_path):
    root = tmp_path / "comfy"
    (root / "input").mkdir(parents=True)
    (root / "output" / "sub").mkdir(parents=True)
    outside = tmp_path / "precious.png"
    outside.write_bytes(b"keep me")
    janitor = FileJanitor(input_dir=str(root / "input"), output_dir=str(root / "output"),
                          state_dir=tmp_path / "state", record_ttl=HOUR)  # fmt: skip
    return janitor, root, outside


def test_outputs_outside_the_folder_or_through_links_are_refused(folders):
    janitor, root, outside = folders
    output = root / "output"
    (output / "link.png").symlink_to(outside)
    (output / "linkdir").symlink_to(outside.parent)
    (output / "sub" / "ok.png").write_bytes(b"mine")
    refs = [
        {"filename": "precious.png", "subfolder": "..", "type": "output"},
        {"filename": "../../precious.png", "subfolder": "", "type": "output"},
        {"filename": str(outside), "subfolder": "", "type": "output"},
        {"filename": "link.png", "subfolder": "", "type": "output"},
        {"filename": "precious.png", "subfolder": "linkdir", "type": "output"},
        {"filename": "sub", "subfolder": "", "type": "output"},  # a folder
        {"filename": "ok.png", "subfolder": "sub", "type": "temp"},  # not an output
        {"filename": "ok.png", "subfolder": "sub", "type": "output"},
    ]
    assert janitor.register_outputs("t", refs, since=time.time() - 1) == 1
    assert janitor.sweep(now=time.time() + 2 * HOUR) == 1
    assert outside.read_bytes() == b"keep me"
    assert not (output / "sub" / "ok.png").exists()
    assert (output / "link.png").is_symlink() and (output / "linkdir").is_symlink()


def test_an_output_older_than_its_task_or_replaced_since_is_kept(folders):
    janitor, root, _ = folders
    output = root / "output"
    old = output / "someone_elses.png"
    old.write_bytes(b"old")
    os.utime(old, (time.time() - HOUR, time.time() - HOUR))
    mine = output / "mine.png"
    mine.write_bytes(b"mine")
    refs = [{"filename": "someone_elses.png", "type": "output"}, {"filename": "mine.png", "type": "output"}]
    assert janitor.register_outputs("t", refs, since=time.time() - 1) == 1
    mine.unlink()
    mine.write_bytes(b"another file now, written by someone else")
    assert janitor.sweep(now=time.time() + 2 * HOUR) == 0
    assert old.exists() and mine.exists()
    assert janitor.pending() == [], "the ledger forgets what it may not delete"


def test_only_the_agents_own_upload_names_inside_the_input_folder_are_deleted(folders):
    janitor, root, outside = folders
    inputs = root / "input"
    ours = "cw_" + "a" * 32 + ".png"
    (inputs / ours).write_bytes(b"x")
    (inputs / "user.png").write_bytes(b"x")
    (inputs / ("cw_" + "b" * 32 + ".png")).symlink_to(outside)
    names = {ours, "user.png", "../precious.png", str(outside), "cw_" + "b" * 32 + ".png", "sub/" + ours}
    assert janitor.release_inputs(names, in_use=set()) == 1
    assert not (inputs / ours).exists()
    assert (inputs / "user.png").exists() and outside.exists()
    (inputs / ours).write_bytes(b"x")
    assert janitor.release_inputs({ours}, in_use={ours}) == 0, "in use by a live task"


def test_safe_file_refuses_the_folder_itself_and_empty_names(folders):
    _, root, _ = folders
    assert safe_file(root / "output", "") is None
    assert safe_file(root / "output", ".") is None
    assert safe_file(root / "output", "/etc/passwd") is None


def test_comfyuis_folders_are_found_from_its_command_line(tmp_path):
    found = folders_from_argv(["main.py", "--input-directory", "/d/in", "--output-directory=/d/out"])
    assert found == Folders(input=Path("/d/in"), output=Path("/d/out"))
    found = folders_from_argv(["/opt/ComfyUI/main.py", "--listen", "127.0.0.1"])
    assert (str(found.input), str(found.output)) == ("/opt/ComfyUI/input", "/opt/ComfyUI/output")
    assert not folders_from_argv(["main.py", "--output-directory", "relative/out"]).known

    janitor = FileJanitor(state_dir=tmp_path, comfyui_url="http://127.0.0.1:8188")
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    stats = {"system": {"argv": ["main.py", "--input-directory", str(tmp_path / "in"),
                                 "--output-directory", str(tmp_path / "out")]}}  # fmt: skip
    janitor.may_discover(stats)
    assert (janitor.folders.input, janitor.folders.output) == (tmp_path / "in", tmp_path / "out")
    remote = FileJanitor(state_dir=tmp_path, comfyui_url="http://gpu-7:8188")
    remote.may_discover(stats)
    assert not remote.folders.known, "another machine's paths mean nothing here"
