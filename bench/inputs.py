"""Inputs: a 20 MB photo given to the agent as a data URL and as a URL, vs. uploading it directly.

Direct: `POST /upload/image` to ComfyUI, then the prompt naming the uploaded file. Through the
agent: one `POST /api/run` whose LoadImage input is the photo as a data URL, or a URL the agent
fetches from a static file server on loopback (allowed by AGENT_FETCH_ALLOW_HOSTS). The graph
loads the photo and saves a 64 px thumbnail, so the photo's handling is most of each run.
Every run gets a different photo (one changed row): the agent uploads each picture once under
its content hash and ComfyUI caches repeated prompts, and neither may shorten a run here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import scaled
from bench.procs import AgentProcess, Emulators, free_port, python, stop, wait_for_http

ROUNDS = 8
PHOTO_BYTES = 20_000_000
MODES = ("direct", "data_url", "url")


def thumbnail_prompt(image: str) -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact",
                                                       "width": 64, "height": 64, "crop": "disabled"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "thumb"}},
    }  # fmt: skip


class Photos:
    """~20 MB PNGs of noise (they do not compress), each run's with its own first row."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.side = int((PHOTO_BYTES / 3) ** 0.5)
        self.pixels = bytearray(os.urandom(self.side * self.side * 3))
        self.count = 0

    def next(self) -> Path:
        """A new photo on disk (the previous one is removed to keep the disk use at one photo)."""
        from PIL import Image

        for old in self.folder.glob("photo-*.png"):
            old.unlink()
        self.count += 1
        self.pixels[: self.side * 3] = os.urandom(self.side * 3)
        image = Image.frombytes("RGB", (self.side, self.side), bytes(self.pixels))
        path = self.folder / f"photo-{self.count}.png"
        image.save(path, compress_level=0)
        return path


def run(*, scale: float = 1.0, **_options) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-inputs-"))
    photos = Photos(root / "served")
    files_port = free_port()
    files = python("-m", "http.server", str(files_port), "--bind", "127.0.0.1", "--directory", str(photos.folder),
                   env={}, log=root / "files.log", stdout=subprocess.DEVNULL)  # fmt: skip
    emulators = Emulators(1, 10, root / "emulators", log=root / "emulators.log")
    agent = None
    try:
        wait_for_http(f"http://127.0.0.1:{files_port}/", process=files)
        agent = AgentProcess(emulators.urls[0], root, env={"AGENT_FETCH_ALLOW_HOSTS": "127.0.0.1"})
        files_url = f"http://127.0.0.1:{files_port}"
        return asyncio.run(measure(emulators.urls[0], agent.url, files_url, photos, scaled(ROUNDS, scale, 2)))
    finally:
        if agent is not None:
            agent.stop()
        emulators.stop()
        stop(files)
        for photo in photos.folder.glob("*.png"):
            photo.unlink()


async def measure(comfyui_url: str, agent_url: str, files_url: str, photos: Photos, rounds: int) -> dict:
    from comfyweb.comfy.client import ComfyClient

    walls: dict[str, list[float]] = {mode: [] for mode in MODES}
    failures: list[str] = []
    sizes: list[int] = []
    async with ComfyClient(comfyui_url, timeout=120) as comfy, httpx.AsyncClient(timeout=300, trust_env=False) as http:

        async def direct(photo: Path) -> tuple[float, str]:
            data = photo.read_bytes()
            started = time.monotonic()
            uploaded = await comfy.upload_image(data, photo.name)
            result = await comfy.run(thumbnail_prompt(uploaded["name"]), timeout=300)
            return time.monotonic() - started, "" if result.status == "succeeded" else f"status {result.status}"

        async def through_agent(image: str) -> tuple[float, str]:
            body = json.dumps(thumbnail_prompt(image)).encode()
            started = time.monotonic()
            response = await http.post(f"{agent_url}/api/run", content=body,
                                       headers={"Content-Type": "application/json"})  # fmt: skip
            elapsed = time.monotonic() - started
            if response.status_code != 200:
                return elapsed, f"HTTP {response.status_code}: {response.text[:200]}"
            status = response.json()[""].get("status")
            return elapsed, "" if status == "succeeded" else f"status {status}"

        async def data_url(photo: Path) -> tuple[float, str]:
            return await through_agent("data:image/png;base64," + base64.b64encode(photo.read_bytes()).decode())

        async def url(photo: Path) -> tuple[float, str]:
            return await through_agent(f"{files_url}/{photo.name}")

        runners = {"direct": direct, "data_url": data_url, "url": url}
        for mode in MODES:  # warm-up: first connections, imports, Pillow's plugins
            await runners[mode](photos.next())
        for index in range(rounds):
            for mode in MODES[index % 3 :] + MODES[: index % 3]:
                photo = photos.next()
                sizes.append(photo.stat().st_size)
                elapsed, error = await runners[mode](photo)
                if error:
                    failures.append(f"{mode}: {error}")
                else:
                    walls[mode].append(elapsed)
    result: dict = {"rounds": rounds, "photo_bytes": statistics.median(sizes), "failures": failures[:10]}
    for mode in MODES:
        result[f"{mode}_runs"] = len(walls[mode])
        result[f"{mode}_median_s"] = statistics.median(walls[mode]) if walls[mode] else float("nan")
    for mode in ("data_url", "url"):
        result[f"{mode}_added_s"] = result[f"{mode}_median_s"] - result["direct_median_s"]
        result[f"{mode}_ratio"] = result[f"{mode}_median_s"] / result["direct_median_s"]
    return result


def figures(result: dict) -> list:
    from bench.report import Figure

    name = "inputs, 20 MB photo"
    if "error" in result:
        return [Figure.failed(name, result)]
    note = (
        f"{result['rounds']} rounds, photo {result['photo_bytes'] / 1e6:.1f} MB (PNG); median wall time: upload to "
        f"ComfyUI + run {result['direct_median_s'] * 1000:.0f} ms, agent with a data URL "
        f"{result['data_url_median_s'] * 1000:.0f} ms, agent with a URL {result['url_median_s'] * 1000:.0f} ms"
        + (f"; failures: {result['failures']}" if result["failures"] else "")
    )
    return [
        Figure(f"{name}: added by the agent, data URL vs. direct upload",
               f"{result['data_url_added_s'] * 1000:+.0f} ms ({result['data_url_ratio']:.2f}x)", "", None, None,
               note=note),
        Figure(f"{name}: added by the agent, URL vs. direct upload",
               f"{result['url_added_s'] * 1000:+.0f} ms ({result['url_ratio']:.2f}x)", "", None, None),
    ]  # fmt: skip
