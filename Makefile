# comfyweb — two commands: `make run` serves the app, `make test` runs the suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# Django 6 needs Python >= 3.12: take the newest one this machine has.
BOOT_PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 /usr/local/bin/python3.1[23] /usr/bin/python3.1[23]; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then echo $$p; break; fi; done)
HOST ?= 127.0.0.1
PORT ?= 8000
export EMBEDDED_DEV ?= 1

.PHONY: help install browser deploy-tools images run test test-fast test-comfyui test-stress test-deploy bench bench-comfyui lint format migrations-check ci clean

help:
	@echo "make run    - install what is missing and serve http://$(HOST):$(PORT) (embedded topology)"
	@echo "make test   - install what is missing and run the whole test suite"
	@echo "make test-comfyui - run the client/agent contract tests against a real CPU ComfyUI"
	@echo "make test-stress - make test and make test-comfyui 3 times with the CPUs kept busy (docs/testing.md)"
	@echo "make bench  - measure the product's performance figures (bench/RESULTS.md)"
	@echo "make bench-comfyui - the agent's added time on a real CPU ComfyUI (appended to bench/RESULTS.md)"
	@echo "make lint   - ruff check, format check and the layer contract (import-linter)"
	@echo "make images - build the web, agent and service images with podman (deploy/images/build.sh)"
	@echo "make test-deploy - build the images, run deploy/compose.yaml with podman-compose and test it from outside"

$(VENV)/.installed: requirements.txt
	@test -n "$(BOOT_PYTHON)" || { echo "Python >= 3.12 is required (Django 6)"; exit 1; }
	@test -x $(PY) || $(BOOT_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

install: $(VENV)/.installed

# Playwright drives Debian's chromium, never a downloaded browser build; a CJK font makes the
# Chinese pages legible in the screenshots the browser tests save.
BROWSER_PACKAGES := chromium fonts-wqy-microhei
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		($$SUDO apt-get update -qq || true) && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
	fi

# Containers without a Docker engine: podman (run as root with runc, see deploy/images/podman.sh), its
# network stack with DNS between containers (netavark sets up the bridges with iptables), and debootstrap
# for a Debian base when no registry is reachable.
DEPLOY_PACKAGES := podman runc netavark aardvark-dns iptables debootstrap curl
deploy-tools:
	@if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 \
		|| ! command -v debootstrap >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1 \
		|| ! PATH="$$PATH:/usr/sbin:/sbin" command -v iptables >/dev/null 2>&1 \
		|| [ ! -x /usr/lib/podman/aardvark-dns ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		($$SUDO apt-get update -qq || true) && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEPLOY_PACKAGES) >/dev/null; \
	fi

images: deploy-tools
	bash deploy/images/build.sh

# The compose topology started from the images and tested from outside (tests/deploy/containers/).
test-deploy: install browser deploy-tools images
	$(PY) -m pytest -m containers tests/deploy/containers

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py loaddemo
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# Two pytest workers (pytest-xdist): most tests wait on browsers, servers and sockets, so two share 2 cores
# well. A module's tests stay together on one worker (its servers, its Redis database number); each worker
# has a Redis of its own (tests/conftest.py). PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadfile

test: install browser
	$(PY) -m pytest $(PYTEST_PARALLEL)

test-fast: install
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not slow and not browser"

test-comfyui: install browser
	bash tests/contract/run_real_comfyui.sh

# The stress check: the whole suite, three rounds, with a busy loop per core (docs/testing.md).
test-stress: install browser
	bash tests/stress.sh

bench: install
	$(PY) -m bench

# The agent's added time on a real CPU ComfyUI, appended with the date to bench/RESULTS.md.
bench-comfyui: install
	RECORD_BENCH=1 bash tests/contract/run_real_comfyui.sh tests/contract/test_real_agent_overhead.py -s

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

ci: lint migrations-check test

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache
