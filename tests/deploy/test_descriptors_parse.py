"""Every deployment descriptor parses and holds the keys its tool requires; references between them resolve."""

from __future__ import annotations

import pytest

from tests.deploy.descriptors import (
    DEPLOY,
    compose,
    containers,
    fc,
    fc_props,
    k8s_by_kind,
    k8s_object,
    k8s_objects,
    load_yaml_all,
    yaml_files,
)


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses_to_mappings(path):
    docs = load_yaml_all(path)
    assert docs, f"{path} is empty"
    assert all(isinstance(doc, dict) for doc in docs)


def test_compose_services_have_an_image_and_list_commands():
    services = compose()["services"]
    assert {"web-1", "web-2", "worker-1", "worker-2", "proxy", "postgres", "redis", "s3", "agent", "emulator",
            "migrate"} <= set(services)  # fmt: skip
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "command" in service:
            assert isinstance(service["command"], list), f"{name}: use the exec (list) form"


def test_compose_dependencies_and_volumes_exist():
    doc = compose()
    services, volumes = doc["services"], set(doc.get("volumes", {}))
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("./"):  # a file of the repository, beside compose.yaml
                assert (DEPLOY / source).is_file(), f"{name} mounts missing {source}"
            else:
                assert source in volumes, f"{name} mounts undeclared volume {source}"


def test_compose_builds_from_the_repository_with_the_web_dockerfile():
    for name, service in compose()["services"].items():
        if "build" in service:
            build = service["build"]
            root = (DEPLOY / build["context"]).resolve()
            assert (root / build["dockerfile"]).is_file(), name
            assert (root / "manage.py").is_file(), f"{name}: build context is not the repository root"


def test_compose_publishes_ports_on_loopback_only():
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"


def test_k8s_objects_have_api_version_kind_and_name():
    assert k8s_objects()
    for path, obj in k8s_objects():
        assert obj.get("apiVersion") and obj.get("kind"), path
        assert obj.get("metadata", {}).get("name"), path


def test_kustomization_lists_existing_files_and_every_image_it_renames():
    (kustomization,) = load_yaml_all(DEPLOY / "k8s" / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (DEPLOY / "k8s" / resource).is_file(), resource
    assert "secret.example.yaml" not in kustomization["resources"], "placeholders must not be applied"
    renamed = {image["name"] for image in kustomization["images"]}
    used = {c["image"] for kind in ("Deployment", "Job") for w in k8s_by_kind(kind) for c in containers(w)}
    assert used == renamed


def test_deployment_selectors_match_their_pod_labels():
    for workload in k8s_by_kind("Deployment"):
        selector = workload["spec"]["selector"]["matchLabels"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), workload["metadata"]["name"]


def test_services_select_a_deployment_and_target_a_named_container_port():
    deployments = k8s_by_kind("Deployment")
    for service in k8s_by_kind("Service"):
        selector = service["spec"]["selector"]
        (target,) = [d for d in deployments if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        port_names = {p["name"] for c in containers(target) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, service["metadata"]["name"]


def test_config_and_secret_references_resolve():
    config = k8s_object("ConfigMap", "comfyweb-config")["data"]
    secret = k8s_object("Secret", "comfyweb-secrets")["stringData"]
    for kind in ("Deployment", "Job"):
        for workload in k8s_by_kind(kind):
            for container in containers(workload):
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        assert source["configMapRef"]["name"] == "comfyweb-config"
                    if "secretRef" in source:
                        assert source["secretRef"]["name"] == "comfyweb-secrets"
                for var in container.get("env", []):
                    ref = var.get("valueFrom", {})
                    if "configMapKeyRef" in ref:
                        assert ref["configMapKeyRef"]["key"] in config, var["name"]
                    if "secretKeyRef" in ref:
                        assert ref["secretKeyRef"]["key"] in secret, var["name"]


def test_agent_pods_request_a_gpu():
    (agent,) = containers(k8s_object("Deployment", "comfyweb-agent"))
    assert agent["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert agent["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_web_and_worker_pods_run_as_the_images_unprivileged_user():
    for name in ("comfyweb-web", "comfyweb-worker"):
        spec = k8s_object("Deployment", name)["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001


def test_fc_descriptor_is_a_gpu_custom_container_with_async_invocation():
    doc = fc()
    assert doc["edition"] == "3.0.0"
    assert doc["resources"]["agent"]["component"] == "fc3"
    props = fc_props()
    assert {"region", "functionName", "runtime"} <= set(props)  # required by the fc3 component
    assert props["runtime"] == "custom-container"
    assert props["gpuConfig"]["gpuType"] in ("fc.gpu.tesla.1", "fc.gpu.ampere.1")
    assert props["gpuConfig"]["gpuMemorySize"] % 1024 == 0
    assert props["memorySize"] % 64 == 0
    assert 1 <= props["instanceConcurrency"] <= 5
    assert props["asyncInvokeConfig"]["asyncTask"] is True
    assert props["customContainerConfig"]["image"]
    (trigger,) = props["triggers"]
    assert trigger["triggerType"] == "http"
    assert {"GET", "POST", "DELETE"} <= set(trigger["triggerConfig"]["methods"])
