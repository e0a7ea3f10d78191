"""A passthrough path is normalised once, before the allowlist, and that normalised path is what ComfyUI gets.

The backend here is a bare TCP server that notes every request line exactly as it arrives, and the probes
are written on a raw socket (an HTTP client library would resolve `..` itself before sending).
"""

from __future__ import annotations

import pytest

from comfyweb.agent.proxy import PathRefused, normalize_path, passthrough_allowed
from tests.agent.conftest import raw_request, recording_backend

PROBES = [
    ("POST", "/history/../manager/reboot"),
    ("POST", "/history%2F..%2Femulator%2Ffaults"),
    ("POST", "/history/..%2Femulator%2Ffaults"),
    ("POST", "/history/%2e%2e/emulator/faults"),
    ("POST", "/history/%2E%2E/%2E%2E/emulator/faults"),
    ("GET", "/history/x/../../manager/queue/reset"),
    ("POST", "/api/../emulator/faults"),
    ("POST", "/api/history/..%2F..%2Fmanager/reboot"),
    ("POST", "//emulator/faults"),
    ("POST", "/view/./../manager/reboot"),
    ("POST", "/history/..\\manager\\reboot"),
    ("POST", "/history/..%5Cmanager%5Creboot"),
    ("GET", "/object_info/%00/../../manager"),
]


@pytest.mark.parametrize(("method", "target"), PROBES, ids=[target for _, target in PROBES])
async def test_a_path_that_leaves_the_allowlist_never_reaches_comfyui(start_agent, method, target):
    async with recording_backend() as (backend, seen), start_agent(comfyui_url=backend) as server:
        status, body = await raw_request(server.url, method, target, body=b'{"exit_mid_run": true}',
                                         headers="Content-Type: application/json\r\n")  # fmt: skip
        allowed, _ = await raw_request(server.url, "GET", "/history")  # the backend answers allowed paths
    assert status in (400, 404), (status, body)
    assert b"NotFoundError" in body or b"RequestParamsError" in body
    assert seen == ["GET /history HTTP/1.1"], f"the backend got {seen}"
    assert allowed == 200


@pytest.mark.parametrize(
    ("target", "forwarded"),
    [
        ("//history//abc", "/history/abc"),
        ("/history/./abc/", "/history/abc/"),
        ("/history/x/../abc", "/history/abc"),
        ("/api/%68istory", "/api/history"),
        ("/view?filename=a%2Fb.png&type=output", "/view?filename=a%2Fb.png&type=output"),
    ],
)
async def test_the_normalised_path_is_what_comfyui_gets(start_agent, target, forwarded):
    async with recording_backend() as (backend, seen), start_agent(comfyui_url=backend) as server:
        status, _ = await raw_request(server.url, "GET", target)
    assert status == 200
    assert seen == [f"GET {forwarded} HTTP/1.1"]


async def test_an_encoded_slash_in_a_user_data_file_name_is_kept(start_agent):
    """ComfyUI's UI saves `workflows/x.json` as one path segment, `workflows%2Fx.json`."""
    async with recording_backend() as (backend, seen), start_agent(comfyui_url=backend, passthrough_ui=True) as server:
        status, _ = await raw_request(server.url, "POST", "/api/userdata/workflows%2Fmy%20flow.json?overwrite=true",
                                      body=b"{}", headers="Content-Type: application/json\r\n")  # fmt: skip
    assert status == 200
    assert seen == ["POST /api/userdata/workflows%2Fmy%20flow.json?overwrite=true HTTP/1.1"]


def test_normalisation_is_one_form_for_the_allowlist_and_the_backend():
    assert normalize_path("/history/../manager/reboot") == "/manager/reboot"
    assert normalize_path("/a//b/./c/..//d") == "/a/b/d"
    assert normalize_path("/../../x") == "/x"
    assert normalize_path("/") == "/"
    assert normalize_path("/assets/") == "/assets/"
    for hidden in ("/history%2F..%2Fx", "/a/.%2F..", "/a/..%5Cb", "/a%00b", "/a/%ff"):
        with pytest.raises(PathRefused):
            normalize_path(hidden)
    assert not passthrough_allowed(normalize_path("/history/../manager/reboot"), "api", ui=False)
    assert passthrough_allowed(normalize_path("/history//abc"), "api", ui=False)
