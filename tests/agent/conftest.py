"""An agent on a real loopback socket (uvicorn as in production, on the test's loop) in front of the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, replace

import httpx
import pytest
import uvicorn
import websockets
from aiohttp import web

from comfyweb.agent.app import Agent
from comfyweb.agent.config import AgentSettings
from comfyweb.agent.server import uvicorn_config
from tests.conftest import free_port
from tests.images import data_url, png_bytes  # noqa: F401 - the agent suites import them from here


@dataclass
class AgentServer:
    agent: Agent
    url: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    def client(self, **kwargs) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, trust_env=False, **kwargs)

    def connect(self, path: str = "/api/run/ws", **kwargs):
        return websockets.connect(self.ws_url + path, max_size=None, open_timeout=10, **kwargs)


class InLoopServer(uvicorn.Server):
    """uvicorn on the test's loop, stopped with `should_exit`; Ctrl-C stays pytest's."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


@contextlib.asynccontextmanager
async def running_agent(settings: AgentSettings):
    """Serve an Agent on a free port until the block ends; the agent is stopped afterwards."""
    port = free_port()
    agent = Agent(replace(settings, host="127.0.0.1", port=port))
    await agent.start()
    server = InLoopServer(uvicorn_config(agent, timeout_graceful_shutdown=1))
    serving = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(trust_env=False) as probe:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                await probe.get(url + "/api/health", timeout=1)
                break
            await asyncio.sleep(0.02)
    try:
        yield AgentServer(agent, url)
    finally:
        await agent.stop()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 5)


@pytest.fixture
def agent_settings(emulator, tmp_path) -> AgentSettings:
    return AgentSettings(
        comfyui_url=emulator.url,
        store_url=f"file://{tmp_path / 'tasks'}",
        state_dir=str(tmp_path / "agent-state"),
        stall_seconds=0,
        webhook_retry_delay=0.05,
    )


@pytest.fixture
async def agent(agent_settings):
    async with running_agent(agent_settings) as server:
        yield server


@pytest.fixture
def start_agent(agent_settings):
    """`async with start_agent(**settings overrides) as server:` for tests that configure the agent."""

    def start(**overrides):
        return running_agent(replace(agent_settings, **overrides))

    return start


def load_image_prompt(image: str) -> dict:
    """LoadImage → ImageInvert → SaveImage: the image input is what the test varies."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "agent"}},
    }


async def frames_until_closed(socket) -> list[dict]:
    frames = []
    async for raw in socket:
        frames.append(json.loads(raw))
    return frames


@contextlib.asynccontextmanager
async def http_site(routes: list[web.RouteDef]):
    """A tiny aiohttp server on loopback (an image host, a webhook receiver)."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def wait_for_status(server: AgentServer, task_id: str, wanted: set[str], timeout: float = 20) -> dict:
    async with server.client() as client:
        for _ in range(int(timeout / 0.05)):
            answer = await client.get("/api/status", params={"id": task_id})
            if answer.status_code == 200 and answer.json()[""]["status"] in wanted:
                return answer.json()
            await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached {wanted}")
