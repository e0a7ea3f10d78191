"""The images `make images` built: an unprivileged user, a health check, no build tools or caches inside."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.deploy.containers.stack import COMPOSE_FILE, PODMAN, ROOT, image_env, podman

pytestmark = [pytest.mark.containers]

IMAGES = {"web": "WEB_IMAGE", "agent": "AGENT_IMAGE"}
# What the images must not carry: compilers and package installers of the build, their caches.
LEFTOVERS = (
    "for tool in gcc cc c++ make pip pip3 uv; do command -v $tool; done;"
    " ls -A /root/.cache /var/lib/apt/lists 2>/dev/null | grep -v '^partial$' | grep -v '^lock$' | grep -v ':$'"
)


@pytest.mark.parametrize("name", IMAGES)
def test_the_image_runs_as_an_unprivileged_user_with_a_health_check(name):
    (image,) = json.loads(podman("image", "inspect", image_env()[IMAGES[name]]).stdout)
    assert image["Config"]["User"].split(":")[0] not in ("", "0", "root")
    check = image["Healthcheck"]["Test"]
    assert check[0] == "CMD" and "probe.py" in " ".join(check)


@pytest.mark.parametrize("name", IMAGES)
def test_the_image_holds_no_build_tools_or_caches(name):
    found = podman("run", "--rm", "--user", "0", "--entrypoint", "sh", image_env()[IMAGES[name]], "-c", LEFTOVERS,
                   check=False).stdout  # fmt: skip
    assert found.strip() == "", found


def test_podman_compose_accepts_the_compose_file():
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SECRET_KEY": "x" * 50}
    command = [sys.executable, "-m", "podman_compose", "--podman-path", str(PODMAN), "-f", str(COMPOSE_FILE), "config"]
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {"proxy", "web-1", "web-2", "worker-1", "worker-2", "postgres", "redis", "s3", "agent"} <= set(services)
    assert services["web-1"]["environment"]["AWS_ENDPOINT_URL"] == "http://s3.localhost:9000"


def test_podman_compose_refuses_to_run_without_a_secret_key():
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    command = [sys.executable, "-m", "podman_compose", "--podman-path", str(PODMAN), "-f", str(COMPOSE_FILE), "config"]
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "set SECRET_KEY to a long random value" in result.stdout + result.stderr
