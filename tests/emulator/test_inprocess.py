"""The helpers other areas use: the threaded emulator, the fixtures and /emulator/info."""

from __future__ import annotations

import json
import urllib.request

from comfyweb.emulator.inprocess import EmulatorThread


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def test_emulator_thread_serves_from_sync_code(emulator_thread):
    assert emulator_thread.info()["emulator"] is True
    assert get_json(f"{emulator_thread.url}/queue") == {"queue_running": [], "queue_pending": []}


def test_emulator_thread_stops(tmp_path):
    thread = EmulatorThread(output_dir=tmp_path / "out").start()
    url = thread.url
    thread.stop()
    try:
        urllib.request.urlopen(f"{url}/queue", timeout=2)
        reachable = True
    except OSError:
        reachable = False
    assert not reachable


def test_comfy_url_points_at_a_comfyui(comfy_url):
    stats = get_json(f"{comfy_url}/system_stats")
    assert "comfyui_version" in stats["system"]


async def test_emulator_fixture_reports_emulator_info(emulator):
    import aiohttp

    async with aiohttp.ClientSession() as session:
        info = await (await session.get(f"{emulator.url}/emulator/info")).json()
    assert info["emulator"] is True
    assert info["strict"] is False
