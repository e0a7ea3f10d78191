"""With AGENT_TOKEN set every route needs it (probes excepted); CORS only for the listed origins."""

from __future__ import annotations

import subprocess
import sys

import pytest
import websockets

from comfyweb.agent.config import AgentSettings, exposure_problem
from tests.agent.conftest import raw_request
from tests.agent.test_standalone import standalone_env
from tests.conftest import free_port
from tests.processes import BASE_DIR
from tests.prompts import CORE_WORKFLOW

TOKEN = "s3cret-token-of-the-tests"


async def test_a_missing_or_wrong_token_is_a_401_json_error(start_agent):
    async with start_agent(token=TOKEN) as server, server.client() as client:
        missing = await client.post("/api/run", json=CORE_WORKFLOW)
        wrong = await client.get("/api/status", params={"id": "x"}, headers={"Authorization": "Bearer nope"})
        proxied = await client.get("/object_info")
        scraped = await client.get("/metrics")
    for answer in (missing, wrong, proxied, scraped):
        assert answer.status_code == 401
        assert answer.json()["message"] == "UnauthorizedError"
    assert missing.headers["www-authenticate"] == "Bearer"


async def test_the_right_token_runs_and_probes_need_none(start_agent):
    async with start_agent(token=TOKEN) as server, server.client() as client:
        run = await client.post("/api/run", json=CORE_WORKFLOW, headers={"Authorization": f"Bearer {TOKEN}"})
        health = await client.get("/api/health")
        ready = await client.get("/api/ready")
    assert run.status_code == 200 and run.json()[""]["status"] == "succeeded"
    assert health.status_code == 200 and ready.status_code == 200


async def test_websockets_take_the_token_as_header_or_query(start_agent):
    async with start_agent(token=TOKEN) as server:
        with pytest.raises(websockets.InvalidStatus):
            async with server.connect():
                pass
        async with server.connect(additional_headers={"Authorization": f"Bearer {TOKEN}"}) as socket:
            await socket.send('{"1": {')
            assert '"RequestParamsError"' in await socket.recv()
        async with server.connect(f"/api/run/ws?token={TOKEN}") as socket:
            await socket.send('{"1": {')
            assert '"RequestParamsError"' in await socket.recv()


async def test_cors_answers_only_allowed_origins_and_never_with_credentials(start_agent):
    async with start_agent(cors_origins=("https://app.example",), token=TOKEN) as server, server.client() as client:
        preflight = await client.options(
            "/api/run",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, task-id, content-type"},
        )  # fmt: skip
        stranger = await client.options(
            "/api/run", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        simple = await client.get("/api/health", headers={"Origin": "https://app.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "task-id" in preflight.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in preflight.headers
    assert stranger.status_code == 400 and "access-control-allow-origin" not in stranger.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert simple.headers["access-control-expose-headers"] == "task-id"


@pytest.mark.parametrize("blank", ["", " ", "\n", " \t\r\n "])
def test_a_token_of_blanks_is_no_token_and_the_network_refuses_it(blank):
    assert AgentSettings(token=blank).token == ""
    assert exposure_problem(AgentSettings(host="0.0.0.0", token=blank)) is not None
    assert exposure_problem(AgentSettings(host="127.0.0.1", token=blank)) is None, "loopback needs no token"


def test_the_real_process_refuses_a_blank_token_on_the_network(tmp_path):
    env = {**standalone_env(tmp_path), "AGENT_TOKEN": "\n"}
    env.pop("AGENT_NO_AUTH", None)
    result = subprocess.run(
        [sys.executable, "-m", "comfyweb.agent", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "without a token" in result.stderr


def test_on_the_network_a_token_must_be_long_enough():
    assert "at least 16" in exposure_problem(AgentSettings(host="0.0.0.0", token="short-token"))
    assert exposure_problem(AgentSettings(host="0.0.0.0", token="x" * 16)) is None
    assert exposure_problem(AgentSettings(host="127.0.0.1", token="short")) is None


async def test_tokens_are_compared_without_surrounding_blanks_on_every_route(start_agent):
    async with start_agent(token=f"  {TOKEN}\n") as server, server.client() as client:
        spaced, _ = await raw_request(
            server.url, "GET", "/api/status?id=x", headers=f"Authorization: Bearer  {TOKEN} \t\r\n"
        )
        blank, _ = await raw_request(server.url, "GET", "/api/status?id=x", headers="Authorization: Bearer \t \r\n")
        by_query = await client.get("/api/status", params={"id": "x", "token": TOKEN})  # HTTP takes the header only
        for refused in ("%0A", "%20", "", f"{TOKEN}x"):
            with pytest.raises(websockets.InvalidStatus) as closed:
                async with server.connect(f"/api/run/ws?token={refused}"):
                    pass
            assert closed.value.response.status_code == 403
            with pytest.raises(websockets.InvalidStatus):
                async with server.connect(f"/ws?clientId=x&token={refused}"):
                    pass
        async with server.connect(f"/api/run/ws?token=%20{TOKEN}%0A") as socket:
            await socket.send('{"1": {')
            assert '"RequestParamsError"' in await socket.recv()
    assert spaced == 404, "the token matched: the task is unknown"
    assert blank == 401 and by_query.status_code == 401
