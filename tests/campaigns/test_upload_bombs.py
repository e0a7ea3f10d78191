"""Decompression bombs uploaded in parallel with real photos: each bomb gets the 400 message, each photo a job.

The pixel check reads the header and changes no process-wide state, so concurrent uploads cannot
disturb one another (a warnings filter set by one thread used to turn another's check into a 500).
"""

from __future__ import annotations

import io
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import Client
from PIL import Image

from comfyweb.catalog.models import WorkflowTemplate

MESSAGES = {
    "en": "The image has too many pixels. Please upload a smaller photo.",
    "zh-hans": "图片像素过多。请上传一张小一些的照片。",
}
PARALLEL = 12


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A 12000×12000 PNG: 144 megapixels in about 140 kB."""
    out = io.BytesIO()
    Image.new("L", (12000, 12000)).save(out, format="PNG")
    return out.getvalue()


def _photo(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (seed * 20 % 256, 120, 90)).save(out, format="JPEG", quality=85)
    return out.getvalue()


@pytest.fixture
def template(transactional_db) -> WorkflowTemplate:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "", "upload": "image"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bomb-test"}},
    }
    params = [{"type": "image", "id": "1", "key": "image", "title": "Photo"}]
    return WorkflowTemplate.objects.create(slug="bomb-test", title="Bombs", prompt=prompt, params=params)


def _upload(template: WorkflowTemplate, data: bytes, name: str, language: str) -> tuple[int, str, str]:
    """One visitor (own client, own session) posts the template's page; closes this thread's DB connection."""
    try:
        client = Client()
        upload = io.BytesIO(data)
        upload.name = name
        answer = client.post(
            f"/t/{template.slug}/", {"1.image": upload, "quantity": "1"}, HTTP_ACCEPT_LANGUAGE=language
        )
        return answer.status_code, answer.get("Location", ""), answer.content.decode()
    finally:
        connections.close_all()


def _assert_bomb_refused(result: tuple[int, str, str], language: str) -> None:
    status, _location, html = result
    assert status == 400, f"a bomb got {status}"
    assert MESSAGES[language] in html


def _assert_photo_accepted(result: tuple[int, str, str]) -> None:
    status, location, html = result
    assert status == 302, f"a valid photo got {status}: {html[:300]}"
    assert location.startswith("/jobs/")


def test_bombs_in_parallel_with_photos_each_get_their_answer(template, bomb):
    filters_before = list(warnings.filters)
    _assert_bomb_refused(_upload(template, bomb, "big.png", "en"), "en")

    plan = []
    for index in range(PARALLEL):
        language = ("en", "zh-hans")[index % 2]
        is_bomb = index % 3 != 2  # 8 bombs, 4 photos, interleaved
        plan.append((is_bomb, language, bomb if is_bomb else _photo(index), "big.png" if is_bomb else "me.jpg"))
    start = threading.Barrier(PARALLEL)

    def run(entry):
        _is_bomb, language, data, name = entry
        start.wait(timeout=60)
        return _upload(template, data, name, language)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        results = list(pool.map(run, plan))

    for (is_bomb, language, _data, _name), result in zip(plan, results, strict=True):
        if is_bomb:
            _assert_bomb_refused(result, language)
        else:
            _assert_photo_accepted(result)

    _assert_bomb_refused(_upload(template, bomb, "big.png", "zh-hans"), "zh-hans")
    _assert_photo_accepted(_upload(template, _photo(99), "after.jpg", "en"))
    assert list(warnings.filters) == filters_before, "no process-wide warnings filter was left behind"
