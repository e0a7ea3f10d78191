"""The one guarded fetch (comfyweb.core.fetch) behind agent inputs, agent webhooks and the web API's picture URLs:
each bypass of the SSRF check is closed.

DNS is replaced by a stub resolver where a test needs a name to answer one way, then another (rebinding).
"""

from __future__ import annotations

import pytest
from aiohttp import web

from comfyweb.agent.stores import FileStore, InvalidTaskId, validate_task_id
from comfyweb.agent.webhooks import deliver
from comfyweb.core import fetch
from comfyweb.core.fetch import FetchError, FetchPolicy, fetch_url, is_public_address
from tests.agent.conftest import http_site, load_image_prompt, png_bytes
from tests.conftest import free_port

PUBLIC = "93.184.216.34"  # a global address nothing here listens on: connecting to it never reaches this machine
POLICY = FetchPolicy(max_bytes=1_000_000, timeout=3)


class Resolver:
    """A stub for fetch.resolve: the answers, in turn (the last one repeats), and every name asked."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def picture_site():
    """An image server on loopback that counts its requests and notes the Host header of each."""
    seen: list[str] = []
    picture = png_bytes((8, 8), "red")

    async def image(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Host", ""))
        return web.Response(body=picture, content_type="image/png")

    async def hook(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Host", ""))
        return web.Response(text="ok")

    async def proxy(request: web.Request) -> web.Response:  # an HTTP proxy gets absolute-form targets
        seen.append("proxy:" + str(request.url))
        return web.Response(body=picture, content_type="image/png")

    routes = [web.get("/p.png", image), web.post("/hook", hook), web.route("*", "/{tail:.*}", proxy)]
    return http_site(routes), seen, picture


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::", "fe80::1", "fd00::1",
        "::127.0.0.1",  # IPv4-compatible
        "::ffff:127.0.0.1", "::ffff:10.1.2.3",  # IPv4-mapped
        "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe",  # NAT64 of loopback and of the metadata address
        "64:ff9b:1::808:808",  # the local-use NAT64 prefix
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo with client 127.0.0.1
    ],
)  # fmt: skip
def test_private_addresses_are_refused_in_every_form(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert is_public_address(address)


async def test_dns_rebinding_cannot_swap_the_checked_address(monkeypatch, picture_site):
    """The name answers a public address for the check, then loopback: the connection goes to the checked one."""
    site, seen, _ = picture_site
    async with site as url:
        port = url.rsplit(":", 1)[1]
        resolver = Resolver([PUBLIC], ["127.0.0.1"])
        monkeypatch.setattr(fetch, "resolve", resolver)
        with pytest.raises(FetchError):
            await fetch_url(f"http://rebind.example:{port}/p.png", FetchPolicy(max_bytes=1_000_000, timeout=1))
    assert seen == [], "nothing reached the loopback server"
    assert resolver.asked == ["rebind.example"], "one lookup, and the connection went where it said"


async def test_the_checked_address_is_the_one_connected_and_the_name_stays_in_host(monkeypatch, picture_site):
    site, seen, picture = picture_site
    async with site as url:
        port = url.rsplit(":", 1)[1]
        resolver = Resolver(["127.0.0.1"], ["10.9.9.9"])  # a second lookup would go nowhere
        monkeypatch.setattr(fetch, "resolve", resolver)
        policy = FetchPolicy(max_bytes=1_000_000, timeout=3, allow_hosts=frozenset({"images.lan"}))
        data = await fetch_url(f"http://images.lan:{port}/p.png", policy)
    assert data == picture
    assert seen == [f"images.lan:{port}"]
    assert resolver.asked == ["images.lan"]


def test_https_keeps_the_name_for_sni_and_the_certificate():
    import httpx

    async def build():
        async with fetch.outbound_client(POLICY) as client:
            return fetch._pinned_request(client, "GET", "https://cdn.example:8443/a.png?x=1", "2606:4700::1", POLICY)

    import asyncio

    request = asyncio.run(build())
    assert request.url == httpx.URL("https://[2606:4700::1]:8443/a.png?x=1")
    assert request.headers["Host"] == "cdn.example:8443"
    assert request.extensions["sni_hostname"] == "cdn.example"


async def test_a_redirect_is_checked_and_pinned_again(monkeypatch, picture_site):
    seen: list[str] = []

    async def hop(request: web.Request) -> web.Response:
        seen.append("hop")
        raise web.HTTPFound(f"http://inside.example:{request.url.port}/p.png")

    async with http_site([web.get("/hop", hop)]) as url:
        port = url.rsplit(":", 1)[1]
        monkeypatch.setattr(fetch, "resolve", Resolver(["127.0.0.1"], ["127.0.0.1"]))
        policy = FetchPolicy(max_bytes=1_000, timeout=3, allow_hosts=frozenset({"outside.example"}))
        with pytest.raises(FetchError, match=r"inside\.example is not a public address"):
            await fetch_url(f"http://outside.example:{port}/hop", policy)
    assert seen == ["hop"]


async def test_a_refusal_never_tells_what_an_internal_name_resolves_to(monkeypatch, start_agent):
    monkeypatch.setattr(fetch, "resolve", Resolver(["10.20.30.40", "93.184.216.34"]))
    with pytest.raises(FetchError) as refused:
        await fetch_url("http://vm/p.png", POLICY)
    assert "vm is not a public address" in str(refused.value) and "10.20.30.40" not in str(refused.value)
    monkeypatch.setattr(fetch, "resolve", Resolver(["127.0.0.1"]))
    async with start_agent() as server, server.client() as client:
        answer = await client.post("/api/run", json=load_image_prompt("http://build-box.internal:9/p.png"))
        hook = await client.post("/api/run", json=load_image_prompt("x.png"), headers={"X-Callback-Url": "http://vm/h"})
    for text in (answer.text, hook.text):
        assert "not a public address" in text and "127.0.0.1" not in text


async def test_a_failed_download_names_no_address(monkeypatch):
    monkeypatch.setattr(fetch, "resolve", Resolver(["127.0.0.1"]))
    policy = FetchPolicy(max_bytes=1_000, timeout=3, allow_hosts=frozenset({"gone.example"}))
    with pytest.raises(FetchError) as failed:
        await fetch_url(f"http://gone.example:{free_port()}/p.png", policy)  # nothing listens there
    assert str(failed.value) == "URL could not be fetched (ConnectError)"


async def test_proxy_variables_of_the_environment_are_ignored(monkeypatch, picture_site):
    site, seen, picture = picture_site

    async def origin_image(request: web.Request) -> web.Response:
        return web.Response(body=picture, content_type="image/png")

    async with site as url, http_site([web.get("/p.png", origin_image)]) as origin:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        policy = FetchPolicy(max_bytes=1_000_000, timeout=3, allow_hosts=frozenset({"127.0.0.1"}))
        assert await fetch_url(f"{origin}/p.png", policy) == picture
    assert seen == [], "the environment's proxy was not used"


async def test_a_dedicated_egress_proxy_is_used(picture_site):
    site, seen, picture = picture_site
    async with site as proxy:
        policy = FetchPolicy(max_bytes=1_000_000, timeout=3, allow_hosts=frozenset({"127.0.0.1"}), proxy=proxy)
        assert await fetch_url("http://127.0.0.1:9/p.png", policy) == picture
    assert seen == ["127.0.0.1:9"], "the request for 127.0.0.1:9 went to the proxy, which answered it"


async def test_agent_inputs_use_the_guard(monkeypatch, start_agent, picture_site):
    site, seen, _ = picture_site
    async with site as url, start_agent() as server, server.client() as client:
        port = url.rsplit(":", 1)[1]
        monkeypatch.setattr(fetch, "resolve", Resolver([PUBLIC], ["127.0.0.1"]))
        answer = await client.post("/api/run", json=load_image_prompt(f"http://rebind.example:{port}/p.png"),
                                   params={"timeout": "5"})  # fmt: skip
        monkeypatch.setattr(fetch, "resolve", Resolver(["::ffff:127.0.0.1"]))
        mapped = await client.post("/api/run", json=load_image_prompt(f"http://mapped.example:{port}/p.png"))
    assert answer.status_code in (400, 504), answer.text
    assert mapped.status_code == 400 and "not a public address" in mapped.json()["error"]["message"]
    assert seen == []


async def test_agent_webhooks_use_the_guard(monkeypatch, picture_site):
    site, seen, _ = picture_site
    async with site as url:
        port = url.rsplit(":", 1)[1]
        monkeypatch.setattr(fetch, "resolve", Resolver([PUBLIC], ["127.0.0.1"]))
        rebound = await deliver(f"http://hook.example:{port}/hook", "t1", {"": {"status": "succeeded"}},
                                secret="", policy=POLICY, retry_delay=0.01)  # fmt: skip
        monkeypatch.setattr(fetch, "resolve", Resolver(["64:ff9b::7f00:1"]))
        nat64 = await deliver(f"http://nat64.example:{port}/hook", "t1", {"": {"status": "succeeded"}},
                              secret="", policy=POLICY, retry_delay=0.01)  # fmt: skip
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, "http://127.0.0.1:9")
        monkeypatch.setattr(fetch, "resolve", Resolver(["127.0.0.1"]))
        allowed = FetchPolicy(max_bytes=1_000, timeout=3, allow_hosts=frozenset({"hook.lan"}))
        delivered = await deliver(f"http://hook.lan:{port}/hook", "t1", {"": {"status": "succeeded"}},
                                  secret="", policy=allowed, retry_delay=0.01)  # fmt: skip
    assert not rebound and not nat64
    assert delivered, "delivered directly to the checked address, not through the environment's proxy"
    assert seen == [f"hook.lan:{port}"]


def test_the_web_apis_picture_urls_use_the_guard(monkeypatch, settings):
    from comfyweb.jobs.api.inputs import FieldError, _fetched_upload

    settings.API_FETCH_ALLOW_HOSTS = ()
    monkeypatch.setattr(fetch, "resolve", Resolver(["::127.0.0.1"]))
    with pytest.raises(FieldError, match="not a public address"):
        _fetched_upload("1.image", "http://compat.example/p.png")


@pytest.mark.parametrize("task_id", ["x\n", "x\r\n", "ok\nbad", "x\x00"])
def test_task_ids_end_where_they_end(tmp_path, task_id):
    with pytest.raises(InvalidTaskId):
        validate_task_id(task_id)
    store = FileStore(tmp_path / "tasks")
    with pytest.raises(InvalidTaskId):
        store.path_for(task_id)
    assert list((tmp_path / "tasks").iterdir()) == []


async def test_a_task_id_with_a_newline_is_a_400(agent):
    async with agent.client() as client:
        answer = await client.get("/api/status", params={"id": "x\n"})
    assert answer.status_code == 400 and answer.json()["message"] == "RequestParamsError"
