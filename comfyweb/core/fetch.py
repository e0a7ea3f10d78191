"""Outbound HTTP to URLs that visitors or API clients give, without reaching private networks (SSRF).

The agent fetches image inputs given as URLs, the web API fetches pictures named by URL, and the
agent calls webhooks; all three go through here so one set of checks guards every outbound request:

* only http(s); the host must resolve to public addresses only (no loopback, private, link-local,
  metadata, multicast...), also when written in an IPv6 form that embeds an IPv4 address
  (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4, Teredo);
* the connection goes to the very address that passed the check (DNS rebinding cannot swap it):
  the request is sent to that IP, with the name kept in the `Host` header and in TLS (SNI and the
  certificate check); every redirect is checked and pinned again;
* proxy variables of the environment (`HTTP_PROXY`...) are ignored: they would let the request
  leave through a proxy that reaches what the check refuses. A proxy is used only when the caller's
  policy names one (the agent's `AGENT_EGRESS_PROXY`); the proxy then connects by name, so it must
  do its own egress filtering;
* a byte limit and one time limit for the whole exchange, redirects included.

`allow_hosts` exempts named hosts from the address check (an image server on the LAN); they are
still pinned.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urljoin

import certifi
import httpx

DEFAULT_FETCH_TIMEOUT = 20.0
DEFAULT_MAX_REDIRECTS = 3

NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class FetchError(ValueError):
    """A URL may not or could not be fetched; the message says why."""


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one exchange: size, time, redirects, hosts exempt from the address check, egress proxy."""

    max_bytes: int
    timeout: float = DEFAULT_FETCH_TIMEOUT
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    allow_hosts: frozenset[str] = field(default_factory=frozenset)
    proxy: str | None = None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, NAT64, 6to4, Teredo client), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64_WELL_KNOWN or ip in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def is_public_address(address: str) -> bool:
    """Only globally routable unicast addresses may be reached (no loopback, private, metadata...).

    An IPv6 address that embeds an IPv4 one is judged by that IPv4 address (and `::`, `::1` and the
    local-use NAT64 prefix are never public).
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL_USE:
            return False
        if ip in IPV4_COMPATIBLE and int(ip) <= 1:  # :: and ::1
            return False
        inner = embedded_ipv4(ip)
        if inner is not None:
            ip = inner
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (one DNS lookup). Tests replace it with a stub resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(f"not a valid URL: {url[:100]}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError(f"only http(s) URLs are accepted: {url[:100]}")
    return parsed


async def checked_address(url: str, policy: FetchPolicy) -> str:
    """The address to connect to for `url`, after the SSRF check; raises FetchError.

    Every address the name resolves to must be public (a name that also resolves to a private
    address is refused, whichever one a later lookup would pick), unless the host is allowlisted.
    """
    parsed = _parse(url)
    host = parsed.host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host}") from exc
    if not addresses:
        raise FetchError(f"cannot resolve host {host}")
    if host not in policy.allow_hosts:
        for address in addresses:
            try:
                public = is_public_address(address)
            except ValueError:
                public = False
            if not public:
                # Never the address itself: a refusal must not tell a caller what an internal name resolves to.
                raise FetchError(f"URL host {host} is not a public address; refused")
    return addresses[0]


async def check_url_target(url: str, policy: FetchPolicy) -> None:
    """Refuse URLs whose host resolves to a non-public address (SSRF), unless allowlisted."""
    await checked_address(url, policy)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context (certifi's CAs) for every outbound client of the process."""
    return ssl.create_default_context(cafile=certifi.where())


def outbound_client(policy: FetchPolicy) -> httpx.AsyncClient:
    """The client for outbound requests: no environment proxies, no automatic redirects."""
    return httpx.AsyncClient(
        timeout=policy.timeout,
        follow_redirects=False,
        trust_env=False,
        proxy=policy.proxy or None,
        verify=_ssl_context(),
    )


def _pinned_request(
    client: httpx.AsyncClient, method: str, url: str, address: str, policy: FetchPolicy, **kwargs
) -> httpx.Request:
    """A request for `url` that connects to `address` (the name stays in Host and TLS).

    Through an egress proxy the request names the host (the proxy connects; TLS must match the name).
    """
    parsed = _parse(url)
    if policy.proxy:
        return client.build_request(method, parsed, **kwargs)
    headers = httpx.Headers(kwargs.pop("headers", None))
    headers["Host"] = parsed.netloc.decode("ascii")
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return client.build_request(method, parsed.copy_with(host=address), headers=headers, extensions=extensions,
                                **kwargs)  # fmt: skip


@contextlib.asynccontextmanager
async def pinned_stream(
    client: httpx.AsyncClient, method: str, url: str, policy: FetchPolicy, **kwargs
) -> AsyncIterator[httpx.Response]:
    """One request (no redirect following) to the checked, pinned address of `url`; the response streams."""
    address = await checked_address(url, policy)
    request = _pinned_request(client, method, url, address, policy, **kwargs)
    response = await client.send(request, stream=True)
    try:
        yield response
    finally:
        await response.aclose()


async def fetch_url(url: str, policy: FetchPolicy, client: httpx.AsyncClient | None = None) -> bytes:
    """Download `url` with SSRF checks and pinning on every hop, a byte limit and a time limit."""
    own = client is None
    client = client or outbound_client(policy)
    try:
        async with asyncio.timeout(policy.timeout):
            for _hop in range(policy.max_redirects + 1):
                async with pinned_stream(client, "GET", url, policy) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"URL answered HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > policy.max_bytes:
                        raise FetchError(f"URL is larger than {policy.max_bytes} bytes")
                    body, size = bytearray(), 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > policy.max_bytes:
                            raise FetchError(f"URL is larger than {policy.max_bytes} bytes")
                        body += chunk
                    return bytes(body)
            raise FetchError("URL redirects too many times")
    except TimeoutError as exc:
        raise FetchError(f"URL took too long to download (longer than {policy.timeout:g} s)") from exc
    except httpx.HTTPError as exc:  # its text may name the address connected to: the type says enough
        raise FetchError(f"URL could not be fetched ({type(exc).__name__})") from exc
    finally:
        if own:
            await client.aclose()


async def post_url(
    url: str, policy: FetchPolicy, content: bytes, headers: dict[str, str], client: httpx.AsyncClient | None = None
) -> int:
    """POST `content` to `url` (checked and pinned, redirects not followed); the answer's status code.

    Raises FetchError when the URL may not be called, httpx.HTTPError or TimeoutError when the call failed
    (worth another try).
    """
    own = client is None
    client = client or outbound_client(policy)
    try:
        async with asyncio.timeout(policy.timeout):
            async with pinned_stream(client, "POST", url, policy, content=content, headers=headers) as response:
                return response.status_code
    finally:
        if own:
            await client.aclose()
