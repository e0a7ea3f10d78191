"""Campaign spike: a crowd of phones on the couple-photo campaign, each making one picture from two photos.

Every simulated visitor is a fresh phone (own cookies, own connections, own address): it opens the
campaign page and then the couple-photo form (the HTML and the assets the pages name, once each, like a
browser with an empty cache), fills the form the page renders (a character from the gallery, its two
required photos: phone JPEGs of 4000x3000, ~3 MB each; the consent box when the page has one; the
CSRF token), submits, opens the results page, follows each job's WebSocket like the page does
(static/js/site.js `follow`: reconnect with its back-off until a final status), then loads the card the
page swaps in, the image it shows, and downloads it with the card's download link.

Arrivals: VISITORS over SECONDS at random moments (a seeded uniform draw: a Poisson process with that
count), scaled together by BENCH_SCALE so the arrival rate stays the campaign's. The deployment: PostgreSQL
and Redis, WEBS web processes (`manage.py web`) and WORKERS `runjobs` workers, BACKENDS emulated GPUs
with SLOTS slots each at STEP_MS per sampler step (the template's 17 steps: a few seconds per picture,
as on one data-centre GPU). Each visitor talks to one web process (round-robin, as a proxy would spread
them) with its own X-Forwarded-For address: the web runs with BEHIND_PROXY=1, so the per-address rate
limits, queue caps and quotas apply per visitor as behind the deployment's proxy, at their shipped
values; moderation runs with the shipped checks (MODERATION_CHECKS unset: NudeNet and the word list on
the photos in the web, on the images made in the worker).

Measured per visitor (seconds): each page with its assets, the submit (the POST of the form with its
photos until the redirect), from the start of the submit to the first progress shown (a job frame with
percent > 0, or a final one) and to the final image shown; any failure ends the visitor and is counted
once, by kind: an HTTP status other than the page's, no connection within 30 s or no answer within 120 s
(a phone gives up too), a job that did not succeed, no image. Like a browser, a visitor sends a GET again
once when its kept-alive connection turned out closed (counted apart). One warm-up visitor per web process
runs before the clock (a deployment has served pages before its spike). Per process (web, worker): peak
RSS (sampled every SAMPLE_SECONDS) and CPU over the spike.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import math
import random
import re
import signal
import ssl
import subprocess
import time
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx
import psutil
import websockets

from bench.common import Workspace, percentile, scaled
from bench.procs import Emulators, free_port, python, stop, wait_for_http

CAMPAIGN = "couple-photo"
TEMPLATE = "couple-photo"
VISITORS = 1000
SECONDS = 300.0
WEBS, WORKERS = 2, 2
BACKENDS, SLOTS = 8, 2  # 16 slots: 8 GPUs, each with one prompt running and the next in ComfyUI's own queue
STEP_MS = 250  # the template's 17 sampler steps: ~4 s a picture
TEMPLATE_STEPS = 17
PHOTO_SIZE = (4000, 3000)  # a 12-megapixel phone photo
PHOTO_POOL = 12  # distinct photos, generated once; visitor i sends two of them
SAMPLE_SECONDS = 0.25
FINAL = ("succeeded", "failed", "cancelled")
PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126 Mobile Safari"
TEXTS = ("", "黑色短发，戴眼镜", "")  # what visitors type in the optional "describe yourself" box, in turn
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"RIFF", b"GIF8")


def options(scale: float, topology: str) -> dict:
    """The spike at BENCH_SCALE: fewer visitors over a proportionally shorter time (the same arrival rate)."""
    visitors = scaled(VISITORS, scale, 10)
    return {
        "topology": topology,
        "visitors": visitors,
        "seconds": SECONDS * visitors / VISITORS,
        "webs": WEBS,
        "workers": WORKERS,
        "backends": BACKENDS,
        "slots": SLOTS,
        "step_ms": STEP_MS,
    }


# --- the pure parts --------------------------------------------------------------------------


def arrival_times(count: int, seconds: float, seed: int = 22) -> list[float]:
    """When each visitor arrives (s from the start, ascending): `count` uniform draws over the window."""
    draw = random.Random(seed)
    return sorted(draw.uniform(0, seconds) for _ in range(count))


def visitor_address(index: int) -> str:
    """A distinct client address per visitor (10.0.0.1, 10.0.0.2, …), as the proxy reports it."""
    number = index + 1
    return f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"


class PageParser(HTMLParser):
    """What a browser takes from a page: links, the assets it loads, the job form's fields, the job cards."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.assets: list[str] = []
        self.fields: list[dict] = []  # inputs, textareas and selects of form[data-job-form], in order
        self.form_action: str | None = None
        self.jobs: list[dict] = []  # [data-job-id] cards: id, card URL
        self.ws_prefix = ""
        self.outputs: list[str] = []  # img[data-output] sources
        self._in_form = False
        self._text: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {key: value if value is not None else "" for key, value in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "link" and a.get("href") and {"stylesheet", "icon"} & set(a.get("rel", "").split()):
            self.assets.append(a["href"])
        if tag in ("script", "img") and a.get("src"):
            (self.outputs if "data-output" in a else self.assets).append(a["src"])
        if tag == "form" and "data-job-form" in a:
            self._in_form, self.form_action = True, a.get("action", "")
        if "data-ws-prefix" in a:
            self.ws_prefix = a["data-ws-prefix"]
        if "data-job-id" in a:
            self.jobs.append({"id": a["data-job-id"], "card": a.get("data-card-url", "")})
        if not self._in_form:
            return
        if tag == "input":
            self.fields.append({"tag": "input", **a})
        elif tag == "textarea":
            self._text = {"tag": "textarea", **a, "value": ""}
            self.fields.append(self._text)
        elif tag == "select":
            self.fields.append({"tag": "select", **a, "options": []})
        elif tag == "option" and self.fields and self.fields[-1]["tag"] == "select":
            self.fields[-1]["options"].append((a.get("value", ""), "selected" in a))

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text["value"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._text = None
        elif tag == "form":
            self._in_form = False


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser


def same_origin_paths(paths: list[str]) -> list[str]:
    """The paths on this site among `paths` (no other host, no data: URL), each once, in order."""
    return list(dict.fromkeys(path for path in paths if path.startswith("/") and not path.startswith("//")))


def form_payload(page: PageParser, photos: list[tuple[str, bytes]], visitor: int) -> tuple[list, list]:
    """The form as a visitor fills it: the defaults the page sets, a gallery choice that varies by visitor,
    `photos` (name, JPEG bytes) in the required file inputs in order, the consent box ticked.

    Returns (data, files) for httpx. A required file input without a photo left raises ValueError.
    """
    data: list[tuple[str, str]] = []
    files: list[tuple[str, tuple]] = []
    radios: dict[str, list[dict]] = {}
    left = list(photos)
    for field in page.fields:
        name, kind = field.get("name"), field.get("type", "text")
        if not name:
            continue
        if field["tag"] == "textarea":
            data.append((name, field["value"].strip() or TEXTS[visitor % len(TEXTS)]))
        elif field["tag"] == "select":
            chosen = [value for value, selected in field["options"] if selected] or [field["options"][0][0]]
            data.append((name, chosen[0]))
        elif kind == "radio":
            radios.setdefault(name, []).append(field)
        elif kind == "checkbox":
            if name == "consent":
                data.append((name, field.get("value") or "yes"))
            elif "checked" in field:
                data.append((name, field.get("value") or "on"))
        elif kind == "file":
            if "required" in field:
                if not left:
                    raise ValueError(f"no photo left for the required input {name}")
                filename, content = left.pop(0)
                files.append((name, (filename, content, "image/jpeg")))
        elif kind not in ("submit", "button", "reset", "image"):
            data.append((name, field.get("value", "")))
    for name, choices in radios.items():
        if any("gallery" in choice.get("class", "").split() for choice in choices):
            chosen = choices[visitor % len(choices)]
        else:
            chosen = next((choice for choice in choices if "checked" in choice), choices[0])
        data.append((name, chosen.get("value", "on")))
    return data, files


def summarize(visits: list[dict]) -> dict:
    """Percentiles over the visitors who got that far, errors by kind over all of them."""

    def times(key: str) -> list[float]:
        return [visit[key] for visit in visits if visit.get(key) is not None]

    kinds = Counter(visit["error"] for visit in visits if visit.get("error"))
    summary: dict = {
        "visitors": len(visits),
        "completed": sum(1 for visit in visits if visit.get("final_image_s") is not None and not visit.get("error")),
        "errors": sum(kinds.values()),
        "errors_by_kind": dict(kinds.most_common()),
        "error_examples": {},
        "reconnects": sum(visit.get("reconnects", 0) for visit in visits),
        "get_retries": sum(visit.get("get_retries", 0) for visit in visits),
    }
    for visit in visits:
        if visit.get("error") and visit["error"] not in summary["error_examples"]:
            summary["error_examples"][visit["error"]] = visit.get("detail", "")[:300]
    for key in ("landing_s", "page_s", "submit_s", "results_s", "first_progress_s", "final_image_s", "download_s"):
        values = times(key)
        summary[key] = {
            "n": len(values),
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "max": max(values) if values else math.nan,
        }
    return summary


def selftest() -> None:
    """The pure parts on worked examples (`python -m bench --selftest`)."""
    arrivals = arrival_times(1000, 300.0)
    assert len(arrivals) == 1000 and arrivals == sorted(arrivals) and 0 <= arrivals[0] and arrivals[-1] < 300
    assert arrivals == arrival_times(1000, 300.0), "the same schedule every run"
    assert 80 < sum(1 for at in arrivals if at < 30) < 120, "about a tenth of the crowd in a tenth of the time"
    addresses = {visitor_address(index) for index in range(70_000)}
    assert len(addresses) == 70_000 and visitor_address(0) == "10.0.0.1" and visitor_address(255) == "10.0.1.0"
    html = """<html><head><link rel="stylesheet" href="/static/a.css"><link rel="alternate" href="/en/">
      <script src="/static/s.js" defer></script></head><body><a href="/c/x/t/y/">y</a><img src="/static/h.svg">
      <img src="data:image/png;base64,xx"><form method="post" data-job-form>
      <input type="hidden" name="csrfmiddlewaretoken" value="tok">
      <input type="file" name="10.image" required><textarea name="24.text">
      </textarea>
      <input type="radio" name="11.image" value="/a.png" class="gallery" checked>
      <input type="radio" name="11.image" value="/b.png" class="gallery">
      <input type="file" name="11.image__upload"><input type="file" name="12.image" required>
      <input type="radio" name="quantity" value="1" checked><input type="radio" name="quantity" value="2">
      <input type="checkbox" name="consent" value="yes"><button type="submit">go</button></form>
      <input type="text" name="outside" value="x"></body></html>"""
    page = parse(html)
    assert same_origin_paths(page.assets) == ["/static/a.css", "/static/s.js", "/static/h.svg"], page.assets
    assert page.links == ["/c/x/t/y/"]
    data, files = form_payload(page, [("a.jpg", b"A"), ("b.jpg", b"B")], visitor=1)
    assert dict(data) == {
        "csrfmiddlewaretoken": "tok",
        "24.text": TEXTS[1],
        "11.image": "/b.png",
        "quantity": "1",
        "consent": "yes",
    }, data
    assert [(name, content[0]) for name, content in files] == [("10.image", "a.jpg"), ("12.image", "b.jpg")]
    try:
        form_payload(page, [("a.jpg", b"A")], visitor=0)
    except ValueError:
        pass
    else:
        raise AssertionError("a required photo input left empty must be refused")
    results = parse(
        '<section data-results data-ws-prefix="/ws/jobs/"><article data-job-id="j1" '
        'data-card-url="/jobs/j1/card/"><img src="/media/o.png" data-output></article></section>'
    )
    assert results.ws_prefix == "/ws/jobs/" and results.jobs == [{"id": "j1", "card": "/jobs/j1/card/"}]
    assert results.outputs == ["/media/o.png"] and results.assets == []
    visits = [{"submit_s": 0.1 * n, "final_image_s": 10.0 + n} for n in range(1, 21)]
    visits += [{"submit_s": 5.0, "error": "submit HTTP 503", "detail": "busy"}, {"error": "submit HTTP 503"}]
    summary = summarize(visits)
    assert summary["visitors"] == 22 and summary["completed"] == 20 and summary["errors"] == 2
    assert summary["errors_by_kind"] == {"submit HTTP 503": 2}
    assert summary["error_examples"]["submit HTTP 503"] == "busy"
    assert summary["submit_s"]["n"] == 21 and abs(summary["submit_s"]["p50"] - 1.1) < 1e-9
    assert summary["first_progress_s"]["n"] == 0 and math.isnan(summary["first_progress_s"]["p95"])


# --- the photos ------------------------------------------------------------------------------


def phone_photo(seed: int, noise: float = 6.0, quality: int = 90) -> bytes:
    """A 12-megapixel JPEG of ~3 MB: a landscape's soft colour fields (sky to ground) with sensor-like grain
    (noise does not compress, flat colour would), half of them with the EXIF orientation of a phone held
    upright. Cool colours: skin-like blobs would make the output check withhold the emulator's collage."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    width, height = PHOTO_SIZE
    rows = np.linspace(0, 1, 12)[:, None, None]
    scene = np.array([90, 150, 220]) * (1 - rows) + np.array([60, 110, 70]) * rows  # sky blue to grass green
    small = np.clip(scene + rng.normal(0, 15, (12, 16, 3)), 0, 255).astype(np.uint8)
    fields = Image.fromarray(small).resize((width, height), Image.BICUBIC)
    pixels = np.asarray(fields, dtype=np.int16) + rng.normal(0, noise, (height, width, 1)).astype(np.int16)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Google", "Pixel 8"  # Make, Model
    if seed % 2:
        exif[0x0112] = 6  # Orientation: rotate 90° clockwise to show
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


# --- the measurement -------------------------------------------------------------------------


class Failure(Exception):
    """A visitor's journey ended: `kind` is what the error counts are grouped by."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind, self.detail = kind, detail


def _cookie_header(client: httpx.AsyncClient) -> str:
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in client.cookies.jar)


STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


async def _get(client: httpx.AsyncClient, path: str, what: str) -> httpx.Response:
    """GET, sent again once when a kept-alive connection turned out closed (as browsers do for a GET)."""
    for attempt in (1, 2):
        try:
            response = await client.get(path)
            break
        except STALE_CONNECTION as exc:
            if attempt == 2:
                raise Failure(f"{what}: {type(exc).__name__}", str(exc)) from exc
            client.retried += 1
        except httpx.HTTPError as exc:
            raise Failure(f"{what}: {type(exc).__name__}", str(exc)) from exc
    if response.status_code != 200:
        raise Failure(f"{what} HTTP {response.status_code}", response.text[:300])
    return response


async def _page(client: httpx.AsyncClient, path: str, what: str, fetched: set[str]) -> PageParser:
    """A page and the assets it names that this visitor has not loaded yet (at most 6 at once, as a browser)."""
    page = parse((await _get(client, path, what)).text)
    wanted = [asset for asset in same_origin_paths(page.assets) if asset not in fetched]
    fetched.update(wanted)
    gate = asyncio.Semaphore(6)

    async def one(asset: str) -> None:
        async with gate:
            await _get(client, asset, f"{what} asset")

    await asyncio.gather(*(one(asset) for asset in wanted))
    return page


async def _follow(base_ws: str, prefix: str, job_id: str, headers: dict, visit: dict, started: float) -> dict:
    """The job page's follow(): hold the newest state, reconnect with its back-off, until a final status."""
    attempt = 0
    while True:
        try:
            async with websockets.connect(
                f"{base_ws}{prefix}{job_id}/",
                additional_headers=headers,
                user_agent_header=PHONE,
                max_size=None,
                open_timeout=60,
            ) as socket:
                async for raw in socket:
                    frame = json.loads(raw)
                    if frame.get("type") != "job" or not frame.get("job"):
                        continue
                    job = frame["job"]
                    attempt = 0
                    if visit.get("first_progress_s") is None and (job.get("percent", 0) > 0 or job["status"] in FINAL):
                        visit["first_progress_s"] = time.monotonic() - started
                    if job["status"] in FINAL:
                        return job
        except (TimeoutError, OSError, websockets.WebSocketException) as exc:
            visit["reconnects"] = visit.get("reconnects", 0) + 1
            visit.setdefault("ws_errors", []).append(f"{type(exc).__name__}: {exc}"[:200])
        if attempt >= 8:
            raise Failure("websocket: gave up reconnecting", "; ".join(visit.get("ws_errors", [])[-3:]))
        await asyncio.sleep(min(10.0, 0.5 * 2**attempt))
        attempt += 1


async def _image(client: httpx.AsyncClient, path: str, what: str) -> int:
    body = (await _get(client, path, what)).content
    if not body.startswith(IMAGE_MAGIC):
        raise Failure(f"{what}: not an image", repr(body[:40]))
    return len(body)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client: httpx would build one per client (loading the CA store each time,
    a third of the clients' CPU at 1,000 visitors), though the site is plain HTTP on loopback."""
    return ssl.create_default_context()


async def visit(index: int, base: str, photos: list[tuple[str, bytes]], visit_record: dict) -> None:
    """One visitor's whole journey; timings and the failure (if any) go into `visit_record`."""
    headers = {"X-Forwarded-For": visitor_address(index), "User-Agent": PHONE, "Accept-Language": "zh-CN,zh;q=0.9"}
    fetched: set[str] = set()
    timeout = httpx.Timeout(120.0, connect=30.0)
    # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s) can close them under us.
    limits = httpx.Limits(max_connections=6, keepalive_expiry=2.0)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=timeout, limits=limits, trust_env=False, verify=_tls()
    ) as client:
        client.retried = 0
        try:
            started = time.monotonic()
            landing = await _page(client, f"/c/{CAMPAIGN}/", "campaign page", fetched)
            visit_record["landing_s"] = time.monotonic() - started
            form_url = next((link for link in landing.links if link.rstrip("/").endswith(f"/t/{TEMPLATE}")), None)
            if form_url is None:
                raise Failure("campaign page: no link to the template", str(landing.links[:10]))
            started = time.monotonic()
            form_page = await _page(client, form_url, "form page", fetched)
            visit_record["page_s"] = time.monotonic() - started
            data, files = form_payload(form_page, photos, index)
            action = urljoin(form_url, form_page.form_action or form_url)
            submitted = time.monotonic()
            try:
                response = await client.post(
                    action, data=dict(data), files=files, headers={"Origin": base, "Referer": base + form_url}
                )
            except httpx.HTTPError as exc:
                raise Failure(f"submit: {type(exc).__name__}", str(exc)) from exc
            visit_record["submit_s"] = time.monotonic() - submitted
            if response.status_code != 302:
                summary = re.search(r"data-error-summary>(.*?)</div>", response.text, re.S)
                said = " ".join(re.sub(r"<[^>]+>", " ", summary.group(1)).split()) if summary else response.text[:300]
                raise Failure(f"submit HTTP {response.status_code}", said)
            started = time.monotonic()
            results = await _page(client, response.headers["location"], "results page", fetched)
            visit_record["results_s"] = time.monotonic() - started
            if not results.jobs:
                raise Failure("results page: no job card")
            base_ws = base.replace("http://", "ws://", 1)
            ws_headers = {"X-Forwarded-For": visitor_address(index), "Cookie": _cookie_header(client), "Origin": base}
            jobs = await asyncio.gather(
                *(
                    _follow(base_ws, results.ws_prefix or "/ws/jobs/", card["id"], ws_headers, visit_record, submitted)
                    for card in results.jobs
                )
            )
            for card, job in zip(results.jobs, jobs, strict=True):
                if job["status"] != "succeeded":
                    code = (job.get("error") or {}).get("code", "")
                    kind = f"job {job['status']}" + (f" ({code})" if code else "")
                    raise Failure(kind, json.dumps(job.get("error")))
                card_page = parse((await _get(client, card["card"], "job card")).text)
                shown = same_origin_paths(card_page.outputs)
                if not shown:  # e.g. withheld for the operators' review by the output check
                    raise Failure("job card: no image" + (" (withheld for review)" if job.get("withheld") else ""))
                for source in shown:
                    await _image(client, source, "image shown")
            visit_record["final_image_s"] = time.monotonic() - submitted
            for card, job in zip(results.jobs, jobs, strict=True):
                for n in range(1, len(job.get("outputs") or []) + 1):
                    visit_record["downloaded_bytes"] = visit_record.get("downloaded_bytes", 0) + await _image(
                        client, f"/jobs/{card['id']}/images/{n}/download/", "download"
                    )
            visit_record["download_s"] = time.monotonic() - submitted
        except Failure as failure:
            visit_record["error"], visit_record["detail"] = failure.kind, failure.detail
        except Exception as exc:  # a bench bug must show as an error kind, never end the run
            visit_record["error"], visit_record["detail"] = f"bench: {type(exc).__name__}", str(exc)[:300]
        visit_record["get_retries"] = client.retried


class Sampler:
    """Peak RSS and CPU time of the processes of each role, sampled every SAMPLE_SECONDS."""

    def __init__(self, roles: dict[str, list[psutil.Process]]) -> None:
        self.roles = roles
        self.reset()

    def reset(self) -> None:
        """Start counting from now (peaks and CPU time)."""
        roles = self.roles
        self.peaks = {role: [0] * len(processes) for role, processes in roles.items()}
        self.cpu_start = {role: [self.cpu(p) for p in processes] for role, processes in roles.items()}
        self.started = time.monotonic()
        self.dead: set[str] = set()
        self.most_late = 0.0  # the clients' event loop: the most a sample came after it was due (s)

    @staticmethod
    def cpu(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return math.nan
        return times.user + times.system

    async def run(self) -> None:
        """Peaks every SAMPLE_SECONDS, and how late each sample comes: a late clients' loop reads answers late
        (a server's idle timeout then runs out under a connection the client still counts as fresh)."""
        while True:
            for role, processes in self.roles.items():
                for index, process in enumerate(processes):
                    try:
                        self.peaks[role][index] = max(self.peaks[role][index], process.memory_info().rss)
                    except psutil.Error:
                        self.dead.add(f"{role} {index + 1}")
            due = time.monotonic()
            await asyncio.sleep(SAMPLE_SECONDS)
            self.most_late = max(self.most_late, time.monotonic() - due - SAMPLE_SECONDS)

    def result(self) -> dict:
        seconds = time.monotonic() - self.started
        out: dict = {"seconds": seconds, "dead": sorted(self.dead), "clients_most_late_s": self.most_late}
        for role, processes in self.roles.items():
            cpu = [self.cpu(p) - start for p, start in zip(processes, self.cpu_start[role], strict=True)]
            out[role] = {
                "processes": len(processes),
                "peak_rss_mib": [peak / 2**20 for peak in self.peaks[role]],
                "cpu_seconds": cpu,
                "mean_cores": sum(cpu) / seconds if seconds else math.nan,
            }
        return out


async def crowd(
    bases: list[str], photos: list[bytes], visitors: int, seconds: float, deadline: float, sampler: Sampler
) -> dict:
    """Warm every web process with one visitor (not counted), then the spike: `visitors` arriving over `seconds`."""
    sampling = asyncio.create_task(sampler.run())
    pool = [(f"IMG_{2026_0000 + n}.jpg", photo) for n, photo in enumerate(photos)]

    def photos_of(index: int) -> list[tuple[str, bytes]]:
        return [pool[(2 * index) % len(pool)], pool[(2 * index + 1) % len(pool)]]

    warm = [{} for _ in bases]
    await asyncio.gather(*(visit(10**6 + n, base, photos_of(n), warm[n]) for n, base in enumerate(bases)))
    if any(record.get("error") for record in warm):
        sampling.cancel()
        return {"warm_up": warm, "visits": [], "aborted": "the warm-up visitor failed"}
    sampler.reset()  # the spike's own CPU and peaks, from here
    arrivals = arrival_times(visitors, seconds)
    records: list[dict] = [{"arrival_s": at} for at in arrivals]
    start = time.monotonic()

    async def arrive(index: int) -> None:
        await asyncio.sleep(max(0.0, start + arrivals[index] - time.monotonic()))
        await visit(index, bases[index % len(bases)], photos_of(index), records[index])

    tasks = [asyncio.create_task(arrive(index)) for index in range(visitors)]
    _done, pending = await asyncio.wait(tasks, timeout=max(1.0, deadline - time.monotonic()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for index, task in enumerate(tasks):
        if task in pending and not records[index].get("error"):
            records[index]["error"], records[index]["detail"] = "unfinished at the deadline", ""
    sampling.cancel()
    return {"warm_up": warm, "visits": records, "spike_seconds": time.monotonic() - start}


def load_average() -> list[float]:
    import os

    return [round(value, 2) for value in os.getloadavg()]


def run(
    *,
    topology: str,
    visitors: int,
    seconds: float,
    webs: int,
    workers: int,
    backends: int,
    slots: int,
    step_ms: int,
    **_options,
) -> dict:
    """The deployment, the photos, the crowd; the processes are stopped whatever happens."""
    from django.core.management import call_command

    space = Workspace(topology)
    space.setup_django()
    call_command("loaddemo", verbosity=0)
    emulators = Emulators(
        backends, step_ms, space.root / "emulators", log=space.log("emulators"), preview_method="auto"
    )
    env = {**space.env, "GPU_BACKENDS": emulators.gpu_backends(slots), "BEHIND_PROXY": "1"}
    # The shipped limits and checks: the workspace's raised per-visitor cap and the bench's word-list-only
    # moderation (bench.part) are for the other parts; here settings decide.
    drop = ("JOB_MAX_QUEUED_PER_VISITOR", "MODERATION_CHECKS")
    processes: list[subprocess.Popen] = []
    try:
        bases, web_processes, worker_processes = [], [], []
        if topology == "embedded":  # one process serves and dispatches (SQLite): one web, no worker
            webs, workers = 1, 0
        env["WEB_PROCESSES"] = str(webs)
        for n in range(webs):
            port = free_port()
            command = "serve" if topology == "embedded" else "web"
            process = python(
                "manage.py",
                command,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                env=env,
                drop=drop,
                log=space.log(f"web-{n + 1}"),
                stdout=subprocess.DEVNULL,
            )
            processes.append(process)
            bases.append(f"http://127.0.0.1:{port}")
            web_processes.append(psutil.Process(process.pid))
        for n in range(workers):
            process = python(
                "manage.py", "runjobs", env=env, drop=drop, log=space.log(f"worker-{n + 1}"), stdout=subprocess.DEVNULL
            )
            processes.append(process)
            worker_processes.append(psutil.Process(process.pid))
        for base, process in zip(bases, processes, strict=False):
            wait_for_http(f"{base}/healthz", timeout=240, process=process)  # start-up on a busy machine
        started = time.monotonic()
        photos = [phone_photo(seed) for seed in range(PHOTO_POOL)]
        photo_seconds = time.monotonic() - started
        roles = {
            "web": web_processes,
            "worker": worker_processes,
            "emulators": [psutil.Process(emulators.process.pid)],
            "bench clients": [psutil.Process()],
        }
        job_seconds = TEMPLATE_STEPS * step_ms / 1000 + 1.0
        drain = visitors * job_seconds / backends
        deadline = time.monotonic() + seconds + 3 * drain + 180
        load_start = load_average()
        sampler = Sampler(roles)
        measured = asyncio.run(crowd(bases, photos, visitors, seconds, deadline, sampler))
        resources = sampler.result()
        from django.db.models import Count

        from comfyweb.jobs.models import Job

        visits = measured.pop("visits")
        return {
            "topology": topology,
            "visitors": visitors,
            "seconds": seconds,
            "webs": webs,
            "workers": workers,
            "backends": backends,
            "slots": slots,
            "step_ms": step_ms,
            "photo_mb": [round(len(photo) / 1e6, 2) for photo in photos],
            "photo_seconds": photo_seconds,
            **summarize(visits),
            **measured,
            "resources": resources,
            "statuses": dict(Job.objects.values_list("status").annotate(n=Count("id"))),
            "load_start": load_start,
            "load_end": load_average(),
        }
    finally:
        for process in processes:
            stop(process, signal.SIGINT)
        emulators.stop()
        space.close()


# --- the figures -----------------------------------------------------------------------------

TARGET_SUBMIT_MS = 1000.0
TARGET_WEB_RSS_MIB = 1024.0
TARGET_ERRORS = 0


def _s(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def _ms(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value * 1000:.0f}"


def _number(value) -> float:
    return math.nan if value is None else float(value)


def figures(options: dict, result: dict) -> list:
    """Errors, page load, submit, first progress, final image, RSS and CPU of the spike, with their targets."""
    from bench.report import Figure

    name = f"spike, {options['visitors']} visitors over {options['seconds']:.0f} s"
    if "error" in result or result.get("aborted"):
        failed = Figure.failed(name, result) if "error" in result else None
        note = (
            failed.note
            if failed
            else f"{result['aborted']}: {[r.get('error') for r in result['warm_up']]} "
            f"{[r.get('detail') for r in result['warm_up']]}"
        )
        return [
            Figure(f"{name}: errors", "failed", "0", math.inf, TARGET_ERRORS, note=note),
            Figure(f"{name}: submit p95", "failed", "< 1 s", math.inf, TARGET_SUBMIT_MS),
            Figure(f"{name}: web RSS peak", "failed", "< 1 GiB", math.inf, TARGET_WEB_RSS_MIB),
        ]
    resources = result["resources"]
    kinds = ", ".join(f"{kind}: {count}" for kind, count in result["errors_by_kind"].items())
    web_rss = max(resources["web"]["peak_rss_mib"], default=math.nan)
    gpus = result["backends"]
    note = (
        f"{result['visitors']} visitors ({result['completed']} got their image) arriving at random over "
        f"{result['seconds']:.0f} s, each to one of {result['webs']} web process(es) with its own X-Forwarded-For "
        f"address (BEHIND_PROXY=1; rate limits, queue caps, quotas and moderation (NudeNet + word list) at their "
        f"shipped values); {result['workers']} runjobs worker(s); {gpus} emulated GPUs x {result['slots']} slots, "
        f"{TEMPLATE_STEPS} steps of {result['step_ms']} ms; photos {min(result['photo_mb'])}-"
        f"{max(result['photo_mb'])} MB JPEG 4000x3000 ({PHOTO_POOL} distinct, two per visitor); one warm-up visitor "
        f"per web process before the clock; jobs {result['statuses']}; {result['reconnects']} WebSocket reconnects, "
        f"{result['get_retries']} GETs sent again on a closed kept-alive connection; the bench clients' event "
        f"loop at most {resources.get('clients_most_late_s', math.nan):.1f} s late; "
        f"spike {result.get('spike_seconds', math.nan):.0f} s from the first arrival to the last visitor done; "
        f"load average at the start {result['load_start']}, at the end {result['load_end']}"
        + (f"; errors: {kinds}; examples {result['error_examples']}" if kinds else "")
        + (f"; processes that died: {resources['dead']}" if resources["dead"] else "")
    )
    landing, page, submit = result["landing_s"], result["page_s"], result["submit_s"]
    first, final, results_page = result["first_progress_s"], result["final_image_s"], result["results_s"]
    cpu = ", ".join(
        f"{role} {resources[role]['mean_cores']:.2f}"
        + (f" ({resources[role]['processes']} processes)" if resources[role]["processes"] > 1 else "")
        for role in ("web", "worker", "emulators", "bench clients")
        if resources[role]["processes"]
    )
    worker_rss = max(resources["worker"]["peak_rss_mib"], default=math.nan)
    return [
        Figure(
            f"{name}: errors",
            f"{result['errors']}" + (f" ({kinds})" if kinds else ""),
            "0",
            float(result["errors"]),
            TARGET_ERRORS,
            note=note,
        ),
        Figure(
            f"{name}: page load p95 (HTML + assets), campaign page / form page",
            f"{_ms(landing['p95'])} / {_ms(page['p95'])} ms",
            "",
            None,
            None,
            note=f"p50 {_ms(landing['p50'])} / {_ms(page['p50'])} ms; results page p50 / p95 "
            f"{_ms(results_page['p50'])} / {_ms(results_page['p95'])} ms",
        ),
        Figure(
            f"{name}: submit p95 (form with 2 photos, to the redirect)",
            f"{_ms(submit['p95'])} ms",
            "< 1 s",
            _number(submit["p95"]) * 1000,
            TARGET_SUBMIT_MS,
            note=f"p50 {_ms(submit['p50'])} ms, max {_ms(submit['max'])} ms",
        ),
        Figure(
            f"{name}: time to first progress p50 / p95 (from the submit)",
            f"{_s(first['p50'])} / {_s(first['p95'])} s",
            "",
            None,
            None,
        ),
        Figure(
            f"{name}: time to final image p50 / p95 (from the submit)",
            f"{_s(final['p50'])} / {_s(final['p95'])} s",
            "",
            None,
            None,
            note=f"{gpus} GPUs at ~{TEMPLATE_STEPS * result['step_ms'] / 1000:.1f} s of sampling a picture make "
            f"at most ~{gpus / (TEMPLATE_STEPS * result['step_ms'] / 1000):.1f} pictures/s; visitors arrive at "
            f"{result['visitors'] / result['seconds']:.1f}/s",
        ),
        Figure(
            f"{name}: web RSS peak (largest web process)",
            f"{web_rss:.0f} MiB",
            "< 1 GiB",
            web_rss,
            TARGET_WEB_RSS_MIB,
            note=f"each web process: {', '.join(f'{v:.0f}' for v in resources['web']['peak_rss_mib'])} MiB",
        ),
        Figure(
            f"{name}: worker RSS peak (largest worker)",
            f"{worker_rss:.0f} MiB" if resources["worker"]["processes"] else "in the web process (embedded)",
            "",
            None,
            None,
        ),
        Figure(f"{name}: CPU over the spike, mean cores", cpu, "", None, None, note=_cpu_per_visitor(result)),
    ]


def _cpu_per_visitor(result: dict) -> str:
    """CPU seconds per visitor and per picture: what a neighbour on the machine changes least."""
    resources, made = result["resources"], result["statuses"].get("succeeded", 0)
    web, worker = sum(resources["web"]["cpu_seconds"]), sum(resources["worker"]["cpu_seconds"])
    web_part = (
        f"web {web:.0f} CPU s over the spike, {web / max(1, result['visitors']):.2f} s per visitor "
        f"({result['submit_s']['n']} of {result['visitors']} had their submit answered)"
    )
    if not resources["worker"]["processes"]:
        return web_part + "; the web process also runs the jobs (embedded)"
    return (
        web_part
        + f"; worker {worker:.0f} CPU s, {worker / max(1, made):.2f} s per picture made ({made}, warm-up included)"
    )
