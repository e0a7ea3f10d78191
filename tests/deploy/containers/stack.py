"""deploy/compose.yaml started with podman-compose from the images `make images` built, for tests from outside.

Ports are free ones on loopback, the project name (and so its network and volumes) is the test run's own, so
nothing collides with this machine's PostgreSQL and Redis or with another run. podman's health checks need
systemd timers, which this machine lacks: `wait_healthy()` runs each check itself (`podman healthcheck
run`) until it passes. podman-compose cannot wait on compose's conditions with Debian's podman 4.3 (it skips
`service_healthy`, and waits forever for `service_completed_successfully`, which it maps to a state an
exited container never reaches), so `start()` brings the services up with `--no-deps` in the order those
conditions describe, waiting for each condition itself.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.procs import free_port

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
PODMAN = ROOT / "deploy" / "images" / "podman"
LOGS = ROOT / "test-artifacts" / "deploy"
SERVICE_IMAGES = ("postgres", "redis", "s3", "nginx")


def image_env() -> dict[str, str]:
    """The *_IMAGE variables for the images `make images` built (deploy/images/env.sh)."""
    out = subprocess.run([ROOT / "deploy" / "images" / "env.sh"], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        for pair in line.removeprefix("export ").split():
            name, _, value = pair.partition("=")
            found[name] = value
    return found


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(PODMAN), *args], capture_output=True, text=True, timeout=timeout, check=check)


class ComposeStack:
    def __init__(self) -> None:
        self.project = f"comfyweb-test-{secrets.token_hex(3)}"
        self.proxy_port = free_port()
        self.s3_port = free_port()
        self.site = f"http://127.0.0.1:{self.proxy_port}"
        self.env = {
            **os.environ,
            **image_env(),
            "SECRET_KEY": secrets.token_urlsafe(50),
            "AGENT_TOKEN": secrets.token_urlsafe(24),
            "PROXY_PORT": str(self.proxy_port),
            "S3_PORT": str(self.s3_port),
        }

    # --- podman-compose --------------------------------------------------------------------------------------

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "podman_compose", "--podman-path", str(PODMAN), "-p", self.project,
                   "-f", str(COMPOSE_FILE), *args]  # fmt: skip
        result = subprocess.run(command, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"podman-compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def up(self, *services: str) -> None:
        # --no-recreate: services already up stay as they are (podman-compose would otherwise tear them down);
        # --no-deps: their dependencies are up already (start() orders them).
        self.compose("up", "-d", "--no-recreate", "--no-deps", *services)

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def inspect(self, service: str) -> dict:
        return json.loads(podman("inspect", self.container(service)).stdout)[0]

    def containers(self) -> list[str]:
        listed = podman("ps", "-a", "--filter", f"label=io.podman.compose.project={self.project}",
                        "--format", "{{.Names}}").stdout  # fmt: skip
        return sorted(listed.split())

    # --- waiting -----------------------------------------------------------------------------------------------

    def wait_healthy(self, service: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while podman("healthcheck", "run", self.container(service), check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{service} did not become healthy:\n{self.logs(service)}")
            time.sleep(1)

    def wait_exited(self, service: str, timeout: float = 300) -> int:
        deadline = time.monotonic() + timeout
        while (state := self.inspect(service)["State"])["Status"] != "exited":
            if time.monotonic() > deadline:
                raise AssertionError(f"{service} did not finish:\n{self.logs(service)}")
            time.sleep(1)
        return state["ExitCode"]

    def wait_http(self, url: str, timeout: float = 180, status: int = 200) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = httpx.get(url, timeout=5, trust_env=False)
                if response.status_code == status:
                    return response
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer {status} within {timeout} s")
            time.sleep(1)

    # --- the topology ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Every service, in the order of the compose file's conditions."""
        self.up("postgres", "redis", "s3")
        self.wait_healthy("postgres")
        self.wait_healthy("redis")
        self.wait_http(f"http://127.0.0.1:{self.s3_port}/moto-api/")
        self.up("migrate")
        exit_code = self.wait_exited("migrate")
        assert exit_code == 0, f"migrate exited {exit_code}:\n{self.logs('migrate')}"
        self.up("emulator", "agent")
        self.wait_healthy("emulator")
        self.wait_healthy("agent")
        self.up("web-1", "web-2", "worker-1", "worker-2")
        for web in ("web-1", "web-2"):
            self.wait_healthy(web)
        self.up("proxy")
        self.wait_http(f"{self.site}/readyz")

    def logs(self, service: str) -> str:
        result = podman("logs", "--tail", "60", self.container(service), check=False)
        return result.stdout + result.stderr

    def save_logs(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        for name in self.containers():
            result = podman("logs", name, check=False)
            (LOGS / f"{name.removeprefix(self.project + '_')}.log").write_text(result.stdout + result.stderr)

    def down(self) -> None:
        self.compose("down", "--volumes", "-t", "10")


def tools_missing() -> str | None:
    """What `make test-deploy` installs and is not here; None when all is."""
    for tool in ("podman", "runc"):
        if not shutil.which(tool):
            return f"{tool} is not installed (make test-deploy installs it)"
    return None
