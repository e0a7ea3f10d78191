"""A page passes the middleware in its own thread: a few trips between the event loop and that thread, not one
or two per middleware (under a crowd every trip waits its turn on a busy event loop)."""

from __future__ import annotations

import pytest
from asgiref import sync
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from comfyweb.catalog.models import WorkflowTemplate
from tests.prompts import CORE_WORKFLOW

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def thread_trips(monkeypatch) -> list[str]:
    """Every call of asgiref's sync_to_async and async_to_sync made meanwhile."""
    trips: list[str] = []
    to_thread, to_loop = sync.SyncToAsync.__call__, sync.AsyncToSync.__call__

    async def counted_to_thread(self, *args, **kwargs):
        trips.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await to_thread(self, *args, **kwargs)

    def counted_to_loop(self, *args, **kwargs):
        trips.append("async_to_sync")
        return to_loop(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted_to_thread)
    monkeypatch.setattr(sync.AsyncToSync, "__call__", counted_to_loop)
    return trips


@pytest.mark.parametrize("path", ["/", "/t/core/", "/no-such-page/"])
async def test_a_page_costs_a_few_trips_to_its_thread_whatever_the_middleware(path, thread_trips):
    await sync_to_async(WorkflowTemplate.objects.create)(title="Core", slug="core", prompt=CORE_WORKFLOW)
    client = AsyncClient()
    await client.get(path)  # the first request also loads the URLconf, translations and templates
    thread_trips.clear()
    response = await client.get(path)
    assert response.status_code == (404 if "no-such" in path else 200), response.status_code
    middleware_trips = [trip for trip in thread_trips if "Middleware" in trip]
    assert set(middleware_trips) <= {"CsrfViewMiddleware.process_view"}, middleware_trips
    assert len(thread_trips) <= 6, thread_trips
