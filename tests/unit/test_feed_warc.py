"""WARC and ARC crawls to raw items: HTML responses become items, other records are skipped and counted."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from agents.feeds import read_records, resolve
from pipeline.feeds import Broken, Entry, Skipped, parse_warc, warc_fast
from pipeline.feeds.warc import _parse_warcio

# warcio's writer spools record payloads to temporary files it never closes: the writer's, not the reader's.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function SpooledTemporaryFile.__del__:pytest.PytestUnraisableExceptionWarning"
)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
PAGE = (
    b'<!DOCTYPE html><html lang="de-AT"><head><meta charset="windows-1252"><title>Wien &amp; Welt</title>'
    b'<meta property="article:published_time" content="2024-02-01T07:00:00+01:00"></head>'
    b"<body><p>Gr\xfc\xdfe aus Wien.</p></body></html>"
)


def _crawl(path: Path) -> None:
    """A CC-NEWS-like crawl: one gzip member per record, the kinds of record a real crawl holds."""
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warcinfo_record("crawl.warc.gz", {"software": "test"}))

        def response(url: str, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
            http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
            writer.write_record(record)

        request = StatusAndHeaders("GET /a HTTP/1.1", [("Host", "news.example.at")], is_http_request=True)
        writer.write_record(writer.create_warc_record("https://news.example.at/a", "request", http_headers=request))
        response("https://news.example.at/a", "200 OK", [("Content-Type", "text/html")], PAGE)
        # Chunked transfer and gzip content encoding, as servers send them (warcio's example-iana.org-chunked).
        page = gzip.compress(b"<html><head><title>Chunked</title></head><body><p>Body.</p></body></html>")
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(page), page)
        response(
            "https://news.example.at/b", "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Transfer-Encoding", "chunked"),
             ("Content-Encoding", "gzip")], chunked,
        )  # fmt: skip
        response("https://news.example.at/logo.png", "200 OK", [("Content-Type", "image/png")], b"\x89PNG....")
        response("https://news.example.at/gone", "404 Not Found", [("Content-Type", "text/html")], b"<html>404</html>")
        writer.write_record(
            writer.create_warc_record("metadata://x", "metadata", payload=io.BytesIO(b"k: v"), warc_content_type="text")
        )


def test_html_responses_become_items_and_every_other_record_is_skipped_by_kind(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    _crawl(path)
    records = list(read_records(resolve([str(path)]), max_bytes=2_000_000))
    assert {r.file.format for r in records} == {"warc"}
    items = [r.item for r in records if r.item is not None]
    skipped = sorted(r.problem.reason for r in records if isinstance(r.problem, Skipped))
    assert skipped == ["http_status", "metadata", "not_html", "request", "warcinfo"]
    first, second = items
    assert first == {
        "id": "https://news.example.at/a",
        "url": "https://news.example.at/a",
        "title": "Wien & Welt",
        "published_at": "2024-02-01T07:00:00+01:00",  # the page's own time, over WARC-Date
        "body": PAGE.decode("cp1252"),  # the charset the page declares
        "source": "news.example.at",
        "language": "de-AT",
    }
    assert second["body"].startswith("<html><head><title>Chunked")  # de-chunked and gunzipped
    assert second["published_at"].endswith("Z")  # no date in the page: WARC-Date
    # Positions are byte offsets in the file, increasing.
    offsets = [r.number for r in records]
    assert offsets == sorted(offsets)
    assert len(set(offsets)) == len(offsets)


def test_a_crawl_gzipped_as_one_stream_is_read_too(tmp_path: Path) -> None:
    per_record = tmp_path / "crawl.warc.gz"
    _crawl(per_record)
    one_stream = tmp_path / "one.warc.gz"
    one_stream.write_bytes(gzip.compress(gzip.decompress(per_record.read_bytes())))
    items = [r.item["id"] for r in read_records(resolve([str(one_stream)]), max_bytes=2_000_000) if r.item]
    assert items == ["https://news.example.at/a", "https://news.example.at/b"]


def test_a_truncated_crawl_reports_the_broken_record_and_keeps_what_came_before(tmp_path: Path) -> None:
    # An interrupted download: the gzip stream ends inside the second page's record.
    full = tmp_path / "full.warc.gz"
    _crawl(full)
    data = full.read_bytes()
    with full.open("rb") as stream:
        offsets = [r.number for r in parse_warc(stream, 2_000_000)]
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[: offsets[3] + (offsets[4] - offsets[3]) // 2])
    with path.open("rb") as stream:
        parsed = list(parse_warc(stream, 2_000_000))
    assert [p.item["id"] for p in parsed if isinstance(p, Entry)] == ["https://news.example.at/a"]
    assert isinstance(parsed[-1], Broken)
    assert parsed[-1].reason == "truncated_record"


def test_a_page_over_the_limit_is_broken_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    _crawl(path)
    with path.open("rb") as stream:
        parsed = list(parse_warc(stream, 60))
    assert [p.reason for p in parsed if isinstance(p, Broken)] == ["too_large", "too_large"]


def test_arc_files_map_like_warc() -> None:
    records = list(read_records(resolve([str(FIXTURES / "example.arc")]), max_bytes=2_000_000))
    assert [r.problem.reason for r in records if r.problem is not None] == ["warcinfo"]
    [item] = [r.item for r in records if r.item is not None]
    assert item["url"] == "http://arc.example.com/page"
    assert item["published_at"] == "2014-02-16T05:02:21Z"
    assert (item["title"], item["language"]) == ("ARC page", "en")


def _both(data: bytes, max_bytes: int = 2_000_000) -> tuple[list[object], list[object]]:
    """What parse_warc yields (FastWARC where it can) and what warcio alone yields, for the same bytes."""
    return list(parse_warc(io.BytesIO(data), max_bytes)), list(_parse_warcio(io.BytesIO(data), max_bytes))


def test_fastwarc_reads_only_warc_gzipped_per_record(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    _crawl(path)
    data = path.read_bytes()
    assert warc_fast.readable(io.BytesIO(data))
    assert not warc_fast.readable(io.BytesIO(gzip.decompress(data)))  # uncompressed: warcio
    assert not warc_fast.readable(io.BytesIO((FIXTURES / "example.arc").read_bytes()))
    assert not warc_fast.readable(io.BytesIO(gzip.compress(b"filedesc://x 0.0.0.0 2014 text/plain 1\n")))


def test_fastwarc_and_warcio_give_the_same_records_whole_cut_anywhere_or_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    _crawl(path)
    data = path.read_bytes()
    fast, slow = _both(data)
    assert fast == slow
    assert [p.reason for p in fast if isinstance(p, Skipped)] == [
        "warcinfo",
        "request",
        "not_html",
        "http_status",
        "metadata",
    ]
    assert _both(data, 60)[0] == _both(data, 60)[1]
    for cut in range(1, len(data), 37):  # interrupted downloads: inside headers, payloads, gzip trailers
        fast, slow = _both(data[:cut])
        assert fast == slow, cut


def test_a_record_fastwarc_does_not_vouch_for_is_mapped_by_warcio(tmp_path: Path) -> None:
    # A target URI that is not ASCII (warcio reads headers as Latin-1, FastWARC as UTF-8) and a chunked page.
    path = tmp_path / "crawl.warc.gz"
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        page = b"<html><head><title>Caf\xc3\xa9</title></head><body><p>Text.</p></body></html>"
        record = writer.create_warc_record("https://news.example.at/caf\xe9", "response", payload=io.BytesIO(page),
                                           http_headers=http)  # fmt: skip
        writer.write_record(record)
    fast, slow = _both(path.read_bytes())
    assert fast == slow
    [entry] = fast
    assert isinstance(entry, Entry)
    assert entry.item["title"] == "Café"
