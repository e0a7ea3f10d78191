"""Container health probe: exit 0 when the target answers, 1 otherwise. Standard library only.

    python probe.py /api/health                      # the agent on 127.0.0.1:$AGENT_PORT (default 8189)
    python probe.py http://127.0.0.1:8188/system_stats
    python probe.py tcp://127.0.0.1:8000             # the web role accepts connections

HTTP targets succeed on a 2xx answer. When AGENT_TOKEN is set it is sent as a bearer token, so the
probe works whether or not the agent asks for it on its health routes. Images run it from HEALTHCHECK,
compose from `healthcheck:`; Kubernetes and Function Compute probe the agent's routes directly.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TIMEOUT = float(os.environ.get("PROBE_TIMEOUT", "5"))


def target_url(target: str) -> str:
    """A bare path means the agent of this container."""
    if target.startswith("/"):
        return f"http://127.0.0.1:{os.environ.get('AGENT_PORT') or '8189'}{target}"
    return target


def probe_tcp(url: str) -> tuple[bool, str]:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=TIMEOUT):
            return True, "accepting connections"
    except OSError as exc:
        return False, str(exc)


def probe_http(url: str) -> tuple[bool, str]:
    request = urllib.request.Request(url, headers={"User-Agent": "comfyweb-probe"})  # noqa: S310 - http(s) only
    token = os.environ.get("AGENT_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(request, timeout=TIMEOUT) as response:
            return 200 <= response.status < 300, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, str(getattr(exc, "reason", exc))


def probe(target: str) -> tuple[bool, str]:
    """(healthy, what was seen) for a path, an http(s) URL or a tcp:// address."""
    url = target_url(target)
    scheme = urlsplit(url).scheme
    if scheme == "tcp":
        return probe_tcp(url)
    if scheme in ("http", "https"):
        return probe_http(url)
    return False, f"unsupported target {target!r} (use /path, http(s)://… or tcp://host:port)"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(__doc__ or "")
        return 2
    healthy, detail = probe(argv[1])
    print(f"{target_url(argv[1])}: {detail}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
