"""Fetching feeds: conditional GET, redirects, errors by kind, timeout, size limit, per-host concurrency."""

from __future__ import annotations

import asyncio
import socket

import pytest

from agents.fetch import Fetcher, FetchError, FetchLimits
from tests.feed_server import Reply, feed_server

RSS = b'<rss version="2.0"><channel><title>T</title><item><guid>1</guid><description>x</description></item></channel></rss>'


async def test_conditional_get_sends_the_validators_and_reads_304() -> None:
    async with feed_server() as server, Fetcher(FetchLimits()) as fetcher:
        lm = "Mon, 01 Jan 2024 00:00:00 GMT"
        server.replies["/feed"] = Reply(RSS, etag='"v1"', last_modified=lm)
        first = await fetcher.fetch(server.url("/feed"))
        assert (first.status, first.body, first.etag, first.last_modified) == (200, RSS, '"v1"', lm)
        second = await fetcher.fetch(server.url("/feed"), first.etag, first.last_modified)
        assert (second.status, second.body) == (304, None)
        headers = server.requests[-1][1]
        assert (headers["If-None-Match"], headers["If-Modified-Since"]) == ('"v1"', lm)


async def test_redirects_are_followed_and_a_loop_is_an_error() -> None:
    async with feed_server() as server, Fetcher(FetchLimits(max_redirects=3)) as fetcher:
        server.replies["/old"] = Reply(redirect="/new")
        server.replies["/new"] = Reply(RSS)
        fetched = await fetcher.fetch(server.url("/old"))
        assert (fetched.body, fetched.url) == (RSS, server.url("/new"))
        server.replies["/a"] = Reply(redirect="/b")
        server.replies["/b"] = Reply(redirect="/a")
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(server.url("/a"))
        assert caught.value.kind == "too_many_redirects"


@pytest.mark.parametrize(
    ("status", "kind"), [(500, "http_5xx"), (503, "http_5xx"), (404, "http_4xx"), (410, "http_4xx")]
)
async def test_http_errors_by_kind(status: int, kind: str) -> None:
    async with feed_server() as server, Fetcher(FetchLimits()) as fetcher:
        server.replies["/feed"] = Reply(b"oops", status=status)
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(server.url("/feed"))
        assert caught.value.kind == kind


async def test_a_server_that_never_answers_times_out() -> None:
    async with feed_server() as server, Fetcher(FetchLimits(timeout=0.5)) as fetcher:
        server.replies["/hang"] = Reply(RSS, gate=asyncio.Event())
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(server.url("/hang"))
        assert caught.value.kind == "timeout"


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_response_over_the_size_limit_is_refused(streamed: bool) -> None:
    async with feed_server() as server, Fetcher(FetchLimits(max_bytes=10_000)) as fetcher:
        server.replies["/big"] = Reply(b"<rss>" + b"x" * 50_000 + b"</rss>", streamed=streamed)
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(server.url("/big"))
        assert caught.value.kind == "too_large"
        server.replies["/small"] = Reply(RSS, streamed=streamed)
        assert (await fetcher.fetch(server.url("/small"))).body == RSS


async def test_a_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Fetcher(FetchLimits()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(f"http://127.0.0.1:{port}/feed")
        assert caught.value.kind == "connection"


async def test_no_more_than_per_host_requests_at_once() -> None:
    async with feed_server() as server, Fetcher(FetchLimits(per_host=2)) as fetcher:
        gate = asyncio.Event()
        for n in range(5):
            server.replies[f"/f{n}"] = Reply(RSS, gate=gate)
        tasks = [asyncio.create_task(fetcher.fetch(server.url(f"/f{n}"))) for n in range(5)]
        await server.wait_for(lambda: server.active == 2)
        # A third request must not arrive while two are held: give it a bounded chance to (it would at once).
        with pytest.raises(TimeoutError):
            await server.wait_for(lambda: len(server.requests) > 2, within=0.5)
        gate.set()
        results = await asyncio.gather(*tasks)
        assert [r.body for r in results] == [RSS] * 5
        assert server.max_active == 2
