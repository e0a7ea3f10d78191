"""A visitor with finished and running work, made directly in the database of pytest-django's live server.

The in-process live server runs no jobs: pages that need jobs in a given state get them from here.
"""

from __future__ import annotations

import io
import uuid
from importlib import import_module

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image, ImageDraw

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.core.visitors import VISITOR_KEY
from comfyweb.jobs.models import Job, JobOutput

COLOURS = [(228, 72, 122), (109, 93, 252), (40, 160, 120), (240, 170, 40), (30, 120, 200), (150, 60, 160)]


def picture(index: int, size: int = 512) -> bytes:
    image = Image.new("RGB", (size, size), COLOURS[index % len(COLOURS)])
    draw = ImageDraw.Draw(image)
    draw.ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(255, 255, 255))
    draw.text((size // 2 - 4, size // 2 - 6), str(index + 1), fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def visitor_session() -> str:
    """A saved session, as a visitor who submitted a form has: its key owns the jobs made below."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store.create()
    store[VISITOR_KEY] = store.session_key
    store.save()
    return store.session_key


def add_session_cookie(context, base_url: str, key: str) -> None:
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": key, "url": base_url}])


def load_demo() -> None:
    if not WorkflowTemplate.objects.filter(slug="couple-photo").exists():
        call_command("loaddemo", verbosity=0)


def make_job(
    session_key: str, slug: str = "couple-photo", *, batch=None, status=Job.Status.SUCCEEDED, outputs=1, values=None
):
    template = WorkflowTemplate.objects.get(slug=slug)
    job = Job.objects.create(
        values=values or {},
        template=template,
        template_title=template.title,
        session_key=session_key,
        owner_key=f"session:{session_key}",
        batch=batch,
        status=status,
        prompt=template.prompt,
        params=template.params,
        campaign="couple-photo" if slug in ("couple-photo", "background-swap") else "",
    )
    if status == Job.Status.RUNNING:
        job.percent = 47
        job.progress = {"": {"status": "running", "node": "3", "value": 8, "max": 17}, "3": {"value": 8, "max": 17}}
        job.save(update_fields=["percent", "progress"])
    for index in range(outputs if status == Job.Status.SUCCEEDED else 0):
        n = Job.objects.count() + index
        name = default_storage.save(f"outputs/test/{job.pk}-{index}.png", ContentFile(picture(n)))
        thumb = default_storage.save(f"thumbnails/test/{job.pk}-{index}.png", ContentFile(picture(n, 128)))
        JobOutput.objects.create(
            job=job,
            node_id="9",
            index=index,
            file=name,
            thumbnail=thumb,
            filename=f"ComfyUI_{n:05}_.png",
            width=512,
            height=512,
        )
    return job


def stored_photo() -> str:
    """A visitor's photo as the jobs keep it (under inputs/)."""
    return default_storage.save("inputs/test/me.png", ContentFile(picture(7, 256)))


def visitor_with_work() -> dict:
    """A single finished job, a batch of four (two done, one running, one failed) and a few older ones."""
    load_demo()
    key = visitor_session()
    for _ in range(3):
        make_job(key, "poster-frame")
    batch = uuid.uuid4()
    done = [make_job(key, batch=batch) for _ in range(2)]
    running = make_job(key, batch=batch, status=Job.Status.RUNNING)
    make_job(key, batch=batch, status=Job.Status.FAILED)
    single = make_job(key, "background-swap")
    return {"session": key, "single": single, "batch": batch, "done": done, "running": running}
