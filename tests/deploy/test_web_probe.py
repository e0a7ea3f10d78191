"""The web's probes: liveness on /healthz, readiness on /readyz, routes Django really serves."""

from __future__ import annotations

from django.urls import resolve

from tests.deploy.descriptors import compose, containers, dockerfile, exec_form, k8s_object


def test_kubernetes_probes_the_web_for_liveness_on_healthz_and_readiness_on_readyz():
    (web,) = containers(k8s_object("Deployment", "comfyweb-web"))
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert resolve("/healthz").url_name == "healthz" and resolve("/readyz").url_name == "readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert web[probe]["httpGet"]["port"] == web["ports"][0]["name"]


def test_the_web_image_checks_liveness():
    (check,) = [i for i in dockerfile("web.Dockerfile") if i.keyword == "HEALTHCHECK"]
    assert exec_form(check)[-1] == "http://127.0.0.1:8000/healthz"


def test_the_web_command_is_in_one_place():
    """compose and Kubernetes run the image's CMD: changing the ASGI server is one line of web.Dockerfile."""
    (web,) = containers(k8s_object("Deployment", "comfyweb-web"))
    assert "command" not in web and "args" not in web
    for name in ("web-1", "web-2"):
        assert "command" not in compose()["services"][name]
