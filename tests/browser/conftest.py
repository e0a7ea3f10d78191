"""A live comfyweb (`manage.py serve`, emulator backend) and Debian's chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
# Playwright's sync API keeps an event loop on the test thread; Django's ORM in the same test is still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# What `expect(...)` waits for, like the contexts' default timeout: a busy machine takes longer than 5 s.
expect.set_options(timeout=15_000)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _serve_available() -> bool:
    return (ROOT / "comfyweb" / "jobs" / "management" / "commands" / "serve.py").is_file()


def _manage(args: list[str], env: dict, timeout: float) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=timeout)


@contextlib.contextmanager
def running_site(tmp: Path, *, env: dict[str, str], prepare: list[list[str]]) -> Iterator[str]:
    """A real `serve` process on a free port with a fresh SQLite file: migrated, then each `prepare`
    management command run; yields its URL and stops it afterwards."""
    port = free_port()
    full_env = {
        **os.environ,
        "EMBEDDED_DEV": "1",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp / "media"),
        "EMULATOR_PORT": str(free_port()),
        "COMFYUI_URL": "",
        "GPU_BACKENDS": "",
        "REDIS_URL": "",
        **env,
    }
    for command in (["migrate", "--noinput"], *prepare):
        _manage(command, full_env, 120)
    log = open(tmp / "serve.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"serve did not come up; log: {(tmp / 'serve.log').read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def live_server_url(tmp_path_factory) -> Iterator[str]:
    """The demo site (`loaddemo`) on `serve`, its emulator at 150 ms a sampler step."""
    if not _serve_available():
        pytest.skip("the jobs area's `serve` command is not available")
    with running_site(tmp_path_factory.mktemp("live"), env={"EMULATOR_STEP_MS": "150"}, prepare=[["loaddemo"]]) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Playwright's sync API runs an event loop on the test thread: module scope ends it with the browser
    tests, so the asyncio tests after them get a thread without a running loop."""
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Every page reports Content-Security-Policy violations on its console (the browser's own message, and one
# line per `securitypolicyviolation` event from this init script, which CSP does not govern).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline")
    + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""
CSP_CONSOLE_MARKERS = ("Content Security Policy", "CSP violation")


class BrowserWatch:
    """What a page did that a test should know about: CSP violations and dialogs (alert/confirm/prompt)."""

    def __init__(self, context) -> None:
        self.csp_violations: list[str] = []
        self.dialogs: list[str] = []
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        context.on("console", self._console)
        context.on("dialog", self._dialog)

    def _console(self, message) -> None:
        if any(marker in message.text for marker in CSP_CONSOLE_MARKERS):
            self.csp_violations.append(f"{message.page.url if message.page else ''}: {message.text}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def fail_on_csp_violations(self) -> None:
        if self.csp_violations:
            pytest.fail("Content-Security-Policy violations:\n" + "\n".join(self.csp_violations), pytrace=False)


def _new_page(browser, base_url: str, **options):
    context = browser.new_context(base_url=base_url, locale="zh-CN", viewport={"width": 390, "height": 844}, **options)
    context.set_default_timeout(15_000)
    watch = BrowserWatch(context)
    page = context.new_page()
    page.watch = watch  # tests read page.watch.dialogs; CSP violations fail the test at teardown
    return context, page, watch


@pytest.fixture
def page(browser, live_server_url):
    context, page, watch = _new_page(browser, live_server_url, accept_downloads=True)
    yield page
    context.close()
    watch.fail_on_csp_violations()


@pytest.fixture
def django_page(browser, live_server, transactional_db):
    """A page on pytest-django's in-process live server: for pages that need no job runner."""
    context, page, watch = _new_page(browser, live_server.url)
    yield page
    context.close()
    watch.fail_on_csp_violations()


@pytest.fixture
def shot():
    """Save a screenshot of a step under test-artifacts/browser/ for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def photo(tmp_path) -> Path:
    """A real JPEG photo-like image."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 800), (200, 170, 150))
    ImageDraw.Draw(image).ellipse((200, 150, 440, 450), fill=(240, 210, 190))
    path = tmp_path / "me.jpg"
    image.save(path, "JPEG", quality=85)
    return path


@pytest.fixture
def background(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "beach.png"
    Image.new("RGB", (800, 600), (90, 160, 220)).save(path, "PNG")
    return path
