"""Every environment variable the descriptors and docs set is one the code (or a named tool) really reads."""

from __future__ import annotations

import re

import pytest

from tests.deploy.descriptors import (
    DOCS,
    compose,
    containers,
    dockerfile,
    env_assignments,
    env_name_problem,
    env_names_read_by_code,
    fc_props,
    k8s_by_kind,
    k8s_object,
)


def _descriptor_env_names() -> list[tuple[str, str]]:
    found = []
    for service_name, service in compose()["services"].items():
        if "build" in service:  # our images; postgres' own variables are checked below
            found += [(f"compose:{service_name}", name) for name in service.get("environment", {})]
    for kind in ("Deployment", "Job"):
        for workload in k8s_by_kind(kind):
            for container in containers(workload):
                found += [(f"k8s:{workload['metadata']['name']}", var["name"]) for var in container.get("env", [])]
    found += [("k8s:configmap", name) for name in k8s_object("ConfigMap", "comfyweb-config")["data"]]
    found += [("k8s:secret", name) for name in k8s_object("Secret", "comfyweb-secrets")["stringData"]]
    found += [("fc", name) for name in fc_props()["environmentVariables"]]
    for file in ("web.Dockerfile", "agent.Dockerfile"):
        for instruction in dockerfile(file):
            if instruction.keyword == "ENV":
                found += [(file, name) for name in env_assignments(instruction)]
    return sorted(set(found))


def _doc_table_env_names() -> list[tuple[str, str]]:
    """Names in the first column of the env tables of docs/*.md (rows like | `NAME` | ... |)."""
    found = set()
    for page in sorted(DOCS.glob("*.md")):
        for line in page.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^\|\s*`([A-Z][A-Z0-9_]+)`", line)
            if match:
                found.add((f"docs/{page.name}", match.group(1)))
    return sorted(found)


DESCRIPTOR_NAMES = _descriptor_env_names()
DOC_NAMES = _doc_table_env_names()


@pytest.mark.parametrize(("where", "name"), DESCRIPTOR_NAMES, ids=[f"{w}:{n}" for w, n in DESCRIPTOR_NAMES])
def test_descriptor_variable_is_read_by_something(where, name):
    assert env_name_problem(name) is None, f"{where}: {env_name_problem(name)}"


@pytest.mark.parametrize(("where", "name"), DOC_NAMES, ids=[f"{w}:{n}" for w, n in DOC_NAMES])
def test_documented_variable_is_read_by_something(where, name):
    assert env_name_problem(name) is None, f"{where}: {env_name_problem(name)}"


def test_docs_document_env_tables():
    pages = {where for where, _ in DOC_NAMES}
    for page in ("embedded.md", "single-gpu-box.md", "serverless-gpu.md", "kubernetes.md"):
        assert f"docs/{page}" in pages, f"{page} has no table of environment variables"


def test_every_variable_the_settings_read_is_documented_somewhere():
    documented = {name for _, name in DOC_NAMES}
    internal = {"TEST_DB_NAME", "DJANGO_SETTINGS_MODULE"}  # test-run and Django plumbing
    missing = sorted(env_names_read_by_code() - documented - internal)
    assert not missing, f"not in any docs/ env table: {missing}"


def test_an_invented_name_is_refused():
    assert env_name_problem("COMFYWEB_NO_SUCH_SETTING") is not None


def test_postgres_variables_of_compose_are_the_images_own():
    assert set(compose()["services"]["postgres"]["environment"]) == {
        "POSTGRES_DB",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
    }
