"""Dispatch decisions: fair between visitors, least-loaded backends, no idle slot while work waits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.backends import parse_gpu_backends, sync_env_backends
from comfyweb.jobs.dispatcher import Candidate, assign_slots, claim, requeue_stale_jobs, start_claimed
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.services import create_jobs
from tests.prompts import CORE_WORKFLOW


@given(
    st.integers(min_value=0, max_value=40),
    st.dictionaries(st.integers(1, 6), st.tuples(st.integers(0, 4), st.integers(1, 4)), min_size=1, max_size=6),
)
def test_no_slot_stays_idle_while_work_waits(queued, slots):
    total = {backend: size for backend, (_busy, size) in slots.items()}
    free = {backend: max(0, size - busy) for backend, (busy, size) in slots.items()}
    pairs = assign_slots([Candidate(i) for i in range(queued)], free, total)
    assert len(pairs) == min(queued, sum(free.values()))
    for backend in free:
        assert sum(1 for _, chosen in pairs if chosen == backend) <= free[backend]


def test_least_loaded_backend_first():
    pairs = assign_slots([Candidate(1), Candidate(2)], free={10: 1, 20: 4}, total={10: 4, 20: 4})
    assert [backend for _, backend in pairs] == [20, 20]


def test_a_job_recovered_from_a_dead_worker_goes_back_to_its_backend_even_when_full():
    pairs = assign_slots([Candidate(1, preferred_backend=10), Candidate(2)], {10: 0, 20: 1}, {10: 1, 20: 1})
    assert pairs == [(1, 10), (2, 20)]
    # ...unless that backend is no longer active (disabled or unhealthy): then anywhere.
    assert assign_slots([Candidate(1, preferred_backend=99)], {20: 1}, {20: 1}) == [(1, 20)]


def test_gpu_backends_setting_is_parsed_with_kinds_and_slots():
    specs = parse_gpu_backends("agent+http://gpu-1:8189#2, comfyui+http://gpu-2:8188 http://gpu-3:8189/")
    assert [(s.kind, s.url, s.slots) for s in specs] == [
        ("agent", "http://gpu-1:8189", 2), ("comfyui", "http://gpu-2:8188", 1), ("agent", "http://gpu-3:8189", 1)
    ]  # fmt: skip
    for bad in ("ftp://x", "http://x#0", "mystery+http://x"):
        with pytest.raises(ValueError, match="GPU_BACKENDS"):
            parse_gpu_backends(bad)


@pytest.mark.django_db
def test_env_backends_are_mirrored_and_removed_ones_disabled(settings):
    settings.GPU_BACKENDS = "comfyui+http://a:8188#2,agent+http://b:8189"
    sync_env_backends()
    settings.GPU_BACKENDS = "agent+http://b:8189#3"
    sync_env_backends()
    rows = {b.url: (b.kind, b.slots, b.enabled) for b in GpuBackend.objects.all()}
    assert rows == {"http://a:8188": ("comfyui", 2, False), "http://b:8189": ("agent", 3, True)}


def make_jobs(count: int, session_key: str) -> list[Job]:
    """`count` jobs queued by one visitor through the real service (which gives them their fair places)."""
    defaults = {"title": "Core", "prompt": CORE_WORKFLOW}
    template = WorkflowTemplate.objects.get_or_create(slug="core", defaults=defaults)[0]
    jobs: list[Job] = []
    while len(jobs) < count:
        quantity = min(8, count - len(jobs))
        jobs += create_jobs(template=template, values={}, quantity=quantity, session_key=session_key)
    return jobs


@pytest.mark.django_db
def test_claims_fill_every_free_slot_fairly_and_only_once():
    one = GpuBackend.objects.create(name="one", url="http://one", kind="comfyui", slots=2)
    two = GpuBackend.objects.create(name="two", url="http://two", kind="comfyui", slots=1)
    alice = make_jobs(10, "alice")
    [bob] = make_jobs(1, "bob")
    first = claim(worker="w1")
    claimed = first.jobs
    assert len(claimed) == 3
    assert first.free_slots == 0, "the claim says every slot is busy now"
    assert bob.pk in {job.pk for job in claimed}, "bob's single job is not stuck behind alice's ten"
    assert {job.backend_id for job in claimed} == {one.pk, two.pk}
    assert all(job.status == Job.Status.DISPATCHED and job.attempts == 1 for job in claimed)
    assert claim(worker="w2").jobs == [], "no slot is free: nothing more is claimed"
    assert Job.objects.filter(status=Job.Status.QUEUED).count() == len(alice) - 2


@pytest.mark.django_db
def test_a_burst_of_claims_and_starts_costs_a_few_queries_not_some_per_job(django_assert_max_num_queries):
    for index in range(3):
        GpuBackend.objects.create(name=f"b{index}", url=f"http://b{index}", kind="comfyui", slots=40)
    for visitor in range(9):
        make_jobs(10, f"visitor-{visitor}")
    with django_assert_max_num_queries(12):  # the backends, their load, the queue, 1 UPDATE per backend, 1 read
        claimed = claim(worker="w").jobs
    with django_assert_max_num_queries(1):
        started = start_claimed(claimed, "w")
    assert len(claimed) == len(started) == 90
    assert Job.objects.filter(status=Job.Status.RUNNING, claimed_by="w", started_at__isnull=False).count() == 90
    assert all(job.status == Job.Status.RUNNING and job.started_at for job in started), "changed in place too"
    assert {job.backend_id for job in claimed} == set(GpuBackend.objects.values_list("pk", flat=True))


@pytest.mark.django_db
def test_only_the_jobs_a_worker_still_holds_are_started():
    GpuBackend.objects.create(name="one", url="http://one", kind="comfyui", slots=4)
    make_jobs(3, "s")
    claimed = claim(worker="w1").jobs
    taken = claimed[0]
    Job.objects.filter(pk=taken.pk).update(claimed_by="w2")  # another worker took it over meanwhile
    started = start_claimed(claimed, "w1")
    assert {job.pk for job in started} == {job.pk for job in claimed[1:]}
    assert Job.objects.get(pk=taken.pk).status == Job.Status.DISPATCHED, "not ours: left alone"
    assert start_claimed([], "w1") == []


@pytest.mark.django_db
def test_unhealthy_and_disabled_backends_get_nothing():
    GpuBackend.objects.create(name="off", url="http://off", kind="comfyui", slots=4, enabled=False)
    GpuBackend.objects.create(
        name="sick", url="http://sick", kind="comfyui", slots=4, unhealthy_until=timezone.now() + timedelta(minutes=1)
    )
    make_jobs(2, "s")
    assert claim(worker="w").jobs == []


@pytest.mark.django_db
def test_jobs_of_a_silent_worker_go_back_to_the_queue_keeping_their_backend(settings):
    settings.JOB_HEARTBEAT_STALE = 30
    backend = GpuBackend.objects.create(name="one", url="http://one", kind="comfyui", slots=2)
    stale, fresh = make_jobs(2, "s")
    long_ago = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=stale.pk).update(status="running", backend=backend, claimed_by="dead", heartbeat_at=long_ago)
    Job.objects.filter(pk=fresh.pk).update(status="running", backend=backend, claimed_by="alive",
                                           heartbeat_at=timezone.now())  # fmt: skip
    assert [job.pk for job in requeue_stale_jobs()] == [stale.pk]
    stale.refresh_from_db()
    assert stale.status == Job.Status.QUEUED and stale.backend_id == backend.pk and stale.claimed_by == ""
    [claimed] = claim(worker="new").jobs
    assert claimed.pk == stale.pk and claimed.backend_id == backend.pk and claimed.attempts == 1


@pytest.mark.django_db
def test_a_job_whose_worker_keeps_dying_fails_instead_of_looping(settings):
    settings.JOB_MAX_ATTEMPTS = 2
    settings.LANGUAGE_CODE = "en"  # job errors are written in the site's language
    [job] = make_jobs(1, "s")
    long_ago = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=job.pk).update(status="running", claimed_by="dead", heartbeat_at=long_ago, attempts=2)
    assert [failed.status for failed in requeue_stale_jobs()] == [Job.Status.FAILED]
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "interrupted 2 times" in job.error


@pytest.mark.django_db
def test_a_requeued_job_reattaches_to_its_backend_even_when_every_slot_is_busy():
    backend = GpuBackend.objects.create(name="one", url="http://one", kind="comfyui", slots=1)
    busy, recovered, waiting = make_jobs(3, "s")
    Job.objects.filter(pk=busy.pk).update(
        status="running", backend=backend, claimed_by="w", heartbeat_at=timezone.now()
    )
    Job.objects.filter(pk=recovered.pk).update(backend=backend)  # re-queued after its worker died
    claimed = claim(worker="w2").jobs
    assert [job.pk for job in claimed] == [recovered.pk]
    assert Job.objects.get(pk=waiting.pk).status == Job.Status.QUEUED
