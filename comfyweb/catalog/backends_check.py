"""Checking a template against what each GPU backend really offers (its /object_info)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from django.core.cache import cache

from comfyweb.catalog.object_info_check import Finding, find_problems

OBJECT_INFO_TTL = 300
UNREACHABLE_TTL = 30  # a down backend is not asked again on every page view
OBJECT_INFO_TIMEOUT = 5.0

Backend = tuple[str, str, str, str]  # (name, url, kind, token)


class BackendUnreachable(Exception):
    """The backend's /object_info could not be read (recently); the message says why."""


@dataclass
class BackendReport:
    """What one backend lacks to run a template: `problems` as messages, `findings` with their kind."""

    backend: str
    reachable: bool
    problems: list[str] = field(default_factory=list)
    error: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def missing_nodes(self) -> list[str]:
        """The nodes whose class this backend lacks, each as “id “title” (class)”."""
        return [f.message.split(": ", 1)[0] for f in self.findings if f.kind == "missing_node"]

    @property
    def missing_models(self) -> list[str]:
        """The model files (checkpoints, LoRAs…) the prompt names and this backend does not have."""
        return [f.message for f in self.findings if f.kind == "missing_model"]


def object_info_url(backend_url: str, kind: str) -> str:
    """Agents pass /object_info through to their ComfyUI; plain ComfyUI answers it directly."""
    return backend_url.rstrip("/") + "/object_info"


def _cache_key(backend_url: str) -> str:
    return f"catalog:object_info:{backend_url.rstrip('/')}"


def fetch_object_info(backend_url: str, kind: str = "comfyui", token: str = "") -> dict:
    """A backend's /object_info, cached for a few minutes (it only changes when nodes/models change).

    Raises BackendUnreachable; a failure is remembered briefly so forms stay fast while a backend is down.
    """
    key = _cache_key(backend_url)
    cached = cache.get(key)
    if isinstance(cached, dict):
        return cached
    if isinstance(cached, str):
        raise BackendUnreachable(cached)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(object_info_url(backend_url, kind), headers=headers, timeout=OBJECT_INFO_TIMEOUT)
        response.raise_for_status()
        info = response.json()
        if not isinstance(info, dict):
            raise ValueError("/object_info did not answer a JSON object")
    except (httpx.HTTPError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        cache.set(key, reason, UNREACHABLE_TTL)
        raise BackendUnreachable(reason) from exc
    cache.set(key, info, OBJECT_INFO_TTL)
    return info


def report_for_backends(prompt: dict, backends: list[Backend], params: list | None = None) -> list[BackendReport]:
    """One report per (name, url, kind, token) backend; an unreachable backend says so."""
    reports = []
    for name, url, kind, token in backends:
        try:
            info = fetch_object_info(url, kind, token)
        except BackendUnreachable as exc:
            reports.append(BackendReport(backend=name, reachable=False, error=str(exc)))
            continue
        findings = find_problems(prompt, info, params)
        reports.append(
            BackendReport(backend=name, reachable=True, problems=[f.message for f in findings], findings=findings)
        )
    return reports


def combo_options(info: dict, node_class: str, key: str) -> list:
    """The values a COMBO input offers in an /object_info answer (old and new list forms)."""
    spec = info.get(node_class, {}).get("input", {})
    declared = {**spec.get("required", {}), **spec.get("optional", {})}.get(key, [])
    if declared and isinstance(declared[0], list):
        return list(declared[0])
    if declared and declared[0] == "COMBO" and len(declared) > 1 and isinstance(declared[1], dict):
        return list(declared[1].get("options", []))
    return []


def combo_options_resolver(backend_url: str, kind: str = "comfyui", token: str = "") -> Callable[[dict], list]:
    """An options resolver for forms: a panel's string `options` names the node class with the COMBO."""

    def resolve(panel: dict) -> list:
        info = fetch_object_info(backend_url, kind, token)
        return combo_options(info, panel["options"], panel.get("key"))

    return resolve


BackendSource = Callable[[], list[Backend]]


def _no_backends() -> list[Backend]:
    return []


_backend_source: BackendSource = _no_backends


def use_backend_source(source: BackendSource | None) -> None:
    """Install where the GPU backends come from; the jobs app, which owns the pool, does so when it starts."""
    global _backend_source
    _backend_source = source or _no_backends


def configured_backends() -> list[Backend]:
    """(name, url, kind, token) of every backend the check and the options resolver ask."""
    return _backend_source()


def backends_options_resolver(backends: list[Backend] | None = None) -> Callable[[dict], list]:
    """Resolve string `options` from the first backend that answers (the pool shares models in practice)."""

    def resolve(panel: dict) -> list:
        for _name, url, kind, token in configured_backends() if backends is None else backends:
            try:
                found = combo_options_resolver(url, kind, token)(panel)
            except BackendUnreachable:
                continue
            if found:
                return found
        return []

    return resolve
