"""The web Deployment's readiness probe asks a real route with a Host Django accepts."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.urls import resolve

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def test_readiness_probe_uses_healthz_with_an_allowed_host():
    web = next(d for d in yaml.safe_load_all((DEPLOY / "web.yaml").read_text()) if d and d["kind"] == "Deployment")
    probe = web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    config = yaml.safe_load((DEPLOY / "configmap.yaml").read_text())
    allowed = config["data"]["ALLOWED_HOSTS"].split(",")
    host = next(h["value"] for h in probe["httpHeaders"] if h["name"] == "Host")
    assert host in allowed
    assert resolve(probe["path"]).url_name == "healthz"
