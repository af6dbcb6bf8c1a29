"""A local HTTP server on 127.0.0.1 that serves feeds the way real servers misbehave; the test sets each reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Reply:
    """What one path answers."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml"
    etag: str | None = None
    """Sent with 200; a request with a matching If-None-Match gets 304."""
    last_modified: str | None = None
    redirect: str | None = None
    """Answer 301 to this path instead."""
    gate: asyncio.Event | None = None
    """Hold the request until the event is set (a hung server: never set)."""
    streamed: bool = False
    """Send the body in chunks without a Content-Length."""


@dataclass
class FeedServer:
    """Replies by path, the requests received, and how many were being answered at once."""

    base: str = ""
    replies: dict[str, Reply] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return self.base + path

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers)))
        reply = self.replies.get(request.path)
        if reply is None:
            return web.Response(status=404, text="not here")
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.changed.set()
        try:
            if reply.gate is not None:
                await reply.gate.wait()
            if reply.redirect is not None:
                raise web.HTTPMovedPermanently(self.url(reply.redirect))
            if reply.etag is not None and request.headers.get("If-None-Match") == reply.etag:
                return web.Response(status=304)
            headers = {}
            if reply.etag is not None:
                headers["ETag"] = reply.etag
            if reply.last_modified is not None:
                headers["Last-Modified"] = reply.last_modified
            if reply.streamed:
                response = web.StreamResponse(status=reply.status, headers=headers)
                response.content_type = reply.content_type
                await response.prepare(request)
                for start in range(0, len(reply.body), 4096):
                    await response.write(reply.body[start : start + 4096])
                await response.write_eof()
                return response
            return web.Response(body=reply.body, status=reply.status, headers=headers, content_type=reply.content_type)
        finally:
            self.active -= 1
            self.changed.set()

    async def wait_for(self, condition: object, within: float = 10.0) -> None:
        """Wait until ``condition()`` holds (checked whenever a request starts or ends)."""
        async with asyncio.timeout(within):
            while not condition():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def feed_server() -> AsyncIterator[FeedServer]:
    """Start a server on a free port of 127.0.0.1; stops it (and any request it holds) on exit."""
    server = FeedServer()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", server._handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.base = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        for reply in server.replies.values():
            if reply.gate is not None:
                reply.gate.set()
        await runner.cleanup()
