"""Limits that hold: concurrent submissions, visitors who drop their cookies, the form's rate limit."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest
from django.db import connection
from django.test import Client

from comfyweb.campaigns.models import Campaign, CampaignTemplate
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.limits import visitor_identity
from comfyweb.jobs.models import Job
from comfyweb.jobs.services import create_jobs
from tests.processes import manage
from tests.prompts import CORE_WORKFLOW

SUBMIT_CONCURRENTLY = """
import json, threading
from django.core.exceptions import ValidationError
from django.db import connection
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.services import create_jobs
template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=json.loads({prompt!r}))
start, outcomes = threading.Barrier({n}), []
def submit():
    start.wait()
    try:
        create_jobs(template=template, values={{}}, session_key="one-visitor", client_ip="203.0.113.7")
        outcomes.append("created")
    except ValidationError as exc:
        outcomes.append(exc.error_list[0].code)
    finally:
        connection.close()
threads = [threading.Thread(target=submit) for _ in range({n})]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps(outcomes))
"""


def test_anonymous_visitors_are_counted_by_address_unless_told_otherwise(settings):
    assert visitor_identity(session_key="s1", client_ip="203.0.113.7") == "ip:203.0.113.7"
    assert visitor_identity(session_key="s2", client_ip="203.0.113.7") == "ip:203.0.113.7"
    settings.JOB_ANONYMOUS_IDENTITY = "session"  # a site whose visitors share one address
    assert visitor_identity(session_key="s1", client_ip="203.0.113.7") == "session:s1"


@pytest.mark.postgres
def test_20_concurrent_submissions_against_a_cap_of_16_create_exactly_16_on_postgresql(postgres_database):
    env = {"DATABASE_URL": postgres_database, "JOB_MAX_QUEUED_PER_VISITOR": "16"}
    assert manage("migrate", "--noinput", env=env, stdout=subprocess.DEVNULL).wait(120) == 0
    script = SUBMIT_CONCURRENTLY.format(prompt=json.dumps(CORE_WORKFLOW), n=20)
    done = manage("shell", "-c", script, env=env, stdout=subprocess.PIPE, text=True)
    output, _ = done.communicate(timeout=120)
    outcomes = json.loads(output.strip().splitlines()[-1])
    assert outcomes.count("created") == 16
    assert outcomes.count("queue_full") == 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_never_pass_the_cap_on_sqlite(settings):
    settings.JOB_MAX_QUEUED_PER_VISITOR = 5
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=CORE_WORKFLOW)
    start, outcomes = threading.Barrier(8), []

    def submit() -> None:
        start.wait()
        try:
            create_jobs(template=template, values={}, session_key="one-visitor", client_ip="203.0.113.7")
            outcomes.append("created")
        except Exception as exc:
            outcomes.append(getattr(exc, "error_list", [exc])[0].code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] * 5 + ["queue_full"] * 3
    assert Job.objects.count() == 5


@pytest.fixture
def quota_campaign(db) -> Campaign:
    template = WorkflowTemplate.objects.create(title="Core", slug="core", prompt=CORE_WORKFLOW, enabled=True)
    campaign = Campaign.objects.create(slug="fair", title="Fair", daily_quota=3)
    CampaignTemplate.objects.create(campaign=campaign, template=template, position=1)
    return campaign


def submit_as_new_visitor(language: str) -> tuple[int, str]:
    """A client with no cookies at all (a fresh session each time), from one address."""
    response = Client(REMOTE_ADDR="203.0.113.7").post(
        "/c/fair/t/core/", {"quantity": "1"}, HTTP_ACCEPT_LANGUAGE=language
    )
    return response.status_code, response.content.decode()


@pytest.mark.parametrize(
    ("language", "refusal"),
    [("en", "You have used today&#x27;s 3 images for this campaign"), ("zh-hans", "今天您在本活动的 3 张额度已用完")],
)
def test_dropping_cookies_does_not_reset_the_daily_quota(quota_campaign, language, refusal):
    for _ in range(3):
        status, _html = submit_as_new_visitor(language)
        assert status == 302
    status, html = submit_as_new_visitor(language)
    assert status == 400 and refusal in html
    assert Job.objects.filter(campaign="fair").count() == 3


def test_the_form_is_rate_limited_like_the_api(quota_campaign, settings):
    settings.JOB_CREATE_IP_RATE = "2/min"
    quota_campaign.daily_quota = 0
    quota_campaign.save()
    statuses = [submit_as_new_visitor("en") for _ in range(3)]
    assert [status for status, _ in statuses] == [302, 302, 429]
    assert "Too many new jobs in a short time" in statuses[-1][1]
    assert Job.objects.count() == 2
