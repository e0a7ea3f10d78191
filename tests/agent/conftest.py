"""An agent on a real loopback socket (uvicorn as in production, on the test's loop) in front of the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass, replace

import httpx
import pytest
import uvicorn
import websockets
from aiohttp import web

from comfyweb.agent.config import AgentSettings
from comfyweb.agent.server import uvicorn_config
from comfyweb.agent.service import Agent
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

    async def serve_on(self, listener: socket.socket) -> None:
        """Serve on a socket the test already bound; a failed start is an error of this test, not a SystemExit
        that would stop the whole loop (and leave the next tests on this worker with a broken pytest)."""
        try:
            await self.serve(sockets=[listener])
        except SystemExit as stopped:
            raise RuntimeError(f"the agent's server did not start (exit {stopped.code})") from None


@contextlib.asynccontextmanager
async def running_agent(settings: AgentSettings):
    """Serve an Agent on a port bound here until the block ends; the agent is stopped afterwards.

    The socket is bound before the server starts: a port looked up free and bound later may be taken in between
    by another test's outgoing connection on a busy machine."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    agent = Agent(replace(settings, host="127.0.0.1", port=port))
    await agent.start()
    server = InLoopServer(uvicorn_config(agent, timeout_graceful_shutdown=1))
    serving = asyncio.create_task(server.serve_on(listener))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(trust_env=False) as probe:
        for _ in range(200):
            if serving.done():
                serving.result()  # raises why the server stopped
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
        listener.close()


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
async def http_site(routes: list[web.RouteDef], port: int | None = None):
    """A tiny aiohttp server on loopback (an image host, a webhook receiver, a scripted ComfyUI)."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, shutdown_timeout=1.0)  # stops like a killed server: open sockets are not waited for
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port or 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def wait_for_status(server: AgentServer, task_id: str, wanted: set[str], timeout: float = 120) -> dict:
    """Poll `/api/status` until the task reaches one of `wanted` (a bound for a busy machine, not a target)."""
    async with server.client() as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            answer = await client.get("/api/status", params={"id": task_id})
            if answer.status_code == 200 and answer.json()[""]["status"] in wanted:
                return answer.json()
            await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached {wanted}")


async def eventually(check, what: str, timeout: float = 60) -> None:
    """Poll `check()` (sync) until it is true: for what the agent does in the background, bounded generously."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def recording_backend():
    """A stand-in ComfyUI answering 200 to anything; `seen` holds every request line it got (but the agent's
    own look at `/system_stats`, which finds ComfyUI's folders)."""
    seen: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            if line != "GET /system_stats HTTP/1.1":
                seen.append(line)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()
        await server.wait_closed()


async def raw_request(url: str, method: str, target: str, body: bytes = b"", headers: str = "") -> tuple[int, bytes]:
    """Send `target` byte for byte; (status, body) of the answer."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n{headers}"
        f"Connection: close\r\n\r\n".encode("latin-1")
        + body
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), content
