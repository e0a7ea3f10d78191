"""The moderation's Prometheus series, read from the database at each scrape (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from comfyweb.jobs.models import JobOutput, ModerationTally


class ModerationCollector(Collector):
    """Checks and blocks by stage (input, output), kind (image, text) and outcome; time spent; the review queue."""

    def collect(self) -> Iterator[Metric]:
        checks = CounterMetricFamily(
            "comfyweb_moderation_checks", "Moderation checks by stage, kind and outcome (passed, blocked, error)",
            labels=["stage", "kind", "outcome"],
        )  # fmt: skip
        seconds = CounterMetricFamily(
            "comfyweb_moderation_seconds", "Time spent in moderation checks", labels=["stage", "kind", "outcome"]
        )
        for tally in ModerationTally.objects.all():
            labels = [tally.stage, tally.kind, tally.outcome]
            checks.add_metric(labels, tally.checks)
            seconds.add_metric(labels, tally.seconds)
        waiting = GaugeMetricFamily(
            "comfyweb_moderation_withheld_images", "Images withheld from visitors, waiting for an operator's review"
        )
        waiting.add_metric([], JobOutput.objects.filter(review=JobOutput.Review.WITHHELD).count())
        yield from (checks, seconds, waiting)
