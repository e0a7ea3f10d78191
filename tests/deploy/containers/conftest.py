"""The compose topology of deploy/compose.yaml, once for the module (`make test-deploy`)."""

from __future__ import annotations

import pytest

from tests.deploy.containers.stack import ComposeStack, tools_missing


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
