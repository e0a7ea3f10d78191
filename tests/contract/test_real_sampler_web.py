"""The web app end to end on a real sampler: REST API → runjobs worker → agent → real ComfyUI → /ws/jobs/<id>/.

Runs only under `make test-comfyui`, in the scaled-out topology: PostgreSQL and Redis on loopback (as in
tests/jobs/test_scaled_out.py), one web process (`manage.py web`), one `runjobs` worker and the agent process of
tests/contract/conftest.py in front of the real ComfyUI with the random-weight SD1.x checkpoint. A visitor
submits a txt2img template through the REST API (the checkpoint picked from the backend's real
/object_info), watches it on the job WebSocket and downloads the image; an img2img template gets its
photo as a data URL (the agent uploads it to ComfyUI for LoadImage → VAEEncode). Failures: a template
whose VAE cannot decode its latent, and one whose checkpoint is not installed, fail with the node named
and a sentence for the visitor, ComfyUI's own message kept for operators.

Not covered here (see the issue): the template page in the browser, live previews
(`--preview-method`), and the admin's backend check.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
from dataclasses import dataclass

import httpx
import psycopg
import pytest
import websockets
from PIL import Image

from bench.procs import WebProcess
from tests.contract.sampler import CHECKPOINT, DECODE_NODE, SAMPLER_NODE, SIZE, txt2img, vae_channel_mismatch
from tests.images import data_url
from tests.processes import manage, stop
from tests.services import clean_redis, fresh_postgres_database, redis_url

pytestmark = [pytest.mark.comfyui, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
if not os.environ.get("REAL_COMFYUI_URL"):
    pytest.skip("REAL_COMFYUI_URL is not set (run `make test-comfyui`)", allow_module_level=True)

ADMIN_URL = os.environ.get("SCALE_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = redis_url(10)
STEPS = 30  # ≈1.2 s of sampling on an idle machine: the relay, which coalesces progress, still shows steps between
FINAL = ("succeeded", "failed", "cancelled")
MISSING_CHECKPOINT = "not-installed-sd15.safetensors"


def img2img() -> dict:
    """LoadImage → VAEEncode → KSampler (denoise 0.6) → VAEDecode → SaveImage; the picture is node 1's image."""
    prompt = txt2img(seed=-1, steps=6, prefix="web-img2img")
    del prompt["5"]
    prompt["1"] = {"class_type": "LoadImage", "inputs": {"image": "", "upload": "image"}}
    prompt["2"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["4", 2]}}
    prompt[SAMPLER_NODE]["inputs"].update(latent_image=["2", 0], denoise=0.6)
    return prompt


TEMPLATES = [
    {
        "title": "Real img2img",
        "slug": "real-img2img",
        "prompt": img2img(),
        "params": [
            {"type": "image", "id": "1", "key": "image", "title": "Photo"},
            {"type": "string", "id": "6", "key": "text", "title": "Prompt"},
        ],
    },
    {
        "title": "Real txt2img",
        "slug": "real-txt2img",
        "prompt": txt2img(seed=-1, steps=STEPS, prefix="web"),
        "params": [
            {"type": "string", "id": "6", "key": "text", "title": "Prompt"},
            {"type": "select", "id": "4", "key": "ckpt_name", "title": "Model", "options": "CheckpointLoaderSimple"},
        ],
    },
    {
        "title": "Real VAE mismatch",
        "slug": "real-vae-mismatch",
        "prompt": vae_channel_mismatch(),
        "params": [],
    },
    {
        "title": "Real missing model",
        "slug": "real-missing-model",
        "prompt": txt2img(seed=-1, checkpoint=MISSING_CHECKPOINT),
        "params": [],
    },
]


@dataclass
class WebStack:
    url: str
    database_url: str

    def error_detail(self, job_id: str) -> dict:
        """The operator's error record of a job (never shown to visitors)."""
        with psycopg.connect(self.database_url) as connection:
            return connection.execute("SELECT error_detail FROM jobs_job WHERE id = %s", (job_id,)).fetchone()[0]


@pytest.fixture(scope="module")
def postgres_database():
    with fresh_postgres_database("comfyweb_real", ADMIN_URL) as url:
        yield url


@pytest.fixture(scope="module")
def redis_url():
    with clean_redis(REDIS_URL) as url:
        yield url


@pytest.fixture(scope="module")
def web_stack(tmp_path_factory, postgres_database, redis_url, real_agent):
    """Migrated database with the templates, a web process, a runjobs worker; yields the web's URL."""
    root = tmp_path_factory.mktemp("real-web")
    env = {
        "DATABASE_URL": postgres_database,
        "REDIS_URL": redis_url,
        "GPU_BACKENDS": f"agent+{real_agent.url}#1",
        "MEDIA_ROOT": str(root / "media"),
        "EMBEDDED_DEV": "1",
    }
    templates = root / "real-templates.json"
    templates.write_text(json.dumps(TEMPLATES), encoding="utf-8")
    assert manage("migrate", "--noinput", env=env, stdout=subprocess.DEVNULL).wait(120) == 0
    assert manage("loadworkflows", str(templates), env=env, stdout=subprocess.DEVNULL).wait(120) == 0
    web = WebProcess(env, root / "web.log", worker=False)
    worker = manage("runjobs", "--name", "real-worker", "--poll", "0.1", env=env,
                    stdout=subprocess.DEVNULL, stderr=(root / "worker.log").open("w"))  # fmt: skip
    try:
        yield WebStack(web.url, postgres_database)
    finally:
        stop(worker)
        web.stop()
        for log in ("web.log", "worker.log"):
            print(f"--- {log}\n{(root / log).read_text(errors='replace')[-4000:]}")


async def watch(web_url: str, job_id: str, session_key: str) -> list[dict]:
    """The job's snapshots as a browser on its page receives them, until a final status."""
    url = web_url.replace("http://", "ws://", 1) + f"/ws/jobs/{job_id}/"
    headers = {"Cookie": f"sessionid={session_key}", "Origin": web_url}
    frames: list[dict] = []
    async with websockets.connect(url, additional_headers=headers, open_timeout=10) as socket:
        async for raw in socket:
            frames.append(json.loads(raw)["job"])
            if frames[-1]["status"] in FINAL:
                return frames
    raise AssertionError(f"the job socket closed early after {[frame['status'] for frame in frames]}")


async def submit(web: httpx.AsyncClient, workflow: str, values: dict) -> dict:
    created = await web.post("/api/v1/jobs/", json={"workflow": workflow, "values": values})
    assert created.status_code == 201, created.text
    (job,) = created.json()["jobs"]
    return job


async def test_txt2img_job_through_the_api_with_live_progress_and_a_download(web_stack):
    async with httpx.AsyncClient(base_url=web_stack.url, timeout=60, trust_env=False) as web:
        workflow = (await web.get("/api/v1/workflows/real-txt2img/")).json()
        assert CHECKPOINT in json.dumps(workflow), "the model choices come from the real /object_info"
        job = await submit(web, "real-txt2img", {"6.text": "a red boat", "4.ckpt_name": CHECKPOINT})
        frames = await asyncio.wait_for(watch(web_stack.url, job["id"], web.cookies["sessionid"]), 120)
        final = frames[-1]
        assert final["status"] == "succeeded", final["error"]

        statuses = [frame["status"] for frame in frames]
        assert statuses[0] in ("queued", "dispatched", "running") and "running" in statuses, statuses
        steps = [frame["nodes"].get(SAMPLER_NODE, {}).get("value", 0) for frame in frames]
        assert any(0 < step < STEPS for step in steps), f"no sampler step seen live: {steps}"
        assert steps == sorted(steps)
        assert final["nodes"][SAMPLER_NODE] == {"value": STEPS, "max": STEPS}
        assert final["percent"] == 100
        (seed,) = final["seeds"].values()
        assert list(final["seeds"]) == [f"{SAMPLER_NODE}.seed"] and 0 <= seed < 2**53

        (output,) = final["outputs"]
        download = await web.get(output["download_url"])
        assert download.status_code == 200, download.text[:200]
        image = Image.open(io.BytesIO(download.content))
        assert (image.format, image.size) == ("PNG", (SIZE, SIZE))
        snapshot = (await web.get(f"/api/v1/jobs/{job['id']}/")).json()
        assert snapshot["status"] == "succeeded" and snapshot["outputs"] == final["outputs"]


async def test_img2img_job_with_an_uploaded_photo(web_stack):
    photo = Image.new("RGB", (SIZE, SIZE), (200, 40, 40))
    photo.paste((20, 60, 220), (0, 0, SIZE // 2, SIZE))
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    async with httpx.AsyncClient(base_url=web_stack.url, timeout=60, trust_env=False) as web:
        job = await submit(web, "real-img2img", {"1.image": data_url(buffer.getvalue()), "6.text": "a red boat"})
        frames = await asyncio.wait_for(watch(web_stack.url, job["id"], web.cookies["sessionid"]), 120)
        final = frames[-1]
        assert final["status"] == "succeeded", final["error"]
        assert final["nodes"]["2"] == {"value": 1, "max": 1}, "VAEEncode ran on the uploaded photo"
        assert final["nodes"][SAMPLER_NODE] == {"value": 6, "max": 6}
        (output,) = final["outputs"]
        download = await web.get(output["download_url"])
    assert download.status_code == 200
    assert Image.open(io.BytesIO(download.content)).size == (SIZE, SIZE)


async def test_a_node_that_raises_fails_the_job_naming_the_node(web_stack):
    async with httpx.AsyncClient(base_url=web_stack.url, timeout=60, trust_env=False) as web:
        job = await submit(web, "real-vae-mismatch", {})
        frames = await asyncio.wait_for(watch(web_stack.url, job["id"], web.cookies["sessionid"]), 120)
        snapshot = (await web.get(f"/api/v1/jobs/{job['id']}/", headers={"Accept-Language": "en"})).json()

    final = frames[-1]
    assert final["status"] == snapshot["status"] == "failed"
    assert final["outputs"] == []
    # The visitor reads a sentence in their language and which node failed; never ComfyUI's internals.
    assert snapshot["error"] == {
        "code": "execution",
        "message": "Something went wrong while making this image.",
        "node_id": DECODE_NODE,
        "node_class": "VAEDecode",
    }
    assert final["error"]["node_id"] == DECODE_NODE and final["error"]["message"]
    # The operator's record keeps ComfyUI's own message.
    detail = web_stack.error_detail(job["id"])
    assert (detail["code"], detail["node_id"], detail["node_class"]) == ("execution", DECODE_NODE, "VAEDecode")
    assert "16 channels" in detail["message"] and detail["detail"] == "RuntimeError", detail


async def test_a_missing_checkpoint_fails_the_job_as_a_missing_model(web_stack):
    async with httpx.AsyncClient(base_url=web_stack.url, timeout=60, trust_env=False) as web:
        job = await submit(web, "real-missing-model", {})
        frames = await asyncio.wait_for(watch(web_stack.url, job["id"], web.cookies["sessionid"]), 120)
        snapshot = (await web.get(f"/api/v1/jobs/{job['id']}/", headers={"Accept-Language": "en"})).json()

    assert frames[-1]["status"] == snapshot["status"] == "failed"
    assert snapshot["error"] == {
        "code": "missing_model",
        "message": "This template needs a model the GPU server does not have.",
        "node_id": "4",
        "node_class": "CheckpointLoaderSimple",
    }
    detail = web_stack.error_detail(job["id"])
    assert MISSING_CHECKPOINT in detail["detail"] and CHECKPOINT in detail["detail"], detail
