"""Downloading from URLs that visitors or API clients give, without reaching private networks (SSRF).

The agent fetches image inputs given as URLs, the web API fetches pictures named by URL, and the
agent calls webhooks; all three go through here so one set of checks guards every outbound request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlparse

import httpx

DEFAULT_FETCH_TIMEOUT = 20.0
DEFAULT_MAX_REDIRECTS = 3


class FetchError(ValueError):
    """A URL may not or could not be fetched; the message says why."""


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one download: size, time, redirects, and hosts exempt from the address check."""

    max_bytes: int
    timeout: float = DEFAULT_FETCH_TIMEOUT
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    allow_hosts: frozenset[str] = field(default_factory=frozenset)


def is_public_address(address: str) -> bool:
    """Only globally routable unicast addresses may be fetched (no loopback, private, metadata...)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_url_target(url: str, policy: FetchPolicy) -> None:
    """Refuse URLs whose host resolves to a non-public address (SSRF), unless allowlisted."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise FetchError(f"only http(s) URLs are accepted: {url[:100]}")
    host = parsed.hostname
    if host in policy.allow_hosts:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parsed.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host}") from exc
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(is_public_address(a) for a in addresses):
        raise FetchError(f"URL host {host} is not a public address; refused")


async def fetch_url(url: str, policy: FetchPolicy, client: httpx.AsyncClient | None = None) -> bytes:
    """Download `url` with SSRF checks on every hop, a byte limit and a time limit."""
    own = client is None
    client = client or httpx.AsyncClient(timeout=policy.timeout, follow_redirects=False)
    try:
        async with asyncio.timeout(policy.timeout):
            for _hop in range(policy.max_redirects + 1):
                await check_url_target(url, policy)
                async with client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"URL answered HTTP {response.status_code}")
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > policy.max_bytes:
                            raise FetchError(f"URL is larger than {policy.max_bytes} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks)
            raise FetchError("URL redirects too many times")
    except TimeoutError as exc:
        raise FetchError("URL took too long to download") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"URL could not be fetched: {exc}") from exc
    finally:
        if own:
            await client.aclose()
