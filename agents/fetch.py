"""Fetching a feed over HTTP: conditional GET, a timeout, a size limit, redirects, a per-host limit (aiohttp)."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

import aiohttp

USER_AGENT = "newsfeed-poll/0.1 (+https://github.com/newsfeed/newsfeed)"


class FetchError(Exception):
    """A fetch that gave no feed: ``kind`` is a stable label for metrics."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        """``timeout``, ``connection``, ``http_4xx``, ``http_5xx``, ``too_large``, ``too_many_redirects``."""
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response: 200 with a body, or 304 (not modified) without."""

    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    url: str
    """The URL answered after redirects."""


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How the poller fetches."""

    timeout: float = 20.0
    """Seconds for a whole request (connect, redirects, body)."""
    max_bytes: int = 10 * 1024 * 1024
    """Largest body read (after decompression); a larger one is an error, and the rest is not read."""
    per_host: int = 2
    """Requests at once to one host."""
    max_redirects: int = 5


class Fetcher:
    """One HTTP client session shared by every feed (its connection pool enforces the per-host limit)."""

    def __init__(self, limits: FetchLimits) -> None:
        self.limits = limits
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=self.limits.per_host)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.limits.timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, "
                     "application/feed+json, application/xml;q=0.9, */*;q=0.5"},
        )  # fmt: skip
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """GET ``url`` with ``If-None-Match``/``If-Modified-Since`` when known; follows redirects.

        Raises:
            FetchError: no usable answer (timeout, connection refused, 4xx/5xx, over the size limit...).
        """
        assert self._session is not None, "use the Fetcher in an async with block"
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with self._session.get(url, headers=headers, max_redirects=self.limits.max_redirects) as response:
                if response.status == 304:
                    return Fetched(304, None, etag, last_modified, str(response.url))
                if response.status >= 400:
                    kind = "http_5xx" if response.status >= 500 else "http_4xx"
                    raise FetchError(kind, f"HTTP {response.status} {response.reason or ''}".strip())
                if response.content_length is not None and response.content_length > self.limits.max_bytes:
                    raise FetchError("too_large", f"{response.content_length} bytes announced")
                body = bytearray()
                async for chunk in response.content.iter_chunked(65_536):
                    body.extend(chunk)
                    if len(body) > self.limits.max_bytes:
                        raise FetchError("too_large", f"more than {self.limits.max_bytes} bytes")
                return Fetched(
                    response.status, bytes(body), response.headers.get("ETag"),
                    response.headers.get("Last-Modified"), str(response.url),
                )  # fmt: skip
        except aiohttp.TooManyRedirects:
            raise FetchError("too_many_redirects", f"more than {self.limits.max_redirects} redirects") from None
        except TimeoutError:
            raise FetchError("timeout", f"no complete answer within {self.limits.timeout} s") from None
        except aiohttp.ClientResponseError as error:
            raise FetchError("http_error", f"{error.status} {error.message}") from None
        except (aiohttp.ClientError, OSError) as error:
            raise FetchError("connection", f"{type(error).__name__}: {error}") from None
