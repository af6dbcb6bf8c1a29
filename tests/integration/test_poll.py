"""``newsfeed poll`` against a local HTTP server whose feeds change, fail, hang, redirect and serve garbage.

Each case reads ``<prefix>.raw`` from its beginning to its end offsets and checks exactly what was published.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from agents.fetch import FetchLimits
from agents.poll import PollOptions, poll
from agents.poll_web import PollMetrics
from agents.replay import REPLAY_HEADER
from tests.feed_server import Reply, feed_server
from tests.integration.conftest import Stack, read_topic_to_end

pytestmark = pytest.mark.integration
NEWSFEED = Path(sys.executable).with_name("newsfeed")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


def rss(*ids: str, title: str = "Local Wire") -> bytes:
    """An RSS 2.0 feed, newest entry first as feeds list them."""
    items = "".join(
        f"<item><guid>{i}</guid><title>Story {i}</title><link>https://wire.example/{i}</link>"
        f"<description>Body of story {i}.</description><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate></item>"
        for i in reversed(ids)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}</channel></rss>'.encode()


def _feeds(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "feeds.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _sample(metrics: PollMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_each_entry_is_published_once_across_polls_and_restarts(
    make_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = make_stack()
    async with feed_server() as server:
        server.replies["/feed.xml"] = Reply(rss("a-1", "a-2", "a-3"))  # no validators: always 200
        feeds = _feeds(tmp_path, [f"{server.url('/feed.xml')}  Local Desk  5m"])
        # Each call is a new poller: it reads what was published from <prefix>.poll-state, as after a restart.
        assert await poll(stack.settings, feeds, once=True) == 0
        first = await read_topic_to_end(stack, "raw")
        assert sorted(m["value"]["id"] for m in first) == ["a-1", "a-2", "a-3"]
        assert all(m["key"] == f"local desk:{m['value']['id']}" for m in first)  # keyed by the scoped id
        assert all(REPLAY_HEADER not in m["headers"] for m in first)  # live items: they may alert
        assert {m["value"]["source"] for m in first} == {"Local Desk"}  # the list's name over the feed's title
        assert first[0]["value"]["body"].startswith("Body of story")

        server.replies["/feed.xml"] = Reply(rss("a-2", "a-3", "a-4"))  # a-1 dropped off, a-4 new
        assert await poll(stack.settings, feeds, once=True) == 0
        assert await poll(stack.settings, feeds, once=True) == 0  # unchanged: nothing more
    keys = sorted(m["value"]["id"] for m in await read_topic_to_end(stack, "raw"))
    assert keys == ["a-1", "a-2", "a-3", "a-4"]
    assert len(server.requests) == 3


async def test_304_publishes_nothing_and_counts_as_success(make_stack: Callable[..., Stack], tmp_path: Path) -> None:
    stack = make_stack()
    async with feed_server() as server:
        server.replies["/feed.xml"] = Reply(rss("e-1", "e-2"), etag='"v1"')
        feeds = _feeds(tmp_path, [server.url("/feed.xml")])
        assert await poll(stack.settings, feeds, once=True) == 0
        metrics = PollMetrics()
        assert await poll(stack.settings, feeds, once=True, metrics=metrics) == 0
        assert server.requests[-1][1].get("If-None-Match") == '"v1"'  # the ETag survived the restart
    assert _sample(metrics, "newsfeed_poll_fetches_total", feed=server.url("/feed.xml"), outcome="not_modified") == 1
    assert sorted(m["value"]["id"] for m in await read_topic_to_end(stack, "raw")) == ["e-1", "e-2"]


async def test_failures_by_kind_publish_nothing_and_a_recovered_feed_goes_on(
    make_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = make_stack()
    async with feed_server() as server:
        server.replies.update(
            {
                "/down": Reply(b"Internal error", status=500),
                "/hang": Reply(rss("never"), gate=asyncio.Event()),
                "/garbage": Reply(b"\x00\x9f\x13 binary \xff garbage", content_type="application/octet-stream"),
                "/page": Reply((FIXTURES / "page.html").read_bytes(), content_type="text/html"),
                "/big": Reply(rss(*(f"big-{n}" for n in range(2000))), streamed=True),
                "/hostile": Reply((FIXTURES / "billion-laughs.xml").read_bytes()),
                "/moved": Reply(redirect="/feed.xml"),
                "/feed.xml": Reply(rss("r-1", "r-2")),
            }
        )
        paths = ["/down", "/hang", "/garbage", "/page", "/big", "/hostile", "/moved"]
        feeds = _feeds(tmp_path, [server.url(p) for p in paths])
        options = PollOptions(limits=FetchLimits(timeout=1.0, max_bytes=64_000))
        metrics = PollMetrics()
        assert await poll(stack.settings, feeds, once=True, options=options, metrics=metrics) == 1
        expected = {
            "/down": "http_5xx", "/hang": "timeout", "/garbage": "not_a_feed", "/page": "not_a_feed",
            "/big": "too_large", "/hostile": "hostile_xml",
        }  # fmt: skip
        for path, kind in expected.items():
            assert _sample(metrics, "newsfeed_poll_errors_total", feed=server.url(path), kind=kind) == 1, path
        assert _sample(metrics, "newsfeed_poll_new_entries_total", feed=server.url("/moved")) == 2
        # Only the redirected feed's entries went out.
        assert sorted(m["value"]["id"] for m in await read_topic_to_end(stack, "raw")) == ["r-1", "r-2"]

        server.replies["/down"] = Reply(rss("d-1"))  # back up: its entries go out on the next poll
        assert await poll(stack.settings, feeds, once=True, options=options) == 1  # the others still fail
    assert sorted(m["value"]["id"] for m in await read_topic_to_end(stack, "raw")) == ["d-1", "r-1", "r-2"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    try:
        async with session.get(url) as response:
            return response.status, await response.text()
    except aiohttp.ClientConnectionError:
        return 0, ""


def _metric(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_the_service_polls_on_its_interval_and_serves_health_and_metrics(
    make_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = make_stack()
    port = _free_port()
    async with feed_server() as server, aiohttp.ClientSession() as session:
        server.replies["/feed.xml"] = Reply(rss("s-1"))
        feed = server.url("/feed.xml")
        feeds = _feeds(tmp_path, [f"{feed} Service Desk 1s"])
        env = {**stack.env, "NEWSFEED_LOG_FORMAT": "json"}
        log_path = tmp_path / "poll.log"
        log = log_path.open("wb")
        proc = await asyncio.create_subprocess_exec(
            str(NEWSFEED), "poll", feeds, "--port", str(port), env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        new = f'newsfeed_poll_new_entries_total{{feed="{feed}"}}'
        ok = f'newsfeed_poll_fetches_total{{feed="{feed}",outcome="ok"}}'
        try:
            # Each poll is a request to the feed server: wait for the next one, then read the metrics.
            text = ""
            for target in (1, 2):
                seen = len(server.requests)
                while _metric(text, new) < target:
                    assert proc.returncode is None, log_path.read_text()
                    await server.wait_for(lambda n=seen: len(server.requests) > n, within=60)
                    seen = len(server.requests)
                    _, text = await _get(session, f"http://127.0.0.1:{port}/metrics")
                server.replies["/feed.xml"] = Reply(rss("s-1", "s-2"))
            assert _metric(text, ok) >= 2
            assert _metric(text, f'newsfeed_poll_last_success_timestamp_seconds{{feed="{feed}"}}') > 0
            status, body = await _get(session, f"http://127.0.0.1:{port}/health")
            assert status == 200
            assert '"failures":0' in body
        finally:
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 30)
            log.close()
        assert code == 0, log_path.read_text()
    assert sorted(m["value"]["id"] for m in await read_topic_to_end(stack, "raw")) == ["s-1", "s-2"]
