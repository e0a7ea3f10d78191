"""The fair queue on the real dispatcher: places fixed when queued, bursts never starve others."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.dispatcher import claim, requeue_stale_jobs
from comfyweb.jobs.fair_queue import QUEUE_ORDER, next_tag
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.selectors import queued_place
from comfyweb.jobs.services import create_jobs
from tests.prompts import CORE_WORKFLOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def template() -> WorkflowTemplate:
    return WorkflowTemplate.objects.create(title="Core", slug="core", prompt=CORE_WORKFLOW)


@pytest.fixture
def backends() -> list[GpuBackend]:
    """Two GPUs, three slots in all."""
    return [
        GpuBackend.objects.create(name="gpu-1", url="http://gpu-1", kind="comfyui", slots=2),
        GpuBackend.objects.create(name="gpu-2", url="http://gpu-2", kind="comfyui", slots=1),
    ]


def queue(template, visitor: str, count: int) -> list[Job]:
    return create_jobs(template=template, values={}, quantity=count, session_key=visitor)


def finish_one(jobs_running: list[Job]) -> None:
    """The oldest running job ends: its slot frees."""
    done = jobs_running.pop(0)
    Job.objects.filter(pk=done.pk).update(status=Job.Status.SUCCEEDED, finished_at=timezone.now())


def dispatch_all(running: list[Job]) -> list[Job]:
    """Free one slot at a time and claim, as workers do, until nothing is queued; the dispatch order."""
    order: list[Job] = []
    while Job.objects.filter(status=Job.Status.QUEUED).exists():
        claimed = claim(worker="w").jobs
        order += claimed
        running += claimed
        finish_one(running)
    return order


def owners(jobs: list[Job]) -> list[str]:
    return [job.session_key for job in jobs]


def places(jobs: list[Job]) -> list[int | None]:
    QUEUE_ORDER.forget()
    return [queued_place(job.pk)[0] for job in jobs]


def test_a_tag_is_after_the_queue_head_and_after_the_owners_last_job():
    assert next_tag(virtual_time=10, owner_last_tag=3) == 11
    assert next_tag(virtual_time=10, owner_last_tag=14) == 15


def test_a_single_job_is_not_stuck_behind_a_burst_queued_first(template, backends):
    running = claim(worker="w").jobs  # nothing yet
    alice = queue(template, "alice", 8)
    running += claim(worker="w").jobs  # three of alice's jobs start
    [bob] = queue(template, "bob", 1)
    remaining = [job for job in alice if Job.objects.get(pk=job.pk).status == Job.Status.QUEUED]
    assert places([bob]) == [2], "bob waits behind one job of alice's, not five"
    order = dispatch_all(running)
    assert owners(order).index("bob") < [job.pk for job in order].index(remaining[2].pk)


def test_three_visitors_share_the_slots_round_robin(template, backends):
    for visitor in ("ann", "ben", "cat"):
        queue(template, visitor, 5)
    order = owners(dispatch_all([]))
    for end in range(1, len(order) + 1):
        counts = [order[:end].count(visitor) for visitor in ("ann", "ben", "cat")]
        assert max(counts) - min(counts) <= 1, order


def test_places_are_consistent_and_increase_within_a_batch(template, backends):
    alice = queue(template, "alice", 8)
    [bob] = queue(template, "bob", 1)
    assert places(alice) == [1, 3, 4, 5, 6, 7, 8, 9]
    assert places([bob]) == [2]
    claim(worker="w")  # alice 1, bob, alice 2 start
    assert places(alice[2:]) == [1, 2, 3, 4, 5, 6]
    assert places(alice[:2]) == [None, None]


def test_a_place_does_not_flip_as_slots_free_one_at_a_time(template, backends):
    queue(template, "alice", 8)
    [bob] = queue(template, "bob", 1)
    running = claim(worker="w").jobs
    seen = []
    while Job.objects.get(pk=bob.pk).status == Job.Status.QUEUED:
        seen.append(places([bob])[0])
        finish_one(running)
        running += claim(worker="w").jobs
    assert seen == sorted(seen, reverse=True), "a waiting place only moves up"


def test_a_job_back_from_a_dead_worker_keeps_its_fair_place(template, backends, settings):
    settings.JOB_HEARTBEAT_STALE = 30
    alice = queue(template, "alice", 6)
    [first, *_] = claim(worker="dead").jobs
    Job.objects.filter(pk=first.pk).update(
        status=Job.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    queue(template, "bob", 2)
    requeue_stale_jobs()
    assert places([first]) == [1], "it goes back to the head of the line, not behind bob"
    assert places(alice[3:]) == sorted(places(alice[3:]))


def test_two_sessions_at_one_address_are_two_visitors_in_the_fair_queue(template, backends):
    """A venue's Wi-Fi: B's single image is not queued behind all 8 of A's."""
    a = create_jobs(template=template, values={}, quantity=8, session_key="a", client_ip="198.51.100.9")
    [b] = create_jobs(template=template, values={}, quantity=1, session_key="b", client_ip="198.51.100.9")
    assert a[0].owner_key != b.owner_key
    assert places([b]) == [2], "behind A's first image only"
    assert places(a) == [1, 3, 4, 5, 6, 7, 8, 9]


def test_a_visitors_waiting_jobs_carry_all_their_places_from_one_reading(template, backends):
    from comfyweb.jobs.selectors import job_snapshot

    alice = queue(template, "alice", 3)
    queue(template, "bob", 1)
    QUEUE_ORDER.forget()
    snapshot = job_snapshot(Job.objects.get(pk=alice[2].pk))
    assert snapshot["stage"] == "in_line" and snapshot["places_at"] is not None
    assert {key: entry["place"] for key, entry in snapshot["places"].items()} == {
        str(alice[0].pk): 1,
        str(alice[1].pk): 3,
        str(alice[2].pk): 4,
    }
    claim(worker="w")  # three slots: alice's first two and bob's start
    QUEUE_ORDER.forget()
    snapshot = job_snapshot(Job.objects.get(pk=alice[2].pk))
    assert {key: entry["place"] for key, entry in snapshot["places"].items()} == {str(alice[2].pk): 1}
