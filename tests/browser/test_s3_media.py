"""Media on an S3 API in the scaled-out topology, seen by a visitor in chromium.

daphne and a runjobs worker on PostgreSQL and Redis, an emulated GPU backend, and moto's S3 server
(tests/s3.py) holding every upload and result: the pages carry presigned links that load, and stop
loading once they expire; deleting a creation deletes its objects.
"""

from __future__ import annotations

import calendar
import os
import re
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from tests.browser.conftest import ARTIFACTS, BrowserWatch
from tests.conftest import free_port
from tests.processes import BASE_DIR, EmulatorProcess, manage, stop, wait_for_http
from tests.services import clean_redis, fresh_postgres_database, redis_url

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

# Long enough for a busy machine to load the page's images, short enough to wait for in a test.
EXPIRE_SECONDS = 30


@pytest.fixture
def scaled_out_site(tmp_path, s3):
    """(site URL, bucket, database URL): daphne + one worker + one emulator, media on the S3 server."""
    bucket = s3.create_bucket()
    emulator = EmulatorProcess(tmp_path, step_ms=20)
    processes: list[subprocess.Popen] = []
    with fresh_postgres_database("comfyweb_s3") as database, clean_redis(redis_url(11)) as redis:
        env = {
            "DATABASE_URL": database,
            "REDIS_URL": redis,
            "GPU_BACKENDS": f"comfyui+{emulator.url}#2",
            "MEDIA_ROOT": str(tmp_path / "unused-media"),
            "EMULATOR_PREVIEW_METHOD": "none",
            **s3.env(bucket, expire=EXPIRE_SECONDS),
        }
        try:
            for command in (["migrate", "--noinput"], ["loaddemo"]):
                assert manage(*command, env=env, stdout=subprocess.DEVNULL).wait(180) == 0, command
            port = free_port()
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "comfyweb.asgi:application"],
                    cwd=BASE_DIR,
                    env={**os.environ, "EMBEDDED_DEV": "1", **env},
                    stdout=subprocess.DEVNULL,
                    stderr=(tmp_path / "web.log").open("w"),
                )
            )
            processes.append(manage("runjobs", "--poll", "0.1", env=env, stdout=subprocess.DEVNULL,
                                    stderr=(tmp_path / "worker.log").open("w")))  # fmt: skip
            wait_for_http(f"http://127.0.0.1:{port}/readyz", process=processes[0])
            yield f"http://127.0.0.1:{port}", bucket, database
        finally:
            for process in processes:
                stop(process)
            emulator.stop()


def _output_names(database: str) -> list[str]:
    with psycopg.connect(database) as connection:
        rows = connection.execute("SELECT file, thumbnail FROM jobs_joboutput").fetchall()
    return sorted(name for row in rows for name in row if name)


def _expires_at(url: str) -> float:
    query = parse_qs(urlsplit(url).query)
    signed = calendar.timegm(time.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"))
    return signed + int(query["X-Amz-Expires"][0])


def test_uploads_and_results_live_in_the_bucket_behind_presigned_links_that_expire(
    browser, scaled_out_site, s3, background
):
    site, bucket, database = scaled_out_site
    context = browser.new_context(base_url=site, locale="en-US", viewport={"width": 1280, "height": 720})
    context.set_default_timeout(30_000)
    watch = BrowserWatch(context)
    page = context.new_page()
    page.goto("/c/couple-photo/t/background-swap/")
    page.locator('input[name="10.image"]').first.check(force=True)
    page.locator('input[type="file"][name="12.image"]').set_input_files(str(background))
    page.locator('.qty:has(input[value="1"])').click()
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/(batches|jobs)/"))
    page.wait_for_selector('[data-job-id][data-status="succeeded"]', timeout=120_000)

    inputs = s3.keys(bucket, "inputs/")
    assert len(inputs) == 1, "the visitor's photo is stored once, in the bucket"
    outputs = _output_names(database)
    assert outputs and set(outputs) <= set(s3.keys(bucket)), "every result and thumbnail is an object of the bucket"

    images = page.locator("[data-job-id] img[data-output]")
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('[data-job-id] img[data-output]')];"
        " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
    )
    sources = images.evaluate_all("imgs => imgs.map(i => i.currentSrc)")
    assert sources and all(src.startswith(f"{s3.url}/{bucket}/") for src in sources), sources
    assert all("X-Amz-Signature=" in src for src in sources), "the page links presigned URLs"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "s3-media-result-en-desktop.png"), full_page=True)

    link = sources[0]
    unsigned = page.request.get(link.split("?", 1)[0])
    assert unsigned.status == 403, "the bucket is private: no link without a signature"
    time.sleep(max(0.0, _expires_at(link) - time.time()) + 1.5)
    expired = page.goto(link)
    assert expired is not None and expired.status == 403, "an expired link no longer loads"
    assert "Request has expired" in page.content()

    page.goto("/me/")
    page.locator(".creation").first.locator("[data-delete]").click()
    page.locator(".creation").first.locator("[data-delete-confirm]").click()
    page.wait_for_selector(".notice")
    assert s3.keys(bucket) == [], "deleting the creation deleted its images and the photo from the bucket"
    context.close()
    watch.fail_on_csp_violations()
