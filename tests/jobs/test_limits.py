"""Limits that hold: concurrent submissions, people behind one address, visitors who drop their cookies,
the form's rate limit."""

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
def submit(n):
    start.wait()
    try:
        create_jobs(template=template, values={{}}, session_key={session}, client_ip="203.0.113.7")
        outcomes.append("created")
    except ValidationError as exc:
        outcomes.append(exc.error_list[0].code)
    finally:
        connection.close()
threads = [threading.Thread(target=submit, args=(n,)) for n in range({n})]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps(outcomes))
"""


def test_a_visitor_is_their_account_else_their_session_never_their_address(django_user_model, db):
    assert visitor_identity(session_key="s1", client_ip="203.0.113.7") == "session:s1"
    assert visitor_identity(session_key="s2", client_ip="203.0.113.7") == "session:s2"
    ann = django_user_model.objects.create_user("ann")
    assert visitor_identity(owner=ann, session_key="s1", client_ip="203.0.113.7") == f"user:{ann.pk}"
    assert visitor_identity(client_ip="203.0.113.7") == "ip:203.0.113.7", "no session at all: the address"


def submit_concurrently_on_postgresql(database: str, session: str, env: dict[str, str]) -> list[str]:
    """20 submissions at once from one address, each in its own thread and connection; their outcomes."""
    env = {"DATABASE_URL": database, **env}
    assert manage("migrate", "--noinput", env=env, stdout=subprocess.DEVNULL).wait(120) == 0
    script = SUBMIT_CONCURRENTLY.format(prompt=json.dumps(CORE_WORKFLOW), n=20, session=session)
    done = manage("shell", "-c", script, env=env, stdout=subprocess.PIPE, text=True)
    output, _ = done.communicate(timeout=120)
    return json.loads(output.strip().splitlines()[-1])


@pytest.mark.postgres
def test_20_concurrent_submissions_against_a_cap_of_16_create_exactly_16_on_postgresql(postgres_database):
    outcomes = submit_concurrently_on_postgresql(
        postgres_database, '"one-visitor"', {"JOB_MAX_QUEUED_PER_VISITOR": "16"}
    )
    assert outcomes.count("created") == 16
    assert outcomes.count("queue_full") == 4


@pytest.mark.postgres
def test_20_concurrent_sessions_against_an_address_cap_of_16_create_exactly_16_on_postgresql(postgres_database):
    outcomes = submit_concurrently_on_postgresql(
        postgres_database, 'f"visitor-{n}"', {"JOB_MAX_QUEUED_PER_VISITOR": "4", "JOB_MAX_QUEUED_PER_ADDRESS": "16"}
    )
    assert outcomes.count("created") == 16
    assert outcomes.count("address_full") == 4


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


def submit_as_new_visitor(language: str, path: str = "/c/fair/t/core/", quantity: int = 1) -> tuple[int, str]:
    """A client with no cookies at all (a fresh session each time), from one address."""
    response = Client(REMOTE_ADDR="203.0.113.7").post(path, {"quantity": str(quantity)}, HTTP_ACCEPT_LANGUAGE=language)
    return response.status_code, response.content.decode()


def test_people_behind_one_address_each_have_their_own_daily_quota(quota_campaign):
    for _ in range(2):
        status, _html = submit_as_new_visitor("en", quantity=3)
        assert status == 302, "a second person at the same address is not refused for the first one's images"
    assert Job.objects.filter(campaign="fair").values("owner_key").distinct().count() == 2


@pytest.mark.parametrize(
    ("language", "refusal"),
    [("en", "Today&#x27;s images for this campaign from your network are used up"), ("zh-hans", "来自您所在网络")],
)
def test_dropping_cookies_does_not_get_past_the_addresss_daily_quota(quota_campaign, settings, language, refusal):
    settings.JOB_ADDRESS_QUOTA_FACTOR = 2  # the address may use two visitors' quotas: 6 images
    for _ in range(2):
        status, _html = submit_as_new_visitor(language, quantity=3)
        assert status == 302
    status, html = submit_as_new_visitor(language)
    assert status == 400 and refusal in html
    assert Job.objects.filter(campaign="fair").count() == 6


def test_30_fresh_sessions_at_one_address_hit_the_addresss_queue_cap(quota_campaign, settings):
    quota_campaign.daily_quota = 0
    quota_campaign.save()
    assert settings.JOB_MAX_QUEUED_PER_ADDRESS == 10 * settings.JOB_MAX_QUEUED_PER_VISITOR == 160
    outcomes = [submit_as_new_visitor("en", quantity=8) for _ in range(30)]
    created = [status for status, _html in outcomes if status == 302]
    assert len(created) == 20, "160 waiting images from one address, then no more"
    assert all("Many images from your network are already waiting" in html for _s, html in outcomes[20:])
    assert Job.objects.count() == 160
    assert Job.objects.values("owner_key").distinct().count() == 20, "each session was its own visitor"


def test_the_form_is_rate_limited_like_the_api(quota_campaign, settings):
    settings.JOB_CREATE_IP_RATE = "2/min"
    quota_campaign.daily_quota = 0
    quota_campaign.save()
    statuses = [submit_as_new_visitor("en") for _ in range(3)]
    assert [status for status, _ in statuses] == [302, 302, 429]
    assert "Too many new jobs in a short time" in statuses[-1][1]
    assert Job.objects.count() == 2


def test_a_retired_identity_setting_is_named_by_a_system_check(monkeypatch):
    from comfyweb.core.checks import check_retired_settings

    monkeypatch.setenv("JOB_ANONYMOUS_IDENTITY", "address")
    [warning] = check_retired_settings(None)
    assert warning.id == "comfyweb.W006" and "no longer read" in warning.msg
    monkeypatch.delenv("JOB_ANONYMOUS_IDENTITY")
    assert check_retired_settings(None) == []
