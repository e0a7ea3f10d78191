"""A job made through the API runs on the emulator and its image is downloaded through the API."""

from __future__ import annotations

import asyncio
import io

import pytest
from asgiref.sync import sync_to_async
from PIL import Image

from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.worker import JobWorker
from tests.campaigns.streamed import read_body
from tests.images import data_url
from tests.jobs.conftest import photo

pytestmark = pytest.mark.django_db(transaction=True)


async def test_submit_follow_and_download_over_the_api(api, poster, emulator_thread):
    await GpuBackend.objects.acreate(name="emu", url=emulator_thread.url, kind=GpuBackend.Kind.COMFYUI, slots=1)
    payload = {"workflow": "poster-frame", "values": {"1.image": data_url(photo("JPEG"), "image/jpeg")}}
    created = await sync_to_async(api.post)("/api/v1/jobs/", payload, format="json")
    assert created.status_code == 201
    location = created["Location"]

    worker = JobWorker("api-e2e", poll_interval=0.05, heartbeat_interval=0.2, sync_backends=False)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(60):
            while not await Job.objects.filter(status__in=Job.FINAL_STATUSES).aexists():
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task

    snapshot = (await sync_to_async(api.get)(location)).json()
    assert snapshot["status"] == "succeeded", snapshot["error"]
    assert snapshot["percent"] == 100
    (output,) = snapshot["outputs"]
    download = await sync_to_async(api.get)(output["download_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment; filename=")
    image = Image.open(io.BytesIO(await read_body(download)))
    assert image.size == (768, 1024), "the poster frame's canvas"
