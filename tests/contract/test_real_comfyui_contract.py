"""The emulator's contract with real ComfyUI: the same core-image-node workflows, side by side.

Runs only under `make test-comfyui` (REAL_COMFYUI_URL set by tests/contract/run_real_comfyui.sh); each test
drives the emulator and the real ComfyUI 0.3.75 with the same requests and compares what a client sees:
message types, order and JSON shape, validation error bodies, /object_info of the core image nodes, the
/upload/image answer and /view status codes. Values that differ by nature (ids, timestamps, file counters,
tracebacks) are compared by shape only. The last tests check that the recorded transcripts under
tests/fixtures/comfyui/ (which `make test` holds the emulator to) still describe the real server.
"""

from __future__ import annotations

import io
import json
import os
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.contract.protocol import (
    CALL_TIMEOUT,
    Recording,
    executed_nodes,
    message_sequence,
    record_run,
    run_messages,
    shape,
    status_shapes,
    ws_url,
)

pytestmark = pytest.mark.comfyui
if not os.environ.get("REAL_COMFYUI_URL"):
    pytest.skip("REAL_COMFYUI_URL is not set (run `make test-comfyui`)", allow_module_level=True)

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "comfyui"

# The core image nodes the emulator executes for real (issue: "Executes ComfyUI's core image nodes").
CORE_IMAGE_NODES = [
    "LoadImage",
    "LoadImageMask",
    "SaveImage",
    "PreviewImage",
    "EmptyImage",
    "ImageScale",
    "ImageScaleBy",
    "ImageInvert",
    "ImageBlend",
    "ImageCompositeMasked",
    "ImageCrop",
    "ImagePadForOutpaint",
    "ImageToMask",
    "MaskToImage",
    "SolidMask",
    "InvertMask",
]
# COMBO inputs whose choices are the files of the server's input folder, which differ between two servers.
INPUT_FILE_COMBOS = {("LoadImage", "image"), ("LoadImageMask", "image")}
VALIDATION_KEYS = ("default", "min", "max", "step", "image_upload", "multiline")


@pytest.fixture
def real_url() -> str:
    url = os.environ.get("REAL_COMFYUI_URL", "").rstrip("/")
    if not url:
        pytest.skip("REAL_COMFYUI_URL is not set (run `make test-comfyui`)")
    return url


@pytest.fixture
async def emulator_url() -> AsyncIterator[str]:
    """A fresh emulator per test, strict like real ComfyUI (unknown node types are rejected)."""
    from comfyweb.emulator.inprocess import running_emulator

    async with running_emulator(strict=True) as handle:
        yield handle.url.rstrip("/")


@pytest.fixture
def both(real_url: str, emulator_url: str) -> dict[str, str]:
    return {"emulator": emulator_url, "comfyui": real_url}


def fresh_color() -> int:
    """A colour no earlier test used, so the real server (whose cache lives across tests) runs every node."""
    return random.randrange(1, 0xFFFFFF)


def invert_chain(*, color: int, width: int = 96, height: int = 64, prefix: str = "contract") -> dict:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": width, "height": height, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def png_bytes(width: int, height: int) -> bytes:
    """A PNG whose pixels are unique to this call (a new file for LoadImage's change detection)."""
    image = Image.new("RGB", (width, height), tuple(random.randrange(256) for _ in range(3)))
    image.putpixel((0, 0), (random.randrange(256), random.randrange(256), random.randrange(256)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def collapsed_types(recording: Recording) -> list[str]:
    """Every message type in order, a run of `status` broadcasts counted once (their count is timing)."""
    types: list[str] = []
    for message in recording.messages:
        if message["type"] == "status" and types and types[-1] == "status":
            continue
        types.append(message["type"])
    return types


def history_entry(recording: Recording) -> dict:
    entry = recording.history.get(recording.prompt_id or "")
    assert entry, f"no /history entry for {recording.prompt_id}: {recording.history!r}"
    return entry


def assert_same_run(emulated: Recording, real: Recording) -> None:
    """The contract for one run: same answer, same messages in the same order and shape, same history shape."""
    assert emulated.post_status == real.post_status == 200, (emulated.post_body, real.post_body)
    assert shape(emulated.post_body) == shape(real.post_body)
    assert collapsed_types(emulated) == collapsed_types(real)
    assert message_sequence(emulated) == message_sequence(real)
    assert status_shapes(emulated) == status_shapes(real)
    assert shape(history_entry(emulated)) == shape(history_entry(real))
    assert history_entry(emulated)["status"]["status_str"] == history_entry(real)["status"]["status_str"]
    assert sorted(history_entry(emulated)["outputs"]) == sorted(history_entry(real)["outputs"])


async def fetch(method: str, url: str, **kwargs: Any) -> tuple[int, str, bytes]:
    async with (
        aiohttp.ClientSession(timeout=CALL_TIMEOUT) as session,
        session.request(method, url, **kwargs) as answer,
    ):
        return answer.status, answer.content_type, await answer.read()


async def upload(base_url: str, data: bytes, name: str, **fields: str) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("image", data, filename=name, content_type="image/png")
    for key, value in fields.items():
        form.add_field(key, value)
    status, _, body = await fetch("POST", f"{base_url}/upload/image", data=form)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


async def view_image(base_url: str, image: dict) -> Image.Image:
    params = {"filename": image["filename"], "subfolder": image["subfolder"], "type": image["type"]}
    status, content_type, body = await fetch("GET", f"{base_url}/view", params=params)
    assert (status, content_type) == (200, "image/png"), (base_url, image, status, body[:200])
    return Image.open(io.BytesIO(body))


# --- runs ---------------------------------------------------------------------------------------------


async def test_fresh_run_sends_the_same_messages_in_the_same_order(both):
    workflow = invert_chain(color=fresh_color())
    emulated = await record_run(both["emulator"], workflow)
    real = await record_run(both["comfyui"], workflow)

    assert_same_run(emulated, real)
    executing = [m["data"]["node"] for m in run_messages(real) if m["type"] == "executing"]
    assert executing == ["1", "2", "3", None]
    assert [m["data"]["node"] for m in run_messages(emulated) if m["type"] == "executing"] == executing
    assert executed_nodes(emulated) == executed_nodes(real) == ["3"]


async def test_saved_output_is_served_by_view_with_the_workflow_size(both):
    workflow = invert_chain(color=fresh_color(), width=40, height=24)
    for url in both.values():
        recording = await record_run(url, workflow)
        images = history_entry(recording)["outputs"]["3"]["images"]
        assert [image["type"] for image in images] == ["output"]
        assert (await view_image(url, images[0])).size == (40, 24)


async def test_cached_rerun_reports_the_same_cached_nodes(both):
    workflow = invert_chain(color=fresh_color())
    reruns = {}
    for side, url in both.items():
        await record_run(url, workflow)
        reruns[side] = await record_run(url, workflow)
    emulated, real = reruns["emulator"], reruns["comfyui"]

    assert_same_run(emulated, real)
    cached = {side: [m for m in run_messages(r) if m["type"] == "execution_cached"] for side, r in reruns.items()}
    assert sorted(cached["emulator"][0]["data"]["nodes"]) == sorted(cached["comfyui"][0]["data"]["nodes"])
    assert sorted(cached["comfyui"][0]["data"]["nodes"]) == ["1", "2", "3"]
    assert executed_nodes(emulated) == executed_nodes(real) == ["3"]


async def test_upload_then_load_scale_save_and_preview_match(both):
    name = f"contract-{uuid.uuid4().hex[:8]}.png"
    data = png_bytes(30, 20)
    recordings = {}
    for side, url in both.items():
        status, answer = await upload(url, data, name)
        assert status == 200, (side, answer)
        workflow = {
            "1": {"class_type": "LoadImage", "inputs": {"image": answer["name"]}},
            "2": {
                "class_type": "ImageScale",
                "inputs": {
                    "image": ["1", 0],
                    "upscale_method": "bilinear",
                    "width": 60,
                    "height": 40,
                    "crop": "disabled",
                },
            },
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "contract"}},
            "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        }
        recordings[side] = await record_run(url, workflow)
    emulated, real = recordings["emulator"], recordings["comfyui"]

    assert_same_run(emulated, real)
    assert sorted(executed_nodes(emulated)) == sorted(executed_nodes(real)) == ["3", "4"]
    for side, url in both.items():
        outputs = history_entry(recordings[side])["outputs"]
        assert [image["type"] for image in outputs["4"]["images"]] == ["temp"], side
        assert (await view_image(url, outputs["3"]["images"][0])).size == (60, 40), side
        assert (await view_image(url, outputs["4"]["images"][0])).size == (30, 20), side


async def test_a_node_repeating_an_earlier_one_is_a_cache_hit_on_both(both):
    color = fresh_color()
    workflow = invert_chain(color=color, prefix="far")
    workflow["2b"] = {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}}
    workflow["3"]["inputs"]["images"] = ["2b", 0]
    workflow["5"] = {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}}
    workflow["6"] = {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "near"}}
    emulated = await record_run(both["emulator"], workflow)
    real = await record_run(both["comfyui"], workflow)

    assert_same_run(emulated, real)
    steps = {
        side: [(m["type"], m["data"]["node"]) for m in run_messages(r) if m["type"] in ("executing", "executed")]
        for side, r in (("emulator", emulated), ("comfyui", real))
    }
    assert steps["emulator"] == steps["comfyui"]
    assert ("executed", "2") in steps["comfyui"] and ("executing", "2") not in steps["comfyui"]


async def test_a_prompt_without_client_id_shows_others_the_same_messages(both):
    seen = {}
    for side, url in both.items():
        async with (
            aiohttp.ClientSession(timeout=CALL_TIMEOUT) as session,
            session.ws_connect(ws_url(url, uuid.uuid4().hex), heartbeat=None) as socket,
        ):
            messages = [await socket.receive_json(timeout=10)]
            async with session.post(f"{url}/prompt", json={"prompt": invert_chain(color=fresh_color())}) as answer:
                assert answer.status == 200, side
            queued = False  # the run is over when the queue, once busy, is empty again
            while True:
                messages.append(await socket.receive_json(timeout=30))
                if messages[-1]["type"] == "status":
                    remaining = messages[-1]["data"]["status"]["exec_info"]["queue_remaining"]
                    if queued and remaining == 0:
                        break
                    queued = queued or remaining > 0
        seen[side] = messages
    # Only progress_state reaches other sockets; how many status broadcasts arrive is timing.
    assert {m["type"] for m in seen["emulator"]} == {m["type"] for m in seen["comfyui"]} == {"status", "progress_state"}
    progress = {side: [m for m in messages if m["type"] == "progress_state"] for side, messages in seen.items()}
    assert [shape(m) for m in progress["emulator"]] == [shape(m) for m in progress["comfyui"]]


async def test_execution_error_has_the_same_message_and_shape(both):
    workflow = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": fresh_color()},
        },
        "2": {"class_type": "ImageToMask", "inputs": {"image": ["1", 0], "channel": "alpha"}},
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "contract"}},
    }
    emulated = await record_run(both["emulator"], workflow)
    real = await record_run(both["comfyui"], workflow)

    assert_same_run(emulated, real)
    errors = [
        next(m["data"] for m in run_messages(recording) if m["type"] == "execution_error")
        for recording in (emulated, real)
    ]
    assert errors[0]["node_id"] == errors[1]["node_id"] == "2"
    assert errors[0]["node_type"] == errors[1]["node_type"] == "ImageToMask"
    assert errors[0]["exception_type"] == errors[1]["exception_type"]
    assert history_entry(real)["status"]["status_str"] == "error"


# --- validation ----------------------------------------------------------------------------------------


def _broken(kind: str) -> dict:
    workflow = invert_chain(color=fresh_color(), width=32, height=16)
    if kind == "not_an_int":
        workflow["1"]["inputs"]["width"] = "wide"
    elif kind == "above_max":
        workflow["1"]["inputs"]["width"] = 999_999
    elif kind == "below_min":
        workflow["1"]["inputs"]["width"] = 0
    elif kind == "required_input_missing":
        del workflow["1"]["inputs"]["height"]
    elif kind == "value_not_in_list":
        workflow["2"] = {
            "class_type": "ImageScale",
            "inputs": {"image": ["1", 0], "upscale_method": "nope", "width": 8, "height": 8, "crop": "disabled"},
        }
    elif kind == "no_output_node":
        del workflow["3"]
    elif kind == "empty_prompt":
        workflow = {}
    elif kind == "missing_class_type":
        del workflow["1"]["class_type"]
    elif kind == "unknown_node_type":
        workflow["2"] = {"class_type": "NoSuchNodeAnywhere", "inputs": {"image": ["1", 0]}}
    elif kind == "missing_input_file":
        workflow["1"] = {"class_type": "LoadImage", "inputs": {"image": f"absent-{uuid.uuid4().hex}.png"}}
    elif kind == "one_bad_output_of_two":
        workflow["4"] = {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}
    elif kind == "link_of_three_items":
        workflow["2"]["inputs"]["image"] = ["1", 0, 0]
    elif kind == "link_to_missing_node":
        workflow["2"]["inputs"]["image"] = ["99", 0]
    elif kind == "output_links_missing_node":
        workflow["3"]["inputs"]["images"] = ["99", 0]
    elif kind == "link_to_missing_slot":
        workflow["2"]["inputs"]["image"] = ["1", 5]
    elif kind == "return_type_mismatch":
        workflow["1"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 8, "height": 8}}
    elif kind == "bool_for_int":
        workflow["1"]["inputs"]["batch_size"] = True
    else:
        raise ValueError(kind)
    return workflow


def validation_summary(body: Any) -> Any:
    """The parts of a /prompt answer a client acts on; free text that names values is kept verbatim."""
    if not isinstance(body, dict):
        return body
    summary: dict[str, Any] = {"keys": sorted(body)}
    error = body.get("error")
    if isinstance(error, dict):
        summary["error"] = (error.get("type"), error.get("message"), sorted(error))
    summary["node_errors"] = {
        node_id: {
            "class_type": entry.get("class_type"),
            "dependent_outputs": sorted(entry.get("dependent_outputs", [])),
            "errors": [
                (item.get("type"), item.get("message"), sorted(item), sorted(item.get("extra_info", {})))
                for item in entry.get("errors", [])
            ],
        }
        for node_id, entry in (body.get("node_errors") or {}).items()
    }
    return summary


@pytest.mark.parametrize(
    "kind",
    [
        "not_an_int",
        "above_max",
        "below_min",
        "required_input_missing",
        "value_not_in_list",
        "no_output_node",
        "empty_prompt",
        "missing_class_type",
        "unknown_node_type",
        "missing_input_file",
        "one_bad_output_of_two",
        "link_of_three_items",
        "link_to_missing_node",
        "output_links_missing_node",
        "link_to_missing_slot",
        "return_type_mismatch",
        "bool_for_int",
    ],
)
async def test_rejected_prompt_answers_with_the_same_error_body(both, kind):
    workflow = _broken(kind)
    emulated = await record_run(both["emulator"], workflow)
    real = await record_run(both["comfyui"], workflow)

    assert emulated.post_status == real.post_status
    assert validation_summary(emulated.post_body) == validation_summary(real.post_body)
    assert shape(_without_ids(emulated.post_body)) == shape(_without_ids(real.post_body))
    if real.post_status == 400:
        assert emulated.messages and emulated.messages[0]["type"] == "status"
        assert run_messages(emulated) == run_messages(real) == []


def _without_ids(body: Any) -> Any:
    if isinstance(body, dict):
        return {key: value for key, value in body.items() if key not in {"number"}}
    return body


async def test_details_of_range_and_list_errors_name_the_input(both):
    for kind in ("above_max", "below_min", "required_input_missing", "value_not_in_list"):
        workflow = _broken(kind)
        bodies = [(await record_run(url, workflow)).post_body for url in both.values()]
        details = [[e["details"] for entry in b["node_errors"].values() for e in entry["errors"]] for b in bodies]
        assert details[0] == details[1], kind


# --- endpoints -----------------------------------------------------------------------------------------


async def test_object_info_of_core_image_nodes_matches(both):
    infos = {}
    for side, url in both.items():
        status, _, body = await fetch("GET", f"{url}/object_info")
        assert status == 200, side
        infos[side] = json.loads(body)
    for node_class in CORE_IMAGE_NODES:
        assert node_class in infos["comfyui"], node_class
        assert node_class in infos["emulator"], f"the emulator's /object_info lacks {node_class}"
        emulated, real = infos["emulator"][node_class], infos["comfyui"][node_class]
        for key in ("name", "output", "output_is_list", "output_name", "output_node", "category", "input_order"):
            assert emulated.get(key) == real.get(key), (node_class, key)
        assert sorted(emulated["input"]) == sorted(real["input"]), node_class
        for section, inputs in real["input"].items():
            if section == "hidden":
                continue
            assert list(emulated["input"][section]) == list(inputs), (node_class, section)
            for input_name, spec in inputs.items():
                assert _input_contract(node_class, input_name, emulated["input"][section][input_name]) == (
                    _input_contract(node_class, input_name, spec)
                ), (node_class, input_name)


def _input_contract(node_class: str, input_name: str, spec: list) -> tuple:
    """Type, COMBO choices (not for input-folder file lists) and the validation options of one input spec."""
    kind, options = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    choices = None
    if isinstance(kind, list):
        choices, kind = kind, "COMBO"
    elif kind == "COMBO":
        choices = options.get("options")
    if (node_class, input_name) in INPUT_FILE_COMBOS:
        choices = "<input files>" if isinstance(choices, list) else choices
    return kind, choices, {key: options.get(key) for key in VALIDATION_KEYS}


async def test_object_info_of_one_class_and_of_an_unknown_class(both):
    for side, url in both.items():
        status, content_type, body = await fetch("GET", f"{url}/object_info/ImageInvert")
        assert (status, content_type) == (200, "application/json"), side
        assert list(json.loads(body)) == ["ImageInvert"], side
        status, _, body = await fetch("GET", f"{url}/object_info/NoSuchNodeAnywhere")
        assert (status, json.loads(body)) == (200, {}), side


async def test_upload_image_answers_alike(both):
    name = f"contract-{uuid.uuid4().hex[:8]}.png"
    first, other = png_bytes(8, 8), png_bytes(9, 9)
    answers: dict[str, list] = {}
    for side, url in both.items():
        answers[side] = [
            await upload(url, first, name),
            await upload(url, first, name),  # identical bytes: the same name again
            await upload(url, other, name),  # other bytes, no overwrite: a new name
            await upload(url, other, name, overwrite="true"),
            await upload(url, first, name, subfolder="contract", type="input"),
        ]
        status, _, _ = await fetch("POST", f"{url}/upload/image", data={"not_image": "x"})
        answers[side].append((status, None))
    assert answers["emulator"] == answers["comfyui"]
    assert answers["comfyui"][0] == (200, {"name": name, "subfolder": "", "type": "input"})


@pytest.mark.parametrize(
    "query",
    [
        {"filename": "absent.png"},
        {"filename": "../outside.png"},
        {"filename": "x.png", "subfolder": "../.."},
        {"filename": "x.png", "type": "bogus"},
        {},
        {"filename": ""},
        {"filename": "/etc/hostname"},
        {"filename": "x.png [nowhere]"},
    ],
    ids=[
        "missing",
        "filename-traversal",
        "subfolder-traversal",
        "bad-type",
        "no-filename",
        "empty-filename",
        "absolute-filename",
        "unknown-annotation",
    ],
)
async def test_view_answers_with_the_same_status(both, query):
    statuses = {side: (await fetch("GET", f"{url}/view", params=query))[0] for side, url in both.items()}
    assert statuses["emulator"] == statuses["comfyui"], statuses


async def test_queue_history_and_prompt_endpoints_have_the_same_shape(both):
    for path in ("/queue", "/prompt", f"/history/{uuid.uuid4()}", "/system_stats"):
        bodies = {}
        for side, url in both.items():
            status, content_type, body = await fetch("GET", f"{url}{path}")
            assert (status, content_type) == (200, "application/json"), (side, path)
            bodies[side] = json.loads(body)
        if path == "/system_stats":
            assert sorted(bodies["emulator"]) == sorted(bodies["comfyui"])
            assert sorted(bodies["emulator"]["system"]) == sorted(bodies["comfyui"]["system"])
        else:
            assert shape(bodies["emulator"]) == shape(bodies["comfyui"]), path


async def test_non_json_prompt_body_fails_alike(both):
    statuses = {side: (await fetch("POST", f"{url}/prompt", data=b"not json"))[0] for side, url in both.items()}
    assert statuses["emulator"] == statuses["comfyui"], statuses


# --- the recorded transcripts still describe the real server ----------------------------------------


def _transcript(name: str) -> Recording:
    data = json.loads((TRANSCRIPTS / f"{name}.json").read_text(encoding="utf-8"))
    return Recording(
        data["workflow"], data["post_status"], data["post_body"], data["messages"], data.get("history") or {}
    )


@pytest.mark.parametrize("name", ["success_core", "execution_error"])
async def test_recorded_transcript_matches_a_fresh_real_run(real_url, name):
    recorded = _transcript(name)
    workflow = json.loads(json.dumps(recorded.workflow))
    workflow["1"]["inputs"]["color"] = fresh_color()  # a fresh run, whatever ran before on this server
    real = await record_run(real_url, workflow)

    assert real.post_status == recorded.post_status
    assert collapsed_types(real) == collapsed_types(recorded)
    assert message_sequence(real) == message_sequence(recorded)
    assert shape(history_entry(real)) == shape(history_entry(recorded))


@pytest.mark.parametrize("name", ["validation_error", "unknown_node", "load_missing_file"])
async def test_recorded_rejection_matches_the_real_answer(real_url, name):
    recorded = _transcript(name)
    real = await record_run(real_url, recorded.workflow)

    assert real.post_status == recorded.post_status == 400
    assert validation_summary(real.post_body) == validation_summary(recorded.post_body)
