"""Image inputs given as URLs, data URLs or base64 become ComfyUI uploads; refused ones are a 400."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import textwrap

import pytest
from aiohttp import web
from PIL import Image

from comfyweb.comfy.inputs import InputError, data_url_type, decode_base64_image
from tests.agent.conftest import data_url, http_site, load_image_prompt, png_bytes


async def _run(server, prompt: dict):
    async with server.client() as client:
        return await client.post("/api/run", json=prompt)


async def test_a_data_url_is_uploaded_under_its_content_hash(agent, emulator):
    picture = png_bytes((20, 10), "white")
    answer = await _run(agent, load_image_prompt(data_url(picture)))
    assert answer.status_code == 200, answer.text
    (uploaded,) = [path for path in emulator.input_dir.iterdir() if path.name.startswith("cw_")]
    assert uploaded.read_bytes() == picture
    result = Image.open(io.BytesIO(base64.b64decode(answer.json()["3"]["results"][0])))
    assert result.size == (20, 10) and result.getpixel((0, 0)) == (0, 0, 0), "the white input was inverted"


async def test_bare_base64_works_and_the_same_picture_is_uploaded_once(agent, emulator):
    picture = png_bytes((24, 24), "yellow")
    prompt = load_image_prompt(base64.b64encode(picture).decode())
    prompt["4"] = {"class_type": "LoadImage", "inputs": {"image": data_url(picture)}}
    prompt["5"] = {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "twice"}}
    answer = await _run(agent, prompt)
    assert answer.status_code == 200, answer.text
    assert len([path for path in emulator.input_dir.iterdir() if path.name.startswith("cw_")]) == 1


async def test_a_short_file_name_stays_a_file_name(agent, emulator):
    (emulator.input_dir / "a.png").write_bytes(png_bytes())
    answer = await _run(agent, load_image_prompt("a.png"))
    assert answer.status_code == 200, answer.text
    assert not [path for path in emulator.input_dir.iterdir() if path.name.startswith("cw_")]


async def test_an_allowlisted_url_is_fetched(start_agent, emulator):
    picture = png_bytes((8, 8), "purple")

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=picture, content_type="image/png")

    async with http_site([web.get("/p.png", image)]) as site, start_agent(fetch_allow_hosts=("127.0.0.1",)) as server:
        answer = await _run(server, load_image_prompt(f"{site}/p.png"))
        async with server.client() as client:
            metrics = (await client.get("/metrics")).text
    assert answer.status_code == 200, answer.text
    assert f'comfyweb_agent_input_fetch_bytes_total{{source="url"}} {float(len(picture))}' in metrics


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x.png", "http://10.0.0.1/x.png", "http://169.254.169.254/latest/meta-data"]
)
async def test_urls_to_private_addresses_are_refused(agent, url):
    answer = await _run(agent, load_image_prompt(url))
    assert answer.status_code == 400
    body = answer.json()
    assert body["message"] == "RequestParamsError"
    assert "not a public address" in body["error"]["message"]
    assert body["progress"][""]["status"] == "failed"


async def test_a_redirect_to_loopback_is_refused(start_agent):
    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{request.url.port}/inside.png")

    async with http_site([web.get("/hop", hop)]) as site, start_agent(fetch_allow_hosts=("localhost",)) as server:
        answer = await _run(server, load_image_prompt(site.replace("127.0.0.1", "localhost") + "/hop"))
    assert answer.status_code == 400
    assert "127.0.0.1" in answer.json()["error"]["message"]


async def test_a_decompression_bomb_is_refused(start_agent):
    buffer = io.BytesIO()
    Image.new("L", (6000, 6000)).save(buffer, "PNG")  # tiny file, 36 Mpx
    async with start_agent(max_image_pixels=1_000_000) as server:
        answer = await _run(server, load_image_prompt(data_url(buffer.getvalue())))
    assert answer.status_code == 400
    assert "node 1" in answer.json()["error"]["message"]


async def test_text_that_is_not_an_image_is_refused(agent):
    answer = await _run(agent, load_image_prompt(data_url(b"not a picture at all" * 10, "image/png")))
    assert answer.status_code == 400 and answer.json()["message"] == "RequestParamsError"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("data:image/png," + "A" * 80, "must be base64-encoded"),
        ("data:image/png;base64," + "A" * 79 + "!", "not valid base64"),
        ("data:image/png;base64,AAAA=AAA" + "A" * 64, "not valid base64"),
    ],
)
def test_malformed_base64_is_refused_with_the_reason(value, reason):
    with pytest.raises(InputError, match=reason):
        decode_base64_image(value)


def test_base64_may_be_wrapped_over_lines():
    picture = png_bytes()
    wrapped = "\n".join(textwrap.wrap(base64.b64encode(picture).decode(), 76))
    assert decode_base64_image("data:image/png;base64," + wrapped) == picture
    assert decode_base64_image(wrapped) == picture
    assert data_url_type("data:image/webp;base64,AAAA") == "image/webp"
    assert data_url_type("data:;base64,AAAA") == ""
    assert data_url_type("data:image/png,AAAA") is None


def streaming_image(chunk: bytes, count: int, pause: float, written: list):
    """A handler that streams `count` chunks without a Content-Length (nothing to trust up front),
    noting each chunk it got out before the client hung up."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(count):
                await response.write(chunk)
                written.append(len(chunk))
                await asyncio.sleep(pause)
        return response

    return handler


async def test_a_download_beyond_the_size_limit_is_cut_off(start_agent):
    sent: list[int] = []
    endless = streaming_image(b"\0" * 65536, 1000, 0, sent)  # 64 MB if nobody stopped reading
    async with (
        http_site([web.get("/big.png", endless)]) as site,
        start_agent(fetch_allow_hosts=("127.0.0.1",), max_image_bytes=1_000_000) as server,
    ):
        answer = await _run(server, load_image_prompt(f"{site}/big.png"))
    assert answer.status_code == 400
    assert "larger than 1000000 bytes" in answer.json()["error"]["message"]
    assert sum(sent) < 16_000_000, "the agent stopped reading soon after the limit"


async def test_a_download_that_takes_too_long_is_given_up(start_agent):
    written: list[int] = []
    trickle = streaming_image(b"\x89PNG", 100, 0.1, written)  # 10 s in all
    async with (
        http_site([web.get("/slow.png", trickle)]) as site,
        start_agent(fetch_allow_hosts=("127.0.0.1",), fetch_timeout=0.5) as server,
    ):
        answer = await _run(server, load_image_prompt(f"{site}/slow.png"))
    assert answer.status_code == 400
    assert "took too long" in answer.json()["error"]["message"]
    assert len(written) < 100, "the agent hung up instead of waiting for the whole trickle"


async def test_pictures_are_decoded_off_the_event_loop(agent, emulator, monkeypatch):
    """A large picture's base64 decode and check take a while: on the event loop they would stall every other
    run and request."""
    from comfyweb.comfy import inputs

    on_event_loop = []
    check, decode = inputs.inspect_image, inputs.decode_base64_image

    def note_where() -> None:
        try:
            asyncio.get_running_loop()
            on_event_loop.append(True)
        except RuntimeError:
            on_event_loop.append(False)

    def watched(*args, **kwargs):
        note_where()
        return check(*args, **kwargs)

    def watched_decode(value):
        note_where()
        return decode(value)

    monkeypatch.setattr(inputs, "inspect_image", watched)
    monkeypatch.setattr(inputs, "decode_base64_image", watched_decode)
    answer = await _run(agent, load_image_prompt(data_url(png_bytes((20, 10), "white"))))
    assert answer.status_code == 200, answer.text
    assert on_event_loop == [False, False]  # the base64 decode, then the picture's check
