"""The protocol client over real sockets: the emulator always, a real ComfyUI in `make test-comfyui`."""

from __future__ import annotations

import asyncio
import io
import json
import uuid

import pytest
from PIL import Image

from comfyweb.comfy.client import ComfyClient, client_id_for, parse_preview_frame
from comfyweb.comfy.errors import ComfyHTTPError, ComfyTimeout, ComfyUnavailable, PromptValidationError
from tests.conftest import free_port, load_fixture
from tests.images import png_bytes
from tests.prompts import CORE_WORKFLOW, sampler_workflow


async def test_run_reports_progress_and_returns_the_saved_image(comfy_url):
    snapshots: list[dict] = []

    async def on_progress(progress: dict) -> None:
        snapshots.append(progress)

    async with ComfyClient(comfy_url) as comfy:
        result = await comfy.run(CORE_WORKFLOW, on_progress=on_progress)
        image = Image.open(io.BytesIO(await comfy.view(result.outputs[0]["filename"])))
    assert result.status == "succeeded" and result.error is None
    assert [ref["node"] for ref in result.outputs] == ["3"]
    assert image.size == (32, 24)
    assert snapshots[-1][""]["status"] == "succeeded"
    assert any(s[""]["status"] == "running" for s in snapshots), "the run was seen while it ran"
    assert snapshots[0] is not snapshots[-1], "each callback gets its own copy"


async def test_a_refused_prompt_keeps_comfyuis_node_errors(comfy_url):
    recorded = load_fixture("comfyui/validation_error.json")
    async with ComfyClient(comfy_url) as comfy:
        with pytest.raises(PromptValidationError) as caught:
            await comfy.run(recorded["workflow"])
    error = caught.value
    assert error.status == 400
    assert error.error["type"] == recorded["post_body"]["error"]["type"]
    assert set(error.node_errors) == set(recorded["post_body"]["node_errors"])
    assert "node" in str(error)


async def test_upload_then_view_round_trips_the_bytes(comfy_url):
    data = png_bytes()
    name = f"client-{uuid.uuid4().hex[:8]}.png"
    async with ComfyClient(comfy_url) as comfy:
        stored = await comfy.upload_image(data, name)
        assert stored == {"name": name, "subfolder": "", "type": "input"}
        assert await comfy.view(name, image_type="input") == data
        with pytest.raises(ComfyHTTPError) as caught:
            await comfy.view("does-not-exist.png")
    assert caught.value.status == 404


async def test_an_uploaded_picture_goes_through_loadimage_scale_save(comfy_url):
    name = f"cw-{uuid.uuid4().hex[:8]}.png"
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": name}},
        "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact",
                                                       "width": 24, "height": 18, "crop": "disabled"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "roundtrip"}},
    }  # fmt: skip
    async with ComfyClient(comfy_url) as comfy:
        uploaded = await comfy.upload_image(png_bytes((48, 36), "green"), name)
        assert uploaded["name"] == name
        result = await comfy.run(prompt)
        saved = Image.open(io.BytesIO(await comfy.view(result.outputs[0]["filename"])))
    assert result.status == "succeeded"
    assert saved.size == (24, 18) and saved.convert("RGB").getpixel((5, 5))[1] > 100


async def test_a_rerun_is_served_from_the_cache(comfy_url):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
                                                      "color": uuid.uuid4().int % 0xFFFFFF}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "cached"}},
    }  # fmt: skip
    async with ComfyClient(comfy_url) as comfy:
        first = await comfy.run(prompt)
        again = await comfy.run(prompt)
        # ComfyUI writes the history after it sends the end of the run: on a busy machine, a moment later
        for _ in range(100):
            history = (await comfy.history(again.prompt_id)).get(again.prompt_id)
            if history:
                break
            await asyncio.sleep(0.1)
        assert history, "ComfyUI never wrote the rerun's history"
    assert first.status == again.status == "succeeded" and again.prompt_id != first.prompt_id
    assert again.outputs == first.outputs, "the cached output node reports the same files"
    cached = [data["nodes"] for kind, data in history["status"]["messages"] if kind == "execution_cached"]
    assert len(cached) == 1 and sorted(cached[0]) == ["1", "2"]
    assert all(node["value"] == node["max"] for key, node in again.progress.items() if key), "cached nodes are done"


async def test_object_info_and_system_stats(comfy_url):
    async with ComfyClient(comfy_url) as comfy:
        info = await comfy.object_info("LoadImage")
        stats = await comfy.system_stats()
    assert "image" in info["LoadImage"]["input"]["required"]
    assert "system" in stats


async def test_follow_after_the_prompt_finished_reads_history(comfy_url):
    async with ComfyClient(comfy_url) as comfy:
        first = await comfy.run(CORE_WORKFLOW)
        again = await comfy.follow(first.prompt_id, prompt=CORE_WORKFLOW)
    assert again.status == "succeeded"
    assert again.outputs == first.outputs


async def test_execution_error_is_a_failed_result_with_the_node(emulator):
    emulator.set_faults(fail_class_type="ImageInvert")
    async with ComfyClient(emulator.url) as comfy:
        result = await comfy.run(CORE_WORKFLOW)
    assert result.status == "failed"
    assert result.error["node_id"] == "2" and result.error["node_type"] == "ImageInvert"


async def test_interrupt_cancels_only_the_running_prompt(emulator):
    async with ComfyClient(emulator.url) as comfy:
        run = asyncio.create_task(comfy.run(sampler_workflow(steps=400), prompt_id="long"))
        while "long" not in (await comfy.queued_prompt_ids())[0]:
            await asyncio.sleep(0.01)
        assert not await comfy.interrupt("someone-else"), "never interrupt another prompt"
        assert await comfy.interrupt("long")
        result = await run
    assert result.status == "cancelled"


async def test_a_prompt_deleted_from_the_queue_ends_cancelled(emulator):
    async with ComfyClient(emulator.url) as comfy:
        blocker = asyncio.create_task(comfy.run(sampler_workflow(steps=150), prompt_id="blocker"))
        waiting = asyncio.create_task(comfy.run(CORE_WORKFLOW, prompt_id="waiting"))
        while "waiting" not in (await comfy.queued_prompt_ids())[1]:
            await asyncio.sleep(0.01)
        await comfy.delete_queued(["waiting"])
        result = await waiting
        await comfy.interrupt("blocker")
        await blocker
    assert result.status == "cancelled"


async def test_without_copies_the_callback_sees_the_live_state(comfy_url):
    seen: list[tuple[dict, str]] = []

    async def on_progress(progress: dict) -> None:
        seen.append((progress, progress[""]["status"]))

    async with ComfyClient(comfy_url) as comfy:
        result = await comfy.run(CORE_WORKFLOW, on_progress=on_progress, copy_progress=False)
    assert {id(progress) for progress, _status in seen} == {id(result.progress)}
    assert "running" in [status for _progress, status in seen], "each call still comes as the state changes"
    assert seen[-1][1] == "succeeded"


async def test_a_dropped_socket_is_reattached_and_the_run_completes(emulator):
    emulator.set_faults(drop_ws_after=4)
    seen: list[dict] = []

    async def on_progress(progress: dict) -> None:
        seen.append(progress)

    async with ComfyClient(emulator.url) as comfy:
        result = await comfy.run(sampler_workflow(steps=20), on_progress=on_progress)
    assert result.status == "succeeded"
    assert result.outputs and result.outputs[0]["node"] == "9"


async def test_another_process_can_follow_a_running_prompt(emulator):
    async with ComfyClient(emulator.url) as first, ComfyClient(emulator.url) as second:
        run = asyncio.create_task(first.run(sampler_workflow(steps=60), prompt_id="shared"))
        while "shared" not in (await first.queued_prompt_ids())[0]:
            await asyncio.sleep(0.01)
        steps: list[int] = []

        async def on_progress(progress: dict) -> None:
            steps.append(progress["3"]["value"])

        followed = await second.follow("shared", prompt=sampler_workflow(steps=60), on_progress=on_progress)
        original = await run
    assert followed.status == original.status == "succeeded"
    assert followed.outputs == original.outputs
    assert steps, "the follower received live messages (same derived client id)"


async def test_timeout_raises_while_the_prompt_keeps_running(emulator):
    async with ComfyClient(emulator.url) as comfy:
        with pytest.raises(ComfyTimeout):
            await comfy.run(sampler_workflow(steps=500), prompt_id="slow", timeout=0.3)
        assert "slow" in (await comfy.queued_prompt_ids())[0]
        await comfy.interrupt("slow")


async def test_unreachable_comfyui_is_a_clear_error():
    async with ComfyClient(f"http://127.0.0.1:{free_port()}", timeout=2) as comfy:
        with pytest.raises(ComfyUnavailable, match="unreachable"):
            await comfy.run(CORE_WORKFLOW)
        with pytest.raises(ComfyUnavailable):
            await comfy.system_stats()


def test_client_ids_are_derived_from_prompt_ids():
    assert client_id_for("abc") == client_id_for("abc") != client_id_for("abd")


def test_binary_preview_frames_are_decoded():
    legacy = (1).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"PNGDATA"
    assert parse_preview_frame(legacy) == (None, None, "image/png", b"PNGDATA")
    meta = json.dumps({"node_id": "3", "prompt_id": "p", "image_type": "image/jpeg"}).encode()
    framed = (4).to_bytes(4, "big") + len(meta).to_bytes(4, "big") + meta + b"JPEG"
    assert parse_preview_frame(framed) == ("3", "p", "image/jpeg", b"JPEG")
    assert parse_preview_frame(b"\x00\x00") is None
    assert parse_preview_frame((9).to_bytes(4, "big") * 2) is None


async def test_comfyui_dying_mid_run_is_unavailable_after_the_grace_period(tmp_path):
    from tests.processes import EmulatorProcess

    doomed = await asyncio.to_thread(EmulatorProcess, tmp_path)
    try:
        doomed.set_faults(exit_at_node="3")
        async with ComfyClient(doomed.url, unavailable_grace=0.5) as comfy:
            with pytest.raises(ComfyUnavailable):
                await comfy.run(sampler_workflow(steps=5))
    finally:
        doomed.stop()


async def test_a_prompt_lost_by_a_comfyui_restart_is_unavailable_not_cancelled(tmp_path):
    from tests.processes import EmulatorProcess

    first = await asyncio.to_thread(EmulatorProcess, tmp_path)
    try:
        first.set_faults(exit_at_node="3")
        async with ComfyClient(first.url, unavailable_grace=30) as comfy:
            run = asyncio.create_task(comfy.run(sampler_workflow(steps=5)))
            await asyncio.to_thread(first.process.wait, 30)  # it died mid-run...
            restarted = await asyncio.to_thread(EmulatorProcess, tmp_path, port=first.port)  # ...and came back
            try:
                with pytest.raises(ComfyUnavailable, match="lost prompt"):
                    await run
            finally:
                restarted.stop()
    finally:
        first.stop()
