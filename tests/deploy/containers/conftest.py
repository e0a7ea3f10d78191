"""The compose topology of deploy/compose.yaml, once for the module (`make test-deploy`)."""

from __future__ import annotations

import pytest

from tests.deploy.containers.stack import ComposeStack, tools_missing


def pytest_collection_modifyitems(config, items) -> None:
    """These tests need the images of `make images`: they run when `-m` asks for them (make test-deploy)."""
    expression = config.option.markexpr or ""
    if "containers" in expression and "not containers" not in expression:
        return
    deselected = [item for item in items if item.get_closest_marker("containers")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("containers")]


@pytest.fixture(scope="module")
def stack():
    problem = tools_missing()
    if problem:
        pytest.fail(problem)
    stack = ComposeStack()
    try:
        stack.start()
        yield stack
    finally:
        stack.save_logs()
        if stack.containers():
            stack.down()
