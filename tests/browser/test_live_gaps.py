"""The job page asks for the stored state when the numbers of its live updates skip one.

Real chromium on a job page of the live server; the WebSocket's server side is played by the test
(Playwright's `route_web_socket`): it sends numbered updates with a gap, a snapshot, another publisher's
updates and the final state, and records what the page sends back.
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import expect

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.selectors import job_snapshot
from comfyweb.jobs.services import create_jobs
from tests.prompts import CORE_WORKFLOW

pytestmark = [pytest.mark.browser]


@pytest.fixture
def visitor_job(transactional_db):
    session = SessionStore()
    session["visitor"] = True
    session.create()
    template = WorkflowTemplate.objects.create(slug="core", title="Core", prompt=CORE_WORKFLOW)
    job = create_jobs(template=template, values={}, session_key=session.session_key)[0]
    return job, session.session_key


def play(django_page, live_server, visitor_job, frames: list[tuple[str, float, dict]]) -> list[str]:
    """Open the job's page with the test as the WebSocket's server sending `frames` (status, percent, its
    number); what the page sends back is collected in the list returned."""
    job, session_key = visitor_job
    django_page.context.add_cookies([{"name": "sessionid", "value": session_key, "url": live_server.url}])
    base = job_snapshot(job)
    asked: list[str] = []

    def server(socket) -> None:
        socket.on_message(lambda message: asked.append(message))
        for status, percent, number in frames:
            socket.send(json.dumps({"type": "job", "job": {**base, "status": status, "percent": percent}, **number}))

    django_page.route_web_socket(re.compile(r"/ws/jobs/"), server)
    # A finished card is drawn again from the database, where this job never left the queue: not here.
    django_page.route(re.compile(r"/jobs/[^/]+/card/"), lambda route: route.abort())
    django_page.goto(f"/jobs/{job.pk}/")
    return asked


def test_a_skipped_number_makes_the_page_ask_for_a_snapshot_once(django_page, live_server, visitor_job):
    asked = play(
        django_page,
        live_server,
        visitor_job,
        [
            ("running", 10, {"stream": "w1", "seq": 1}),
            ("running", 20, {"stream": "w1", "seq": 2}),
            ("running", 40, {"stream": "w1", "seq": 4}),  # 3 was lost on the way
        ],
    )
    card = django_page.locator("[data-job-id]")
    expect(card).to_have_attribute("data-status", "running")
    expect(card.locator(".bar")).to_have_attribute("aria-valuenow", "40")
    for _ in range(50):
        if asked:
            break
        django_page.wait_for_timeout(100)
    assert [json.loads(message) for message in asked] == [{"type": "snapshot"}]
    assert django_page.evaluate("document.querySelector('[data-job-id]').dataset.status") == "running"


def test_snapshots_and_another_publisher_start_the_count_again(django_page, live_server, visitor_job):
    asked = play(
        django_page,
        live_server,
        visitor_job,
        [
            ("running", 10, {"stream": "w1", "seq": 5}),
            ("running", 30, {}),  # a stored snapshot: no number
            ("running", 50, {"stream": "w1", "seq": 9}),
            ("running", 60, {"stream": "w2", "seq": 1}),  # the job moved to another worker
            ("running", 70, {"stream": "w2", "seq": 2}),
            ("succeeded", 100, {"stream": "w2", "seq": 3}),
        ],
    )
    expect(django_page.locator("[data-job-id]")).to_have_attribute("data-status", "succeeded")
    django_page.wait_for_timeout(300)
    assert asked == [], "no gap: nothing asked"


def test_a_card_that_a_newer_reading_of_the_line_leaves_out_gives_up_its_place(django_page, live_server, visitor_job):
    """Four images in line; a GPU takes the first two, and the sockets of the last two bring the new reading of
    the line (places 1 and 2) before the first two sockets bring their own news: no two cards say one place."""
    job, session_key = visitor_job
    batch = create_jobs(template=job.template, values={}, quantity=4, session_key=session_key)
    ids = [str(queued.pk) for queued in batch]
    snapshots = {str(queued.pk): job_snapshot(queued) for queued in batch}
    moved = {ids[2]: {"place": 1, "wait": 6}, ids[3]: {"place": 2, "wait": 9}}
    newer = max(snapshot["places_at"] for snapshot in snapshots.values()) + 5

    def server(socket) -> None:
        job_id = re.search(r"/ws/jobs/([^/]+)/", socket.url).group(1)
        snapshot = snapshots[job_id]
        socket.send(json.dumps({"type": "job", "job": snapshot}))
        if job_id in moved:
            entry = moved[job_id]
            update = {"queue_position": entry["place"], "estimate_seconds": entry["wait"], "places": moved}
            socket.send(json.dumps({"type": "job", "job": {**snapshot, **update, "places_at": newer}}))

    django_page.context.add_cookies([{"name": "sessionid", "value": session_key, "url": live_server.url}])
    django_page.route_web_socket(re.compile(r"/ws/jobs/"), server)
    django_page.goto(f"/batches/{batch[0].batch}/")
    line = {job_id: django_page.locator(f'[data-job-id="{job_id}"] [data-status-text]') for job_id in ids}
    place = re.compile(r"(number|第) (\d+)")  # the page speaks English or Chinese
    expect(line[ids[2]]).to_have_text(re.compile(r"(number|第) 1\b"))
    expect(line[ids[3]]).to_have_text(re.compile(r"(number|第) 2\b"))
    for taken in ids[:2]:
        expect(line[taken]).not_to_have_text(place)
