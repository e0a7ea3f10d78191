"""The autoscalers scale the agent Deployment on the agents' queue depth, a metric docs/metrics.md lists."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.descriptors import DOCS, k8s_by_kind

QUEUE_DEPTH = "comfyweb_agent_queue_depth"


def documented_metrics() -> dict[str, set[str]]:
    """Metric names in the tables of docs/metrics.md, by section ("agent" or "web")."""
    sections: dict[str, set[str]] = {"agent": set(), "web": set()}
    current = None
    for line in (DOCS / "metrics.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading = line.lower()
            current = "agent" if "agent" in heading else "web" if "web" in heading else None
        match = re.match(r"^\|\s*`(comfyweb_[a-z0-9_]+)`", line)
        if match and current:
            sections[current].add(match.group(1))
    return sections


def _base(name: str) -> str:
    """prometheus_client names a counter without `_total` and exposes it with it."""
    return name.removesuffix("_total")


def test_keda_scales_the_agent_deployment_on_queue_depth():
    (scaled,) = k8s_by_kind("ScaledObject")
    target = scaled["spec"]["scaleTargetRef"]["name"]
    assert target in {d["metadata"]["name"] for d in k8s_by_kind("Deployment")}
    assert target == "comfyweb-agent"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert QUEUE_DEPTH in trigger["metadata"]["query"]
    assert float(trigger["metadata"]["threshold"]) > 0
    assert scaled["spec"]["minReplicaCount"] >= 1, "with no agent the dispatcher has no backend to send jobs to"


def test_hpa_scales_the_agent_deployment_on_queue_depth():
    (hpa,) = k8s_by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "comfyweb-agent"}
    names = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"]}
    assert QUEUE_DEPTH in names
    assert hpa["spec"]["minReplicas"] >= 1


def test_metrics_used_by_autoscalers_are_documented_agent_metrics():
    agent_metrics = documented_metrics()["agent"]
    (scaled,) = k8s_by_kind("ScaledObject")
    used = set(re.findall(r"comfyweb_[a-z0-9_]+", scaled["spec"]["triggers"][0]["metadata"]["query"]))
    (hpa,) = k8s_by_kind("HorizontalPodAutoscaler")
    used |= {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"]}
    assert used <= agent_metrics


def test_metric_names_follow_the_prefix_convention():
    sections = documented_metrics()
    assert QUEUE_DEPTH in sections["agent"]
    assert sections["web"], "docs/metrics.md lists no web metric"
    assert all(name.startswith("comfyweb_agent_") for name in sections["agent"])
    assert not any(name.startswith("comfyweb_agent_") for name in sections["web"])
    counters = {n for names in sections.values() for n in names if n.endswith("_total")}
    assert all(re.fullmatch(r"comfyweb_[a-z0-9_]+", name) for name in counters)


def test_the_webs_metrics_are_the_documented_ones(client, db, settings):
    """Scraped from /metrics as Prometheus would (the agent's: test_agent_contract.py)."""
    settings.METRICS_TOKEN = "scrape"
    scraped = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape").content.decode()
    families = {family.name for family in text_string_to_metric_families(scraped)}
    served = {name for name in families if name.startswith("comfyweb_") and not name.endswith("_created")}
    assert served == {_base(name) for name in documented_metrics()["web"]}
