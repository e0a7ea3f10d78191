"""A worker whose channel layer is down goes on: it claims, runs and finishes jobs, and keeps what it could
not send. (A real Redis killed and restarted under two workers: tests/faults/test_redis_restart.py; a
PostgreSQL crash: tests/faults/test_postgres_restart.py.)"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from comfyweb.jobs.models import Job
from comfyweb.jobs.relay.delivery import TROUBLE
from comfyweb.jobs.services import create_jobs
from tests.conftest import free_port
from tests.jobs.test_runner_e2e import all_final, fast_worker, make_backend, make_template, run_until
from tests.prompts import sampler_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_nowhere(settings):
    """The site's Redis layer pointed at a port where nothing listens: every send is refused."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "comfyweb.jobs.relay.layer.ReconnectAwarePubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{free_port()}/0", "socket_connect_timeout": 1}]},
        }
    }


async def test_jobs_run_to_the_end_while_the_channel_layer_refuses_every_send(redis_nowhere, emulator_thread):
    template = await sync_to_async(make_template)(sampler_workflow(steps=5))
    await sync_to_async(make_backend)(emulator_thread.url, slots=2)
    jobs = await sync_to_async(create_jobs)(template=template, values={}, quantity=3, session_key="s")
    failed_before = TROUBLE.failed
    await run_until(all_final, fast_worker())
    statuses = [job.status async for job in Job.objects.filter(pk__in=[job.pk for job in jobs])]
    assert statuses == [Job.Status.SUCCEEDED] * 3
    assert TROUBLE.failed > failed_before, "the sends were tried, failed, and did not stop the worker"
