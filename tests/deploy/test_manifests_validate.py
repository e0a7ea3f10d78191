"""The Kubernetes manifests against the Kubernetes API schemas (kubernetes-validate, offline, strict)."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.deploy.descriptors import k8s_objects

# Kinds of custom resources, whose schema is their operator's, not Kubernetes': checked by the tests of
# test_autoscaling_and_metrics.py instead.
CUSTOM_KINDS = {"ScaledObject"}
VERSION = kubernetes_validate.latest_version()
OBJECTS = [(path, obj) for path, obj in k8s_objects() if obj["kind"] not in CUSTOM_KINDS]


@pytest.mark.parametrize(("path", "obj"), OBJECTS, ids=[f"{p}:{o['kind']}:{o['metadata']['name']}" for p, o in OBJECTS])
def test_every_object_is_valid_for_the_kubernetes_api(path, obj):
    try:
        kubernetes_validate.validate(obj, VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{path}: {exc.message} at {'/'.join(map(str, exc.path))}")


def test_every_kind_but_the_custom_ones_has_a_schema():
    assert {obj["kind"] for _, obj in OBJECTS} >= {"Deployment", "Service", "Job", "ConfigMap", "Secret",
                                                  "HorizontalPodAutoscaler"}  # fmt: skip
    assert {obj["kind"] for _, obj in k8s_objects()} - {obj["kind"] for _, obj in OBJECTS} == CUSTOM_KINDS


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinesProbe={}),  # a typo: unknown field
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="8000"),
        lambda d: d["spec"].pop("selector"),
    ],
    ids=["unknown-field", "port-as-string", "no-selector"],
)
def test_the_validation_has_teeth(spoil):
    (web,) = [obj for _, obj in OBJECTS if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "comfyweb-web"]
    broken = copy.deepcopy(web)
    spoil(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)
