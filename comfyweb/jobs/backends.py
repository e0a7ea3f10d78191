"""The pool of GPU backends: from GPU_BACKENDS, the admin, or the embedded default."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from comfyweb.jobs.models import GpuBackend

UNHEALTHY_BACKOFF = timedelta(seconds=30)


@dataclass(frozen=True)
class BackendSpec:
    kind: str
    url: str
    slots: int


def parse_gpu_backends(value: str) -> list[BackendSpec]:
    """Parse `[kind+]URL[#slots]` entries separated by commas or whitespace.

    >>> parse_gpu_backends("agent+http://gpu-1:8189#2, http://gpu-2:8188")
    [BackendSpec(kind='agent', url='http://gpu-1:8189', slots=2),
     BackendSpec(kind='agent', url='http://gpu-2:8188', slots=1)]
    """
    specs = []
    for raw in value.replace(",", " ").split():
        kind = GpuBackend.Kind.AGENT
        if "+" in raw.split("://", 1)[0]:
            kind, raw = raw.split("+", 1)
        slots = 1
        if "#" in raw:
            raw, count = raw.rsplit("#", 1)
            slots = int(count)
        if kind not in GpuBackend.Kind.values:
            raise ValueError(f"GPU_BACKENDS: unknown kind {kind!r} (use agent or comfyui)")
        if not raw.startswith(("http://", "https://")) or slots < 1:
            raise ValueError(f"GPU_BACKENDS: {raw!r} must be an http(s) URL with #slots >= 1")
        specs.append(BackendSpec(kind=kind, url=raw.rstrip("/"), slots=slots))
    return specs


def default_backend_specs() -> list[BackendSpec]:
    """GPU_BACKENDS when set; else COMFYUI_URL; else the embedded emulator."""
    if settings.GPU_BACKENDS:
        return parse_gpu_backends(settings.GPU_BACKENDS)
    if settings.COMFYUI_URL:
        return [BackendSpec(kind=GpuBackend.Kind.COMFYUI, url=settings.COMFYUI_URL.rstrip("/"), slots=1)]
    url = f"http://{settings.EMULATOR_HOST}:{settings.EMULATOR_PORT}"
    return [BackendSpec(kind=GpuBackend.Kind.COMFYUI, url=url, slots=settings.EMULATOR_SLOTS)]


def sync_env_backends(specs: list[BackendSpec] | None = None) -> list[GpuBackend]:
    """Mirror the configured backends into GpuBackend rows (from_env); others stay as the admin set them."""
    specs = default_backend_specs() if specs is None else specs
    keep = []
    for spec in specs:
        defaults = {"name": spec.url, "kind": spec.kind, "slots": spec.slots, "enabled": True,
                    "token": settings.AGENT_TOKEN}  # fmt: skip
        try:
            with transaction.atomic():
                backend, _ = GpuBackend.objects.update_or_create(url=spec.url, from_env=True, defaults=defaults)
        except IntegrityError:  # another worker starting at the same moment created it
            backend, _ = GpuBackend.objects.update_or_create(url=spec.url, from_env=True, defaults=defaults)
        keep.append(backend.pk)
    GpuBackend.objects.filter(from_env=True).exclude(pk__in=keep).update(enabled=False)
    return list(GpuBackend.objects.filter(pk__in=keep))


def active_backends():
    """Enabled backends that are not in their unhealthy back-off window."""
    now = timezone.now()
    return GpuBackend.objects.filter(enabled=True).filter(Q(unhealthy_until__isnull=True) | Q(unhealthy_until__lte=now))


def pool_backends() -> list[tuple[str, str, str, str]]:
    """(name, url, kind, token) of every usable backend: what the catalog's checks ask."""
    return [(b.name, b.url, b.kind, b.token) for b in active_backends()]


def mark_unhealthy(backend: GpuBackend, error: str) -> None:
    """Skip a backend for a while after it failed; the dispatcher tries it again afterwards."""
    GpuBackend.objects.filter(pk=backend.pk).update(
        healthy=False,
        last_error=error[:2000],
        last_checked_at=timezone.now(),
        unhealthy_until=timezone.now() + UNHEALTHY_BACKOFF,
    )


def mark_healthy(backend: GpuBackend) -> None:
    if not backend.healthy or backend.unhealthy_until:
        GpuBackend.objects.filter(pk=backend.pk).update(
            healthy=True, last_error="", last_checked_at=timezone.now(), unhealthy_until=None
        )


EMULATOR_PROBE_TIMEOUT = 2.0
ANY_EMULATED_CACHE_KEY = "jobs:any-emulated-backend"


def probe_emulated(
    backend: GpuBackend, timeout: float = EMULATOR_PROBE_TIMEOUT, client: httpx.Client | None = None
) -> bool | None:
    """Ask whether the backend (or the ComfyUI behind an agent) is the emulator and record it.

    The emulator answers `/emulator/info`; a real ComfyUI says 404 (an agent passes the path on).
    None when the backend could not be asked: what was known stays.
    """
    headers = {"Authorization": f"Bearer {backend.token}"} if backend.token else {}
    url = backend.url.rstrip("/") + "/emulator/info"
    try:
        response = (client or httpx).get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError:
        return None
    if response.status_code >= 500:
        return None
    try:
        emulated = response.status_code == 200 and response.json().get("emulator") is True
    except (ValueError, AttributeError):
        emulated = False
    if emulated != backend.emulated:
        GpuBackend.objects.filter(pk=backend.pk).update(emulated=emulated)
        backend.emulated = emulated
        cache.delete(ANY_EMULATED_CACHE_KEY)
    return emulated


def probe_all_emulated() -> None:
    """Refresh `emulated` for every enabled backend (a worker does this when it starts).

    One client for all: building a TLS context per request would cost more than the requests.
    """
    with httpx.Client(timeout=EMULATOR_PROBE_TIMEOUT) as client:
        for backend in GpuBackend.objects.filter(enabled=True):
            probe_emulated(backend, client=client)


def any_emulated_backend() -> bool:
    """Whether pages should say that images come from the emulator (cached: every page asks).

    With the cache (Redis) away, the database answers: pages do not fail because Redis blinked.
    """
    try:
        cached = cache.get(ANY_EMULATED_CACHE_KEY)
    except Exception:  # the cache backend's own errors (redis-py's): nothing cached then
        cached = None
    if cached is not None:
        return cached
    emulated = GpuBackend.objects.filter(enabled=True, emulated=True).exists()
    with contextlib.suppress(Exception):
        cache.set(ANY_EMULATED_CACHE_KEY, emulated, 30)
    return emulated
