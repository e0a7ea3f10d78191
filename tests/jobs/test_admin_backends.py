"""The GPU backends admin: health, slots in use, and "check now" over real HTTP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.services import create_jobs
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/jobs/gpubackend/"


def check_now(staff, backends: list[GpuBackend]):
    data = {"action": "check_now", "_selected_action": [str(b.pk) for b in backends]}
    return staff.post(CHANGELIST, data, follow=True).content.decode()


def test_the_list_shows_health_and_slots_in_use(staff, poster):
    backend = GpuBackend.objects.create(name="gpu-1", url="http://gpu-1:8189", slots=3, healthy=False,
                                        last_error="ConnectError: refused")  # fmt: skip
    for job in create_jobs(template=poster, values={}, quantity=2, session_key="s"):
        Job.objects.filter(pk=job.pk).update(backend=backend, status=Job.Status.RUNNING)
    html = staff.get(CHANGELIST).content.decode()
    assert "gpu-1" in html and "ConnectError: refused" in html
    assert '<td class="field-busy_slots">2</td>' in html
    assert '<td class="field-slots">3</td>' in html
    assert 'alt="False"' in html, "the health column shows the unhealthy icon"


def test_from_env_is_read_only(staff):
    backend = GpuBackend.objects.create(name="env", url="http://gpu:8189", from_env=True)
    html = staff.get(reverse("admin:jobs_gpubackend_change", args=[backend.pk])).content.decode()
    assert "From GPU_BACKENDS" in html
    assert 'name="from_env"' not in html and 'name="healthy"' not in html


def test_check_now_marks_a_comfyui_that_answers_healthy(staff, emulator_thread):
    backend = GpuBackend.objects.create(
        name="Emulator", url=emulator_thread.url, kind=GpuBackend.Kind.COMFYUI, healthy=False, last_error="old"
    )
    html = check_now(staff, [backend])
    backend.refresh_from_db()
    assert backend.healthy and backend.last_error == "" and backend.last_checked_at is not None
    assert backend.unhealthy_until is None
    assert "Emulator is healthy." in html


def test_check_now_marks_an_unreachable_backend_unhealthy_with_the_reason(staff):
    backend = GpuBackend.objects.create(name="Gone", url=f"http://127.0.0.1:{free_port()}", kind="agent")
    html = check_now(staff, [backend])
    backend.refresh_from_db()
    assert not backend.healthy and backend.unhealthy_until is not None
    assert "ConnectError" in backend.last_error
    assert "Gone is unhealthy: ConnectError" in html


def test_check_now_asks_an_agent_if_it_is_ready_with_its_token(staff, loopback):
    loopback.routes["/api/ready"] = (503, {"Content-Type": "application/json"}, b'{"ready": false}')
    backend = GpuBackend.objects.create(name="agent", url=loopback.url, kind="agent", token="s3cret")
    check_now(staff, [backend])
    backend.refresh_from_db()
    assert not backend.healthy and "answered HTTP 503" in backend.last_error
    path, headers = loopback.requests[-1]
    assert path == "/api/ready" and headers["Authorization"] == "Bearer s3cret"
    loopback.routes["/api/ready"] = (200, {"Content-Type": "application/json"}, b'{"ready": true}')
    check_now(staff, [backend])
    backend.refresh_from_db()
    assert backend.healthy and backend.last_error == ""
