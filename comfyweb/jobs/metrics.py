"""The web's Prometheus metrics at /metrics (docs/metrics.md lists and explains them).

Job and backend series are read from the database at every scrape (a custom collector), so
any web process answers with the current, pool-wide numbers whichever process or `runjobs`
worker changed the jobs. Only `comfyweb_websocket_watchers` (the consumers of this process
count themselves) and the HTTP requests inside and waiting (`core.admission`) are per process.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from comfyweb.core import admission
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.trust.metrics import ModerationCollector

WAIT_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RUN_BUCKETS = (1, 5, 10, 20, 30, 60, 120, 300, 600, 1200)
BUSY_STATUSES = (Job.Status.DISPATCHED, Job.Status.RUNNING)

REGISTRY = CollectorRegistry()  # no auto-describe: registering must not query the database
WEBSOCKET_WATCHERS = Gauge(
    "comfyweb_websocket_watchers", "Browser WebSockets following a job (this process)", registry=REGISTRY
)
Gauge(
    "comfyweb_http_requests_inside", "HTTP requests the application works on now (this process)", registry=REGISTRY
).set_function(admission.requests_inside)
Gauge(
    "comfyweb_http_requests_waiting", "HTTP requests waiting for their turn (this process)", registry=REGISTRY
).set_function(admission.requests_waiting)


def duration_histogram(jobs, start: str, end: str, buckets: tuple[float, ...]) -> tuple[list, float]:
    """Cumulative (le, count) buckets and the sum in seconds of `end - start` over `jobs`, in one query."""
    duration = ExpressionWrapper(F(end) - F(start), output_field=DurationField())
    aggregates = {f"le_{i}": Count("pk", filter=Q(d__lte=timedelta(seconds=b))) for i, b in enumerate(buckets)}
    row = jobs.annotate(d=duration).aggregate(total=Count("pk"), seconds=Sum("d"), **aggregates)
    counts = [(str(float(b)), row[f"le_{i}"]) for i, b in enumerate(buckets)]
    counts.append(("+Inf", row["total"]))
    total = row["seconds"]
    return counts, total.total_seconds() if total else 0.0


class JobsCollector(Collector):
    """Jobs by status, queue wait and run time histograms, and the GPU backends' slots and health."""

    def collect(self) -> Iterator[Metric]:
        yield self.jobs_by_status()
        yield self.queue_wait()
        yield self.run_time()
        yield from self.backends()

    def jobs_by_status(self) -> Metric:
        family = GaugeMetricFamily("comfyweb_jobs", "Jobs by status", labels=["status"])
        counts = dict(Job.objects.values_list("status").annotate(n=Count("pk")).order_by())
        for value in Job.Status.values:
            family.add_metric([value], counts.get(value, 0))
        return family

    def queue_wait(self) -> Metric:
        family = HistogramMetricFamily(
            "comfyweb_job_queue_wait_seconds", "Time from a job's creation to its start on a GPU backend"
        )
        started = Job.objects.filter(started_at__isnull=False)
        buckets, total = duration_histogram(started, "created_at", "started_at", WAIT_BUCKETS)
        family.add_metric([], buckets, total)
        return family

    def run_time(self) -> Metric:
        family = HistogramMetricFamily(
            "comfyweb_job_run_seconds", "Time from a job's start to its final state, by outcome", labels=["outcome"]
        )
        finished = Job.objects.filter(started_at__isnull=False, finished_at__isnull=False)
        for outcome in Job.FINAL_STATUSES:
            jobs = finished.filter(status=outcome)
            buckets, total = duration_histogram(jobs, "started_at", "finished_at", RUN_BUCKETS)
            family.add_metric([outcome], buckets, total)
        return family

    def backends(self) -> Iterator[Metric]:
        slots = GaugeMetricFamily("comfyweb_backend_slots", "Configured slots of each GPU backend", labels=["backend"])
        busy = GaugeMetricFamily("comfyweb_backend_busy_slots", "Slots in use (dispatched or running jobs)",
                                 labels=["backend"])  # fmt: skip
        up = GaugeMetricFamily("comfyweb_backend_up", "1 when the GPU backend is healthy", labels=["backend"])
        backends = GpuBackend.objects.filter(enabled=True).annotate(
            busy=Count("jobs", filter=Q(jobs__status__in=BUSY_STATUSES))
        )
        for backend in backends:
            slots.add_metric([backend.name], backend.slots)
            busy.add_metric([backend.name], backend.busy)
            up.add_metric([backend.name], 1 if backend.healthy else 0)
        yield from (slots, busy, up)


REGISTRY.register(JobsCollector())


def may_read_metrics(request: HttpRequest) -> bool:
    """Staff users, or a scraper with `Authorization: Bearer $METRICS_TOKEN` (when a token is set)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics in the Prometheus text format; 403 for anyone else."""
    if not may_read_metrics(request):
        return HttpResponse("Forbidden: staff or a METRICS_TOKEN bearer token only.\n", status=403,
                            content_type="text/plain")  # fmt: skip
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


REGISTRY.register(ModerationCollector())  # jobs.trust: checks, blocks, time spent, the review queue
