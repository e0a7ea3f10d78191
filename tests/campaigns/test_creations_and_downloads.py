"""My creations (grouped, paged, deletable, made again), named downloads and batches that stay batches."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from comfyweb.campaigns.creations import PAGE_SIZE
from comfyweb.campaigns.models import Campaign, CampaignTemplate
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job, JobOutput
from tests.campaigns.streamed import body_of

PROMPT = {"1": {"class_type": "LoadImage", "inputs": {"image": ""}}, "2": {"class_type": "SaveImage", "inputs": {}}}
PARAMS = [
    {"type": "image", "id": "1", "key": "image", "title": "照片"},
]


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def template(db) -> WorkflowTemplate:
    return WorkflowTemplate.objects.create(
        title="海报相框",
        slug="poster-frame",
        prompt=PROMPT,
        params=PARAMS,
        translations={"en": {"title": "Poster frame"}},
    )


def make_job(visitor: str, template, *, batch=None, status=Job.Status.SUCCEEDED, photo: str = "", outputs: int = 1):
    values = {"1.image": {"image": photo}} if photo else {}
    job = Job.objects.create(
        template=template,
        template_title=template.title,
        session_key=visitor,
        batch=batch,
        status=status,
        values=values,
        prompt=PROMPT,
    )
    for index in range(outputs if status == Job.Status.SUCCEEDED else 0):
        name = default_storage.save(f"outputs/t/{job.pk}-{index}.png", ContentFile(png()))
        thumb = default_storage.save(f"thumbnails/t/{job.pk}-{index}.webp", ContentFile(b"thumb"))
        JobOutput.objects.create(
            job=job, node_id="2", index=index, file=name, thumbnail=thumb, filename=f"ComfyUI_{index:05}_.png"
        )
    return job


def test_creations_are_grouped_by_batch_with_date_template_campaign_and_links(client, visitor, template):
    campaign = Campaign.objects.create(slug="fair", title="庙会", translations={"en": {"title": "Fair"}})
    CampaignTemplate.objects.create(campaign=campaign, template=template)
    batch = uuid.uuid4()
    jobs = [make_job(visitor, template, batch=batch) for _ in range(3)]
    Job.objects.filter(batch=batch).update(campaign="fair")
    single = make_job(visitor, template, status=Job.Status.FAILED)
    html = client.get("/me/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert html.count('class="creation"') == 2
    assert f'href="/batches/{batch}/"' in html and f'href="/jobs/{single.pk}/"' in html
    assert "Poster frame" in html and "3 done" in html and "1 failed" in html
    assert html.count("data-lightbox-item") == 3
    assert f"/jobs/{jobs[0].pk}/images/1/download/" in html
    assert f'href="/t/poster-frame/?again={single.pk}"' in html
    assert "Fair" in html and f'href="/c/fair/t/poster-frame/?again={jobs[0].pk}"' in html


def test_creations_are_paged(client, visitor, template):
    for _ in range(PAGE_SIZE + 2):
        make_job(visitor, template, outputs=0, status=Job.Status.CANCELLED)
    first = client.get("/me/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert first.count('class="creation"') == PAGE_SIZE and "Page 1 of 2" in first and "?page=2" in first
    second = client.get("/me/?page=2", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert second.count('class="creation"') == 2 and "?page=1" in second
    assert client.get("/me/?page=99").status_code == 200


def test_delete_removes_the_jobs_their_images_and_the_photos_no_one_else_uses(client, visitor, template):
    shared = default_storage.save("inputs/ab/shared.jpg", ContentFile(b"x"))
    own = default_storage.save("inputs/cd/own.jpg", ContentFile(b"y"))
    batch = uuid.uuid4()
    doomed = [make_job(visitor, template, batch=batch, photo=own) for _ in range(2)]
    make_job(visitor, template, batch=batch, photo=shared)
    keeper = make_job(visitor, template, photo=shared)
    files = [n for o in JobOutput.objects.filter(job__batch=batch) for n in (o.file.name, o.thumbnail.name)]
    response = client.post("/me/delete/", {"key": str(batch)}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert not Job.objects.filter(pk__in=[j.pk for j in doomed]).exists()
    assert list(Job.objects.all()) == [keeper]
    assert not any(default_storage.exists(name) for name in files)
    assert not default_storage.exists(own) and default_storage.exists(shared), "a photo still in use stays"


def test_delete_is_refused_while_images_are_being_made_and_for_other_visitors(client, visitor, template):
    running = make_job(visitor, template, status=Job.Status.RUNNING)
    response = client.post("/me/delete/", {"key": str(running.pk)}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert Job.objects.filter(pk=running.pk).exists() and "still being made" in response.content.decode()
    theirs = make_job("someone-else", template)
    assert client.post("/me/delete/", {"key": str(theirs.pk)}).status_code == 404
    assert client.post("/me/delete/", {"key": "nope"}).status_code == 404
    assert Job.objects.filter(pk=theirs.pk).exists()


def test_make_again_fills_the_form_with_the_same_choices(client, visitor, template):
    photo = default_storage.save("inputs/ef/me.png", ContentFile(png()))
    batch = uuid.uuid4()
    job = make_job(visitor, template, batch=batch, photo=photo)
    make_job(visitor, template, batch=batch, photo=photo)
    html = client.get(f"/t/poster-frame/?again={job.pk}", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert re.search(r'name="1.image__held" value="[^"]+" checked', html)
    assert f'src="/media/{photo}"' in html
    assert 'name="quantity" value="2" checked' in html
    other = make_job("someone-else", template, photo=photo)
    assert "__held" not in client.get(f"/t/poster-frame/?again={other.pk}").content.decode()


def test_make_again_asks_for_as_many_images_as_the_batch_asked_not_its_new_tries(client, visitor, template):
    batch = uuid.uuid4()
    jobs = [make_job(visitor, template, batch=batch) for _ in range(4)]
    Job.objects.filter(pk=jobs[1].pk).update(status=Job.Status.CANCELLED)
    assert client.post(f"/jobs/{jobs[1].pk}/retry/").status_code == 302
    assert Job.objects.filter(batch=batch).count() == 5
    html = client.get(f"/t/poster-frame/?again={jobs[0].pk}", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="quantity" value="4" checked' in html


def test_downloads_are_named_after_the_template_the_day_and_the_image(client, visitor, template):
    first = make_job(visitor, template, outputs=2)
    second = make_job(visitor, template)
    day = timezone.localtime(first.created_at).date().isoformat()
    answers = [
        client.get(f"/jobs/{first.pk}/images/1/download/"),
        client.get(f"/jobs/{first.pk}/images/2/download/"),
        client.get(f"/jobs/{second.pk}/images/1/download/"),
    ]
    names = [re.search(r'filename="([^"]+)"', a["Content-Disposition"]).group(1) for a in answers]
    assert names == [f"poster-frame-{day}-1.png", f"poster-frame-{day}-2.png", f"poster-frame-{day}-3.png"]
    assert all(a["Content-Disposition"].startswith("attachment") for a in answers)
    assert body_of(answers[0])[:4] == b"\x89PNG"
    assert client.get(f"/jobs/{first.pk}/images/3/download/").status_code == 404
    theirs = make_job("someone-else", template)
    assert client.get(f"/jobs/{theirs.pk}/images/1/download/").status_code == 404


def test_retrying_a_job_of_a_batch_keeps_the_visitor_on_the_batch(client, visitor, template):
    batch = uuid.uuid4()
    jobs = [make_job(visitor, template, batch=batch, status=Job.Status.QUEUED) for _ in range(2)]
    back = f"/batches/{batch}/"
    response = client.post(f"/jobs/{jobs[0].pk}/cancel/", {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    response = client.post(f"/jobs/{jobs[0].pk}/retry/", {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert Job.objects.filter(batch=batch).count() == 3, "the new try joins the batch"
    html = client.get(back, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert html.count("data-job-id=") == 3 and "Cancelled." in html
    assert f'<input type="hidden" name="next" value="{back}">' in html
