"""A command whose broker cannot be reached says so in one line and exits 1, with no traceback or open client."""

from __future__ import annotations

import gc
import os
import socket
from pathlib import Path

import pytest

from agents.access import refusal
from agents.broker import EXIT_UNREACHABLE
from agents.cli import main
from pipeline.settings import Settings


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (the connection is refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_broker_is_not_reported_as_a_refusal(closed_port: int) -> None:
    settings = Settings.from_env({"NEWSFEED_BROKER": f"kafka://127.0.0.1:{closed_port}"})
    assert await refusal(settings) is None


@pytest.mark.parametrize("command", [["replay", "--no-progress"], ["subscribe", "search", "--timeout", "5"]])
def test_a_command_that_cannot_reach_the_broker_says_so_in_one_line(
    command: list[str],
    closed_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key in os.environ:
        if key.startswith("NEWSFEED_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSFEED_BROKER", f"kafka://127.0.0.1:{closed_port}")
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"id": "a", "body": "Some text."}\n')
    args = [*command, str(feed)] if command[0] == "replay" else command
    assert main(args) == EXIT_UNREACHABLE
    gc.collect()  # an unclosed producer or consumer would warn here, and warnings are errors
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"newsfeed: cannot reach the Kafka broker at 127.0.0.1:{closed_port} ")
