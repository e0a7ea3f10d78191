"""Checking a template against what each GPU backend really offers (its /object_info)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from django.core.cache import cache

from comfyweb.catalog.services import check_against_object_info

OBJECT_INFO_TTL = 300
OBJECT_INFO_TIMEOUT = 5.0


@dataclass
class BackendReport:
    backend: str
    reachable: bool
    problems: list[str] = field(default_factory=list)
    error: str = ""


def object_info_url(backend_url: str, kind: str) -> str:
    """Agents pass /object_info through to their ComfyUI; plain ComfyUI answers it directly."""
    return backend_url.rstrip("/") + "/object_info"


def fetch_object_info(backend_url: str, kind: str = "comfyui", token: str = "") -> dict:
    """A backend's /object_info, cached for a few minutes (it only changes when nodes/models change)."""
    key = f"object_info:{backend_url}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(object_info_url(backend_url, kind), headers=headers, timeout=OBJECT_INFO_TIMEOUT)
    response.raise_for_status()
    info = response.json()
    cache.set(key, info, OBJECT_INFO_TTL)
    return info


def report_for_backends(prompt: dict, backends: list[tuple[str, str, str, str]]) -> list[BackendReport]:
    """One report per (name, url, kind, token) backend; an unreachable backend says so."""
    reports = []
    for name, url, kind, token in backends:
        try:
            info = fetch_object_info(url, kind, token)
        except (httpx.HTTPError, ValueError) as exc:
            reports.append(BackendReport(backend=name, reachable=False, error=str(exc) or type(exc).__name__))
            continue
        reports.append(BackendReport(backend=name, reachable=True, problems=check_against_object_info(prompt, info)))
    return reports


def combo_options_resolver(backend_url: str, kind: str = "comfyui", token: str = ""):
    """An options resolver for forms: a panel's string `options` names the node class with the COMBO."""

    def resolve(panel: dict) -> list[str]:
        info = fetch_object_info(backend_url, kind, token)
        spec = info.get(panel["options"], {}).get("input", {})
        declared = {**spec.get("required", {}), **spec.get("optional", {})}.get(panel.get("key"), [])
        if declared and isinstance(declared[0], list):
            return list(declared[0])
        if declared and declared[0] == "COMBO" and len(declared) > 1:
            return list(declared[1].get("options", []))
        return []

    return resolve
