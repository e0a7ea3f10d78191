"""A visitor's finished work for the take-away tests: jobs with real PNG outputs in Django storage."""

from __future__ import annotations

import io
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job, JobOutput

PROMPT = {"1": {"class_type": "LoadImage", "inputs": {"image": ""}}, "2": {"class_type": "SaveImage", "inputs": {}}}
SECRET_TEXT = "my-secret-description-7Q"  # what the visitor typed: never on a shared page
SECRET_PHOTO = "inputs/ab/visitor-photo-9Z.png"  # the photo the visitor sent: never on a shared page


def png(colour=(200, 10, 10), size=(16, 12)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def poster_template() -> WorkflowTemplate:
    return WorkflowTemplate.objects.get_or_create(
        slug="poster-frame",
        defaults={
            "title": "海报相框",
            "prompt": PROMPT,
            "params": [],
            "translations": {"en": {"title": "Poster frame"}},
        },
    )[0]


def finished_job(session_key: str, *, batch=None, outputs: int = 1, status=Job.Status.SUCCEEDED, data=None) -> Job:
    """A job of the visitor's, with `outputs` PNG images (`data` as their bytes when given)."""
    template = poster_template()
    job = Job.objects.create(
        template=template,
        template_title=template.title,
        session_key=session_key,
        owner_key=f"session:{session_key}",
        batch=batch,
        status=status,
        prompt=PROMPT,
        values={"1.image": {"image": SECRET_PHOTO}, "3.text": SECRET_TEXT},
    )
    for index in range(outputs if status == Job.Status.SUCCEEDED else 0):
        content = data if data is not None else png((40 * index % 255, 7 * Job.objects.count() % 255, 200))
        name = default_storage.save(f"outputs/t/{job.pk}-{index}.png", ContentFile(content))
        JobOutput.objects.create(
            job=job, node_id="2", index=index, file=name, filename=f"ComfyUI_{index:05}_.png", width=16, height=12
        )
    return job


def finished_batch(session_key: str, *, jobs: int = 3, outputs: int = 1) -> tuple[uuid.UUID, list[Job]]:
    batch = uuid.uuid4()
    return batch, [finished_job(session_key, batch=batch, outputs=outputs) for _ in range(jobs)]
