"""The autoscalers scale the agent Deployment on the agents' queue depth, a metric docs/metrics.md lists."""

from __future__ import annotations

import re

import pytest

from tests.deploy.descriptors import CODE, DOCS, k8s_by_kind

QUEUE_DEPTH = "comfyweb_agent_queue_depth"
# `Gauge("comfyweb_x", …)` or, in a custom collector, `GaugeMetricFamily("comfyweb_x", …)`.
METRIC_CALL = re.compile(
    r"""\b(Counter|Gauge|Histogram|Summary|Info|Enum)(?:MetricFamily)?\(\s*["'](comfyweb_[a-z0-9_]+)["']"""
)


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


def _section(name: str) -> str:
    return "agent" if name.startswith("comfyweb_agent_") else "web"


@pytest.mark.parametrize("section", ["agent", "web"])
def test_metrics_in_the_code_are_the_documented_ones(section):
    defined = set()
    for path in CODE.rglob("*.py"):
        defined |= {m.group(2) for m in METRIC_CALL.finditer(path.read_text(encoding="utf-8"))}
    defined = {_base(n) for n in defined if _section(n) == section}
    if not defined:
        pytest.skip(f"no {section} metric is defined in comfyweb/ yet")
    documented = {_base(n) for n in documented_metrics()[section]}
    assert defined - documented == set(), "defined in the code but missing from docs/metrics.md"
    assert documented - defined == set(), "listed in docs/metrics.md but defined nowhere"
