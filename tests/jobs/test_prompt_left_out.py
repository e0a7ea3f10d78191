"""A job's prompt is most of its row (the visitor's photos inlined as data URLs): only a runner reads it.

Pages, downloads, watchers and a worker storing a final state leave it out (JobQuerySet.without_prompt,
Job.refresh_state), and a finished run does not write it back. Counted on the SQL the database was sent.
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comfyweb.campaigns.models import ShareLink
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job, JobOutput
from comfyweb.jobs.runners.outcome import Outcome
from comfyweb.jobs.runners.results import _store_final
from comfyweb.jobs.selectors import job_snapshot
from comfyweb.jobs.services import create_jobs
from tests.campaigns.streamed import body_of
from tests.catalog.conftest import picture
from tests.jobs.test_consumer import communicator, new_session
from tests.jobs.test_consumer_queries import ConsumerQueries, connect_and_count
from tests.prompts import CORE_WORKFLOW

PHOTO_URL = "data:image/jpeg;base64," + "A" * 200_000  # a visitor's photo, as the default image input inlines it
PROMPT_COLUMN = '"jobs_job"."prompt"'


def titled_workflow(title: str) -> dict:
    prompt = copy.deepcopy(CORE_WORKFLOW)
    prompt["2"]["_meta"] = {"title": title}
    return prompt


def job_with_photo(session_key: str, *, status: str = Job.Status.QUEUED, **fields) -> Job:
    template, _ = WorkflowTemplate.objects.get_or_create(
        slug="titled", defaults={"title": "Titled", "prompt": titled_workflow("Invert the picture")}
    )
    job = create_jobs(template=template, values={}, session_key=session_key)[0]
    prompt = {**job.prompt, "9": {"class_type": "LoadImage", "inputs": {"image": PHOTO_URL}}}
    Job.objects.filter(pk=job.pk).update(status=status, prompt=prompt, **fields)
    return Job.objects.get(pk=job.pk)


def reads_of_the_prompt(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"][:200] for query in queries.captured_queries if PROMPT_COLUMN in query["sql"]]


@pytest.mark.django_db
def test_a_visitors_pages_and_downloads_of_a_job_never_read_its_prompt(client):
    client.get("/")
    client.session.save()
    session_key = client.session.session_key
    job = job_with_photo(session_key, status=Job.Status.SUCCEEDED)
    output = JobOutput(job=job, node_id="3", index=0, filename="core_00001_.png", content_type="image/png")
    output.file.save("out.png", ContentFile(picture("PNG")), save=False)
    output.save()
    pages = [f"/jobs/{job.pk}/", f"/jobs/{job.pk}/card/", f"/jobs/{job.pk}/images/1/download/",
             f"/api/v1/jobs/{job.pk}/", f"/api/v1/jobs/{job.pk}/outputs/{output.pk}/", f"/media/{output.file.name}",
             "/me/", "/me/queue/", "/api/v1/jobs/"]  # fmt: skip
    link = ShareLink.objects.create(token="t" * 32, job=job, expires_at=timezone.now() + timedelta(days=1))
    pages += [f"/s/{link.token}/", f"/s/{link.token}/images/{job.pk}/1/", f"/me/shares/{link.pk}/"]
    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(page)
            body = body_of(response) if response.streaming else response.content
        assert response.status_code == 200, page
        assert body
        assert reads_of_the_prompt(queries) == [], page
        assert any('"jobs_job"' in query["sql"] for query in queries.captured_queries), page  # it was read


@pytest.mark.django_db(transaction=True)
async def test_a_running_jobs_watcher_sees_the_node_by_its_title_in_one_query_without_the_prompt():
    session_key = await sync_to_async(new_session)()
    progress = {"": {"node": "2", "status": "running"}, "2": {"value": 3, "max": 10}}
    job = await sync_to_async(job_with_photo)(session_key, status=Job.Status.RUNNING, progress=progress)
    first, queries = await connect_and_count(job.pk, session_key)
    assert '"title": "Invert the picture"' in first["text"] and '"class_type": "ImageInvert"' in first["text"]
    assert queries == 1


@pytest.mark.django_db
def test_a_job_of_an_older_version_of_its_template_names_its_node_from_its_own_prompt():
    job = job_with_photo("s", status=Job.Status.RUNNING, progress={"": {"node": "2"}, "2": {"value": 1, "max": 4}})
    WorkflowTemplate.objects.filter(pk=job.template_id).update(version=job.template_version + 1, prompt={})
    loaded = Job.objects.without_prompt().select_related("template").get(pk=job.pk)
    with CaptureQueriesContext(connection) as queries:
        current = job_snapshot(loaded)["current"]
    assert current["title"] == "Invert the picture" and current["class_type"] == "ImageInvert"
    assert len(reads_of_the_prompt(queries)) == 1  # the job's own, read because the template's changed


@pytest.mark.django_db
def test_storing_a_final_state_neither_reads_nor_writes_the_prompt():
    job = job_with_photo("s", status=Job.Status.RUNNING, claimed_by="worker-1")
    progress = {"3": {"status": "done", "images": [{"filename": "core.png", "type": "output"}]}}
    outcome = Outcome(status=Job.Status.SUCCEEDED, progress=progress, images=[({"node": "3"}, picture("PNG"))])
    with CaptureQueriesContext(connection) as queries:
        _store_final(job, "worker-1", outcome, [])
        job.refresh_state()
    assert reads_of_the_prompt(queries) == []
    assert not [query for query in queries.captured_queries if '"prompt"' in query["sql"]]
    stored = Job.objects.get(pk=job.pk)
    assert stored.status == Job.Status.SUCCEEDED and stored.outputs.count() == 1 and stored.finished_at
    assert stored.prompt["9"]["inputs"]["image"] == PHOTO_URL  # untouched
    assert job.status == Job.Status.SUCCEEDED and job.prompt["9"]["inputs"]["image"] == PHOTO_URL  # kept in memory


@pytest.mark.django_db(transaction=True)
async def test_a_watchers_one_read_asks_for_no_prompt_and_no_ordering():
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(job_with_photo)(session_key)
    socket = communicator(job.pk, session_key)
    async with ConsumerQueries() as queries:
        await socket.connect()
        await socket.receive_output(timeout=5)
    await socket.disconnect()
    reads = [query["sql"] for query in queries.captured_queries if 'FROM "jobs_job"' in query["sql"]]
    assert len(reads) == 1
    assert PROMPT_COLUMN not in reads[0] and "ORDER BY" not in reads[0]  # rows by key: no sort to compile
