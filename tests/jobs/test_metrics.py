"""GET /metrics on the web: staff or METRICS_TOKEN only; job, backend and WebSocket series."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from comfyweb.jobs.metrics import REGISTRY
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.services import create_jobs

TOKEN = "scrape-me-" + "x" * 20


def samples(response) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a text exposition."""
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
def scraper(client, settings):
    settings.METRICS_TOKEN = TOKEN
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client


def jobs_with_times(template, status: str, *, wait: float, run: float | None, n: int = 1, backend=None) -> None:
    """Jobs created `wait + run` seconds ago that started after `wait` and finished after `run`."""
    now = timezone.now()
    for job in create_jobs(template=template, values={}, quantity=n, session_key="metrics"):
        created = now - timedelta(seconds=wait + (run or 0))
        Job.objects.filter(pk=job.pk).update(
            status=status,
            backend=backend,
            created_at=created,
            started_at=created + timedelta(seconds=wait),
            finished_at=created + timedelta(seconds=wait + run) if run is not None else None,
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers", [{}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Token {TOKEN}"}]
)
def test_metrics_are_refused_without_staff_or_the_token(client, settings, headers):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics", **headers).status_code == 403


@pytest.mark.django_db
def test_an_empty_token_setting_never_lets_a_bearer_in(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


@pytest.mark.django_db
def test_a_logged_in_visitor_who_is_not_staff_is_refused(client):
    client.force_login(get_user_model().objects.create_user("visitor", password="x"))
    assert client.get("/metrics").status_code == 403


@pytest.mark.django_db
def test_staff_and_the_token_may_read_the_prometheus_text(admin_client, scraper):
    for reader in (admin_client, scraper):
        response = reader.get("/metrics")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        assert "# TYPE comfyweb_jobs gauge" in response.content.decode()


@pytest.mark.django_db
def test_jobs_by_status_are_counted_from_the_database(scraper, poster):
    create_jobs(template=poster, values={}, quantity=3, session_key="a")
    jobs_with_times(poster, Job.Status.FAILED, wait=1, run=2)
    found = samples(scraper.get("/metrics"))
    assert found[("comfyweb_jobs", (("status", "queued"),))] == 3
    assert found[("comfyweb_jobs", (("status", "failed"),))] == 1
    assert found[("comfyweb_jobs", (("status", "running"),))] == 0, "every status is present, zero or not"


@pytest.mark.django_db
def test_queue_wait_and_run_time_histograms_come_from_the_job_timestamps(scraper, poster):
    jobs_with_times(poster, Job.Status.SUCCEEDED, wait=3, run=8, n=2)
    jobs_with_times(poster, Job.Status.SUCCEEDED, wait=40, run=100)
    jobs_with_times(poster, Job.Status.FAILED, wait=0.5, run=700)
    jobs_with_times(poster, Job.Status.RUNNING, wait=2, run=None)
    create_jobs(template=poster, values={}, session_key="waiting")  # not started: not in the wait histogram
    found = samples(scraper.get("/metrics"))

    def wait(le: str) -> float:
        return found[("comfyweb_job_queue_wait_seconds_bucket", (("le", le),))]

    assert (wait("1.0"), wait("5.0"), wait("30.0"), wait("60.0"), wait("+Inf")) == (1, 4, 4, 5, 5)
    assert found[("comfyweb_job_queue_wait_seconds_count", ())] == 5
    assert found[("comfyweb_job_queue_wait_seconds_sum", ())] == pytest.approx(3 + 3 + 40 + 0.5 + 2, abs=0.01)

    def run(outcome: str, le: str) -> float:
        return found[("comfyweb_job_run_seconds_bucket", (("le", le), ("outcome", outcome)))]

    assert (run("succeeded", "10.0"), run("succeeded", "60.0"), run("succeeded", "120.0")) == (2, 2, 3)
    assert run("failed", "600.0") == 0 and run("failed", "+Inf") == 1
    assert found[("comfyweb_job_run_seconds_sum", (("outcome", "succeeded"),))] == pytest.approx(116, abs=0.01)
    assert found[("comfyweb_job_run_seconds_count", (("outcome", "cancelled"),))] == 0


@pytest.mark.django_db
def test_backend_slots_busy_slots_and_health(scraper, poster):
    busy = GpuBackend.objects.create(name="gpu-1", url="http://gpu-1:8189", slots=4)
    down = GpuBackend.objects.create(name="gpu-2", url="http://gpu-2:8189", slots=2, healthy=False)
    GpuBackend.objects.create(name="retired", url="http://gpu-3:8189", enabled=False)
    jobs_with_times(poster, Job.Status.RUNNING, wait=1, run=None, n=2, backend=busy)
    jobs_with_times(poster, Job.Status.DISPATCHED, wait=1, run=None, backend=busy)
    jobs_with_times(poster, Job.Status.SUCCEEDED, wait=1, run=1, n=2, backend=busy)
    found = samples(scraper.get("/metrics"))
    assert found[("comfyweb_backend_slots", (("backend", "gpu-1"),))] == 4
    assert found[("comfyweb_backend_busy_slots", (("backend", "gpu-1"),))] == 3
    assert found[("comfyweb_backend_busy_slots", (("backend", "gpu-2"),))] == 0
    assert found[("comfyweb_backend_up", (("backend", "gpu-1"),))] == 1
    assert found[("comfyweb_backend_up", (("backend", "gpu-2"),))] == 0
    assert ("comfyweb_backend_slots", (("backend", "retired"),)) not in found
    assert down.slots == found[("comfyweb_backend_slots", (("backend", "gpu-2"),))]


@pytest.mark.django_db(transaction=True)
async def test_websocket_watchers_count_open_job_sockets(poster):
    from comfyweb.asgi import application

    def owned_job() -> tuple[str, str]:
        session = SessionStore()
        session.create()
        job = create_jobs(template=poster, values={}, session_key=session.session_key)[0]
        return str(job.pk), session.session_key

    job_id, session_key = await sync_to_async(owned_job)()
    before = REGISTRY.get_sample_value("comfyweb_websocket_watchers")
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"),
               (b"cookie", f"sessionid={session_key}".encode())]  # fmt: skip
    socket = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/", headers=headers)
    connected, _ = await socket.connect(timeout=5)
    assert connected
    await socket.receive_json_from(timeout=5)
    assert REGISTRY.get_sample_value("comfyweb_websocket_watchers") == before + 1
    refused = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/", headers=headers[:2])
    await refused.connect(timeout=5)
    await refused.receive_output(timeout=5)
    assert REGISTRY.get_sample_value("comfyweb_websocket_watchers") == before + 1, "a refused socket is no watcher"
    await socket.disconnect()
    assert REGISTRY.get_sample_value("comfyweb_websocket_watchers") == before
