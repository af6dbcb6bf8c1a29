"""Commands against a broker that is not there: one line naming it, a non-zero exit, no traceback, no leak."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from agents.app import client_options
from agents.broker import EXIT_UNREACHABLE, BrokerUnreachableError, start_client
from pipeline.settings import Settings

NEWSFEED = Path(sys.executable).with_name("newsfeed")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens there


def _run(args: list[str], port: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFEED_")}
    env["NEWSFEED_BROKER"] = f"kafka://127.0.0.1:{port}"
    return subprocess.run(
        [str(NEWSFEED), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    "args",
    [
        ["replay", str(FIXTURES / "rss2.xml")],
        ["topics", "describe"],
        ["topics", "create"],
        ["subscribe", "search", "--timeout", "1"],
        ["reprocess", "--since", "2024-01-01"],
        ["poll", "--once", "feeds.txt"],
    ],
)
def test_an_unreachable_broker_is_one_line_and_exit_3(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "feeds.txt").write_text("http://127.0.0.1:9/feed.xml\n")
    port = _closed_port()
    result = _run(args, port, tmp_path)
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"newsfeed: cannot reach the Kafka broker at 127.0.0.1:{port}")
    assert "NEWSFEED_BROKER" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "/nonexistent.jsonl"], "newsfeed: /nonexistent.jsonl: no such file or directory"),
        (["process", "/nonexistent.jsonl"], "newsfeed: /nonexistent.jsonl: no such file or directory"),
        (["poll", "/nonexistent.txt"], "newsfeed: /nonexistent.txt: no such file"),
        (["replay", str(FIXTURES / "page.html")], f"newsfeed: {FIXTURES / 'page.html'}: not a feed: an HTML page"),
        (["poll", "bad-feeds.txt"], "newsfeed: bad-feeds.txt: line 2: 'ftp://x/feed' is not an http(s) URL"),
    ],
)
def test_paths_are_checked_before_connecting(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "bad-feeds.txt").write_text("# feeds\nftp://x/feed\n")
    result = _run(args, _closed_port(), tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == message  # the file, not the broker: nothing connected


@pytest.mark.parametrize("kind", [AIOKafkaProducer, AIOKafkaConsumer])
async def test_start_client_closes_what_it_could_not_start(kind: type) -> None:
    settings = Settings.from_env({"NEWSFEED_BROKER": f"kafka://127.0.0.1:{_closed_port()}"})
    client = kind(**client_options(settings))
    with pytest.raises(BrokerUnreachableError, match="cannot reach the Kafka broker"):
        await start_client(client, settings)
    del client
    gc.collect()  # an unclosed client warns here ("Unclosed AIOKafkaProducer"); warnings are errors in tests
