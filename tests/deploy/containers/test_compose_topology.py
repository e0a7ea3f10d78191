"""deploy/compose.yaml running in containers, tested from outside them like a visitor and an operator would.

nginx in front of two web processes, two runjobs workers, PostgreSQL, Redis, moto's S3 API and the
agent image in front of the ComfyUI emulator, all from the images `make images` built. The module's tests
run in order and share one stack; the last one takes it down.
"""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest

from tests.deploy.containers.stack import podman

# The first test also waits for the stack to come up (minutes on a busy machine).
pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(900)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def visitor_job(browser, stack, photo) -> dict:
    """A visitor makes one picture: the page, the upload, progress over the WebSocket, the result from S3."""
    context = browser.new_context(base_url=stack.site, locale="en-US", viewport={"width": 1280, "height": 720})
    context.set_default_timeout(60_000)
    frames: list[dict] = []
    page = context.new_page()
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
    page.goto("/c/couple-photo/t/background-swap/")
    page.locator('input[name="10.image"]').first.check(force=True)
    page.locator('input[type="file"][name="12.image"]').set_input_files(str(photo))
    page.locator('.qty:has(input[value="1"])').click()
    page.locator("[data-submit]").click()
    page.wait_for_selector('[data-job-id][data-status="succeeded"]', timeout=180_000)
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('[data-job-id] img[data-output]')];"
        " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
    )
    image = page.locator("[data-job-id] img[data-output]").first.evaluate("img => img.currentSrc")
    download = context.new_page().goto(image)
    result = {"frames": frames, "image": image, "status": download.status, "body": download.body()}
    context.close()
    return result


@pytest.fixture
def photo(tmp_path):
    from PIL import Image

    path = tmp_path / "beach.png"
    Image.new("RGB", (800, 600), (90, 160, 220)).save(path, "PNG")
    return path


def test_the_site_is_ready_through_nginx_and_on_each_web_process(stack):
    ready = httpx.get(f"{stack.site}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
    assert httpx.get(f"{stack.site}/healthz", timeout=10).json() == {"status": "ok"}
    for web in ("web-1", "web-2"):
        probe = podman("exec", stack.container(web), "python", "deploy/probe.py", "http://127.0.0.1:8000/readyz")
        assert "HTTP 200" in probe.stdout
        user = podman("exec", stack.container(web), "id", "-u").stdout.strip()
        assert user == "10001", "the web image runs as its unprivileged user"
    assert podman("exec", stack.container("agent"), "id", "-u").stdout.strip() == "10001"


def test_a_visitors_job_end_to_end_with_the_result_from_s3(browser, stack, photo):
    job = visitor_job(browser, stack, photo)
    statuses = [frame["job"]["status"] for frame in job["frames"] if "job" in frame]
    assert statuses and statuses[-1] == "succeeded", statuses
    assert "running" in statuses, "progress reached the page over the WebSocket, through nginx"
    assert job["image"].startswith(f"http://s3.localhost:{stack.s3_port}/comfyweb-media/")
    assert "X-Amz-Signature=" in job["image"] and "X-Amz-Expires=3600" in job["image"]
    assert job["status"] == 200 and job["body"].startswith(PNG), "the presigned link downloads the picture"


def test_a_killed_worker_is_restarted_by_its_restart_policy(browser, stack, photo):
    before = stack.inspect("worker-1")["State"]
    # SIGKILL of the container's process from the host, like the kernel's OOM killer: `podman kill` or
    # `podman stop` would count as an operator's stop, which a restart policy leaves alone.
    os.kill(before["Pid"], signal.SIGKILL)
    deadline = time.monotonic() + 120
    while True:
        state = stack.inspect("worker-1")
        if state["RestartCount"] >= 1 and state["State"]["Running"] and state["State"]["Pid"] != before["Pid"]:
            break
        assert time.monotonic() < deadline, f"worker-1 was not restarted: {state['State']}"
        time.sleep(1)
    deadline = time.monotonic() + 120
    while stack.logs("worker-1").count("runjobs worker") < 2:
        assert time.monotonic() < deadline, stack.logs("worker-1")
        time.sleep(1)
    job = visitor_job(browser, stack, photo)
    assert job["status"] == 200 and job["body"].startswith(PNG), "jobs still run after the restart"


def test_readiness_names_redis_while_it_is_stopped(stack):
    podman("stop", "-t", "5", stack.container("redis"))
    try:
        down = stack.wait_http(f"{stack.site}/readyz", status=503, timeout=60)
        assert down.json()["checks"]["database"] == "ok" and down.json()["checks"]["redis"] != "ok"
        assert httpx.get(f"{stack.site}/healthz", timeout=10).status_code == 200
    finally:
        podman("start", stack.container("redis"))
    stack.wait_http(f"{stack.site}/readyz", timeout=120)


def test_teardown_leaves_no_container_network_or_volume(stack):
    stack.save_logs()
    stack.down()
    assert stack.containers() == []
    networks = podman("network", "ls", "--format", "{{.Name}}").stdout.split()
    volumes = podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [name for name in networks + volumes if name.startswith(stack.project)]
