"""UI-format workflows ("Save", not "Save (API)") on /api/run and /api/run/ws: converted against the agent's own
ComfyUI's /object_info, kept between runs and read again after ComfyUI restarted, warnings in the answer."""

from __future__ import annotations

import asyncio
import copy
import json

import httpx
from aiohttp import web

from comfyweb.emulator.validation import recorded_object_info
from tests.agent.conftest import frames_until_closed, http_site, png_bytes, wait_for_status
from tests.comfy.workflow.ui_cases import txt2img
from tests.conftest import free_port

DYNAMIC = "a {lighthouse|castle} at dusk"


def ui_txt2img(text: str = DYNAMIC) -> dict:
    """The classic txt2img as ComfyUI's page saves it, its positive text in ComfyUI's dynamic prompt syntax."""
    workflow = txt2img().workflow
    positive = next(node for node in workflow["nodes"] if node["id"] == 6)
    positive["widgets_values"] = [text]
    sampler = next(node for node in workflow["nodes"] if node["id"] == 3)
    sampler["widgets_values"][2] = 3  # steps
    return workflow


async def test_a_ui_workflow_runs_and_its_warnings_come_back(agent):
    async with agent.client() as client:
        answer = await client.post("/api/run", json=ui_txt2img(), headers={"task-id": "ui-sync"})
        status = (await client.get("/api/status", params={"id": "ui-sync"})).json()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body[""]["status"] == "succeeded" and body["9"]["results"], "the SaveImage node's picture"
    assert body["3"]["value"] == body["3"]["max"] == 3, "the sampler ran with the workflow's widget values"
    (warning,) = body[""]["warnings"]
    assert "dynamic prompt syntax" in warning and warning.startswith("node 6 (Positive)")
    assert status[""]["warnings"] == [warning], "kept in the record: any instance answers with them"


async def test_a_wrapped_ui_workflow_on_the_websocket_and_asynchronously(agent):
    async with agent.connect() as socket:
        await socket.send(json.dumps({"workflow": ui_txt2img(), "results": False}))
        frames = await frames_until_closed(socket)
    assert frames[-1]["type"] == "result" and "results" not in frames[-1]["data"]["9"]
    assert all("dynamic prompt" in frame["data"][""]["warnings"][0] for frame in frames)
    async with agent.client() as client:
        accepted = await client.post(
            "/api/run", json={"prompt": ui_txt2img()}, headers={"X-Fc-Invocation-Type": "Async"}
        )
        assert accepted.status_code == 202 and "dynamic prompt" in accepted.json()["warnings"][0]
        done = await wait_for_status(agent, accepted.json()["task_id"], {"succeeded", "failed"})
    assert done[""]["status"] == "succeeded"


async def test_a_malformed_ui_workflow_is_a_clear_400(agent, emulator):
    broken = ui_txt2img()
    broken["links"] = [link for link in broken["links"] if link[0] != 1]  # KSampler's model link is gone
    typeless = {"nodes": [{"id": 1, "widgets_values": ["x"]}], "links": []}
    async with agent.client() as client:
        answers = [await client.post("/api/run", json=body) for body in (broken, typeless, {"nodes": [], "links": []})]
    async with agent.connect() as socket:
        await socket.send(json.dumps({"workflow": broken}))
        frame = json.loads(await socket.recv())
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.json()["message"] == "RequestParamsError"
    assert "node 3 (KSampler): its input model points at link 1" in answers[0].json()["error"]
    assert answers[1].json()["error"] == (
        "the UI workflow gives no prompt ComfyUI could run: node 1: class_type is missing"
    )
    assert answers[2].json()["error"].startswith("the UI workflow gives no prompt ComfyUI could run: ")
    assert frame["type"] == "error" and "its input model points at link 1" in frame["data"]["error"]
    async with httpx.AsyncClient(trust_env=False) as direct:
        assert (await direct.get(f"{emulator.url}/history")).json() == {}, "nothing reached ComfyUI"


async def test_a_ui_workflow_over_the_node_cap_is_a_413(start_agent):
    async with start_agent(max_nodes=5) as server, server.client() as client:
        answer = await client.post("/api/run", json=ui_txt2img())
    assert answer.status_code == 413 and "7 nodes" in answer.json()["error"]


def scripted_comfyui(object_info: dict, fetches: list[int]):
    """A ComfyUI that serves `object_info` (counting the reads) and runs any prompt to one saved picture."""
    sockets: dict[str, web.WebSocketResponse] = {}
    picture = {"filename": "ui_00001_.png", "subfolder": "", "type": "output"}

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        sockets[request.query["clientId"]] = socket
        async for _ in socket:
            pass
        return socket

    async def prompt(request: web.Request) -> web.Response:
        body = await request.json()
        prompt_id, socket = body["prompt_id"], sockets[body["client_id"]]
        output = next(node_id for node_id, node in body["prompt"].items() if node["class_type"] == "SaveImage")

        async def play() -> None:
            for kind, data in [("execution_start", {}), ("executed", {"node": output, "output": {"images": [picture]}}),
                               ("execution_success", {})]:  # fmt: skip
                await socket.send_json({"type": kind, "data": {**data, "prompt_id": prompt_id}})

        asyncio.get_running_loop().call_later(0.01, lambda: asyncio.ensure_future(play()))
        return web.json_response({"prompt_id": prompt_id, "number": 1, "node_errors": {}})

    async def info(request: web.Request) -> web.Response:
        fetches.append(1)
        return web.json_response(object_info)

    async def view(request: web.Request) -> web.Response:
        return web.Response(body=png_bytes((8, 8)), content_type="image/png")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"system": {"argv": []}, "devices": []})

    async def queue(request: web.Request) -> web.Response:
        return web.json_response({"queue_running": [], "queue_pending": []})

    return [web.get("/ws", ws), web.post("/prompt", prompt), web.get("/object_info", info), web.get("/view", view),
            web.get("/system_stats", stats), web.get("/queue", queue)]  # fmt: skip


def with_a_custom_node(workflow: dict) -> dict:
    """The workflow with one more node, of a class only some ComfyUIs have installed."""
    workflow = copy.deepcopy(workflow)
    workflow["nodes"].append({"id": 20, "type": "FancyUpscale", "pos": [0, 0], "size": [200, 100], "flags": {},
                              "order": 20, "mode": 0, "inputs": [], "outputs": [], "properties": {},
                              "widgets_values": [2]})  # fmt: skip
    return workflow


async def test_object_info_is_kept_and_read_again_after_comfyui_restarted(start_agent):
    bare = recorded_object_info()
    with_fancy = bare | {"FancyUpscale": {"input": {"required": {"scale": ["INT", {"default": 2}]}},
                                          "input_order": {"required": ["scale"]}, "output": [], "output_is_list": [],
                                          "output_name": [], "name": "FancyUpscale", "display_name": "Fancy Upscale",
                                          "output_node": True, "category": "image"}}  # fmt: skip
    workflow = with_a_custom_node(ui_txt2img(text="a lighthouse"))
    port, fetches = free_port(), []
    url = f"http://127.0.0.1:{port}"
    async with start_agent(comfyui_url=url) as server, server.client() as client:
        async with http_site(scripted_comfyui(bare, fetches), port=port):
            first = (await client.post("/api/run", json=workflow)).json()
            second = (await client.post("/api/run", json=workflow)).json()
            fetched_before_restart = len(fetches)
        down = await client.get("/api/ready")  # the platform's probe finds ComfyUI gone
        async with http_site(scripted_comfyui(with_fancy, fetches), port=port):  # back, with the node installed
            after = (await client.post("/api/run", json=workflow)).json()
    assert first[""]["warnings"] == ["node 20 “FancyUpscale” (FancyUpscale): this ComfyUI has no such node class."]
    assert second[""]["warnings"] == first[""]["warnings"]
    assert fetched_before_restart == 1, "kept between runs"
    assert down.status_code == 503
    assert after[""]["status"] == "succeeded" and "warnings" not in after[""], after[""]
    assert "20" in after and len(fetches) == 2, "read again once ComfyUI was back"
