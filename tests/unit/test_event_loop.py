"""The worker's event loop: uvloop where asked for and available, the standard loop otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agents.worker import use_event_loop


@pytest.fixture
def restored_policy() -> Iterator[None]:
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


def _new_loop_module() -> str:
    loop = asyncio.new_event_loop()
    try:
        return type(loop).__module__.split(".")[0]
    finally:
        loop.close()


@pytest.mark.usefixtures("restored_policy")
def test_uvloop_makes_the_loops_created_after_it() -> None:
    assert use_event_loop("uvloop") == "uvloop"
    assert _new_loop_module() == "uvloop"


@pytest.mark.usefixtures("restored_policy")
def test_asyncio_leaves_the_standard_loop() -> None:
    asyncio.set_event_loop_policy(None)
    assert use_event_loop("asyncio") == "asyncio"
    assert _new_loop_module() == "asyncio"
