"""Every command a descriptor runs is one the code has, with arguments its parser accepts."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, get_commands, load_command_class

from tests.deploy.descriptors import (
    MODULE_COMMANDS,
    compose,
    containers,
    dockerfile,
    exec_form,
    k8s_by_kind,
    module_parser,
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
                if not command:
                    continue  # the image's CMD, checked below
                found += [(f"k8s:{workload['metadata']['name']}", cmd) for cmd in shell_commands(command)]
    for name in ("web.Dockerfile", "agent.Dockerfile"):
        (cmd,) = [i for i in dockerfile(name) if i.keyword == "CMD"]
        found.append((f"{name}:CMD", exec_form(cmd)))
    return found


INVOCATIONS = _invocations()


def test_the_descriptors_run_web_worker_agent_emulator_and_migrations():
    commands = {" ".join(cmd[:3]) for _, cmd in INVOCATIONS}
    for management in ("web", "runjobs", "migrate"):
        assert any(c.endswith(f"manage.py {management}") for c in commands), management
    for module in ("comfyweb.agent", "comfyweb.emulator"):  # they run without Django settings
        assert any(c.endswith(f"-m {module}") for c in commands), module


def _parse(parser, args: list[str], where: str) -> None:
    """argparse exits on an unknown option or a bad value: make that a failure that names the descriptor."""
    try:
        parser.parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"{where}: {parser.prog} refuses {args} (exit {exc.code})")


@pytest.mark.parametrize(("where", "command"), INVOCATIONS, ids=[w for w, _ in INVOCATIONS])
def test_command_exists_and_accepts_its_arguments(where, command):
    program = command[0].rsplit("/", 1)[-1]
    assert program.startswith("python"), f"{where}: unexpected program {command[0]}"
    if command[1] == "-m":
        module = command[2]
        assert module in MODULE_COMMANDS, f"{where}: python -m {module} is not one of our commands"
        _parse(module_parser(module), command[3:], where)
        return
    assert command[1] == "manage.py", where
    name = command[2]
    available = get_commands()
    assert name in available, f"{where}: manage.py has no command {name!r}"
    parser = load_command_class(available[name], name).create_parser("manage.py", name)
    parser.parse_args(command[3:])  # raises CommandError on an unknown option or a bad value


def test_an_unknown_option_is_refused_by_the_same_check():
    """The check above has teeth: a wrong flag makes the command parser fail."""
    available = get_commands()
    parser = load_command_class(available["emulator"], "emulator").create_parser("manage.py", "emulator")
    with pytest.raises(CommandError, match="--listen"):
        parser.parse_args(["--listen", "0.0.0.0"])


def test_an_unknown_option_of_a_module_command_is_refused(capsys):
    """The same for `python -m comfyweb.agent`: its parser is the one the process uses."""
    with pytest.raises(pytest.fail.Exception, match="refuses"):
        _parse(module_parser("comfyweb.agent"), ["--listen", "0.0.0.0"], "test")
    assert "--listen" in capsys.readouterr().err
