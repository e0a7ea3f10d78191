"""Every command a descriptor runs is one the code has, with arguments its parser accepts."""

from __future__ import annotations

import importlib
import warnings

import pytest
from django.core.management import CommandError, get_commands, load_command_class

from tests.deploy.descriptors import (
    compose,
    containers,
    dockerfile,
    exec_form,
    k8s_by_kind,
    shell_commands,
)


def _invocations() -> list[tuple[str, list[str]]]:
    found = []
    for name, service in compose()["services"].items():
        if "command" in service and "build" in service:  # our image; postgres/redis are theirs
            found += [(f"compose:{name}", cmd) for cmd in shell_commands(service["command"])]
    for kind in ("Deployment", "Job"):
        for workload in k8s_by_kind(kind):
            for container in containers(workload):
                command = [*container.get("command", []), *container.get("args", [])]
                found += [(f"k8s:{workload['metadata']['name']}", cmd) for cmd in shell_commands(command)]
    for name in ("web.Dockerfile", "agent.Dockerfile"):
        (cmd,) = [i for i in dockerfile(name) if i.keyword == "CMD"]
        found.append((f"{name}:CMD", exec_form(cmd)))
    return found


INVOCATIONS = _invocations()


def test_the_descriptors_run_web_worker_agent_emulator_and_migrations():
    commands = {" ".join(cmd[:3]) for _, cmd in INVOCATIONS}
    assert any(c.startswith("daphne") for c in commands)
    for management in ("runjobs", "agent", "emulator", "migrate"):
        assert any(c.endswith(f"manage.py {management}") for c in commands), management


@pytest.mark.parametrize(("where", "command"), INVOCATIONS, ids=[w for w, _ in INVOCATIONS])
def test_command_exists_and_accepts_its_arguments(where, command):
    program = command[0].rsplit("/", 1)[-1]
    if program == "daphne":
        from daphne.cli import CommandLineInterface

        args = CommandLineInterface().parser.parse_args(command[1:])
        module, _, attribute = args.application.partition(":")
        with warnings.catch_warnings():  # WhiteNoise warns that this checkout has no collected static files
            warnings.simplefilter("ignore")
            assert getattr(importlib.import_module(module), attribute) is not None
        return
    assert program.startswith("python"), f"{where}: unexpected program {command[0]}"
    assert command[1] == "manage.py", where
    name = command[2]
    available = get_commands()
    if name == "agent" and name not in available:
        pytest.skip("the agent command (issue 3) is not in the tree yet")
    assert name in available, f"{where}: manage.py has no command {name!r}"
    parser = load_command_class(available[name], name).create_parser("manage.py", name)
    parser.parse_args(command[3:])  # raises CommandError on an unknown option or a bad value


def test_an_unknown_option_is_refused_by_the_same_check():
    """The check above has teeth: a wrong flag makes the command parser fail."""
    available = get_commands()
    parser = load_command_class(available["emulator"], "emulator").create_parser("manage.py", "emulator")
    with pytest.raises(CommandError, match="--listen"):
        parser.parse_args(["--listen", "0.0.0.0"])
