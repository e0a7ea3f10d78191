"""Prometheus metrics of one agent instance (docs/metrics.md lists and explains them).

`comfyweb_agent_queue_depth` is the autoscaling signal: prompts accepted and waiting for a slot.
Each agent has its own registry, so several agents in one process (tests) do not mix their counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

DURATION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600, float("inf"))
FETCH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, float("inf"))
OUTCOMES = ("succeeded", "failed", "cancelled", "timeout", "rejected")


class AgentMetrics:
    """The agent's series in a private registry; `render()` gives the text exposition."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, concurrency: int = 1) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.queue_depth = Gauge(
            "comfyweb_agent_queue_depth", "Prompts accepted and waiting for a free ComfyUI slot", registry=r
        )
        self.running_tasks = Gauge("comfyweb_agent_running_tasks", "Prompts running on ComfyUI now", registry=r)
        self.concurrency = Gauge("comfyweb_agent_concurrency", "The configured AGENT_CONCURRENCY", registry=r)
        self.tasks = Counter("comfyweb_agent_tasks", "Finished tasks by outcome", ["outcome"], registry=r)
        self.task_duration = Histogram(
            "comfyweb_agent_task_duration_seconds",
            "Time from acceptance to the final state, by outcome",
            ["outcome"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.comfyui_up = Gauge("comfyweb_agent_comfyui_up", "1 while ComfyUI answers", registry=r)
        self.comfyui_restarts = Counter(
            "comfyweb_agent_comfyui_restarts", "Restarts of a ComfyUI started with --comfyui-cmd", registry=r
        )
        self.ready = Gauge("comfyweb_agent_ready", "1 while /api/ready answers 200", registry=r)
        self.input_fetch_bytes = Counter(
            "comfyweb_agent_input_fetch_bytes", "Bytes of input images fetched or decoded", ["source"], registry=r
        )
        self.input_fetch_seconds = Histogram(
            "comfyweb_agent_input_fetch_seconds",
            "Time to fetch or decode one input image",
            ["source"],
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        self.upload_bytes = Counter("comfyweb_agent_upload_bytes", "Bytes uploaded to ComfyUI", registry=r)
        self.upload_seconds = Histogram(
            "comfyweb_agent_upload_seconds", "Time of one upload to ComfyUI", buckets=FETCH_BUCKETS, registry=r
        )
        self.concurrency.set(concurrency)
        for outcome in OUTCOMES:  # every outcome shows from the start (0), so rates work at once
            self.tasks.labels(outcome)
            self.task_duration.labels(outcome)

    def task_finished(self, outcome: str, seconds: float) -> None:
        self.tasks.labels(outcome).inc()
        self.task_duration.labels(outcome).observe(max(seconds, 0.0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
