"""The agent's command line (`python -m comfyweb.agent`, alias `manage.py agent`): options from flags or
environment variables; stopping the agent fails in-flight tasks."""

from __future__ import annotations

import argparse

import pytest
from django.core.management import get_commands, load_command_class

from comfyweb.agent.cli import UsageError, build_parser, settings_from_options
from comfyweb.agent.config import AgentSettings, parse_image_inputs
from tests.agent.conftest import wait_for_status
from tests.prompts import sampler_workflow

DOCUMENTED = ["--host", "127.0.0.1", "--port", "9000", "--comfyui-url", "http://gpu:8188", "--store", "redis://r/1",
              "--comfyui-cmd", "python main.py --port 8188", "--concurrency", "3"]  # fmt: skip


def manage_parser():
    return load_command_class(get_commands()["agent"], "agent").create_parser("manage.py", "agent")


def _own_options(parser: argparse.ArgumentParser) -> set[str]:
    django_common = {"--version", "--verbosity", "--settings", "--pythonpath", "--traceback", "--no-color"}
    django_common |= {"--force-color", "--skip-checks", "-v", "-h", "--help"}
    return {flag for action in parser._actions for flag in action.option_strings} - django_common


def test_the_command_line_accepts_the_documented_options():
    options = build_parser().parse_args(DOCUMENTED)
    assert options.port == 9000 and options.concurrency == 3 and options.store == "redis://r/1"
    settings = settings_from_options(options)
    assert (settings.host, settings.comfyui_cmd, settings.store_url) == ("127.0.0.1", "python main.py --port 8188",
                                                                         "redis://r/1")  # fmt: skip


def test_manage_py_agent_is_an_alias_with_the_same_options():
    assert _own_options(manage_parser()) == _own_options(build_parser())
    options = vars(manage_parser().parse_args(DOCUMENTED))
    assert settings_from_options(options) == settings_from_options(build_parser().parse_args(DOCUMENTED))


def test_a_concurrency_below_one_is_refused():
    with pytest.raises(UsageError, match="at least 1"):
        settings_from_options(build_parser().parse_args(["--concurrency", "0"]))


def test_a_variable_that_is_not_a_number_is_named(monkeypatch):
    monkeypatch.setenv("AGENT_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="AGENT_TIMEOUT must be a number, not 'soon'"):
        settings_from_options(build_parser().parse_args([]))


def test_settings_come_from_the_environment_and_flags_win(monkeypatch):
    monkeypatch.setenv("AGENT_PORT", "9100")
    monkeypatch.setenv("AGENT_CONCURRENCY", "4")
    monkeypatch.setenv("AGENT_STORE", "db://")
    monkeypatch.setenv("COMFYUI_URL", "http://gpu:8188")
    monkeypatch.setenv("AGENT_TOKEN", "t")
    monkeypatch.setenv("AGENT_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("AGENT_IMAGE_INPUTS", "LoadImage.image,MyLoader.picture")
    settings = AgentSettings.from_env(port=None, concurrency=2)
    assert (settings.port, settings.concurrency, settings.store_url) == (9100, 2, "db://")
    assert settings.comfyui_url == "http://gpu:8188" and settings.token == "t"
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert ("MyLoader", "picture") in settings.input_policy().image_inputs


def test_image_input_pairs_must_name_class_and_input():
    assert parse_image_inputs("") == parse_image_inputs("LoadImage.image,LoadImageMask.image")
    with pytest.raises(ValueError, match=r"ClassType\.input"):
        parse_image_inputs("LoadImage")


async def test_stopping_the_agent_fails_tasks_in_flight_instead_of_leaving_them_running(start_agent, emulator):
    emulator.config.step_ms = 50
    async with start_agent() as server:
        async with server.client() as client:
            headers = {"X-Fc-Invocation-Type": "Async", "task-id": "left-behind"}
            await client.post("/api/run", json=sampler_workflow(steps=200), headers=headers)
        await wait_for_status(server, "left-behind", {"running"})
        store = server.agent.store
        await server.agent.stop()
        record = await store.get("left-behind")
    assert record["progress"][""]["status"] == "failed"
    assert record["progress"][""]["error"]["kind"] == "shutdown"
