"""The pure parts of search: article to index entry, --since, the request, the rendered results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.search import (
    MAX_LIMIT,
    Copy,
    Hit,
    NotAnArticleError,
    hit_json,
    hit_pretty,
    index_entry,
    parse_since,
    search_request,
    source_key,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def article(**fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": "a1",
        "source": "Test Wire",
        "url": "https://news.example.com/a/1",
        "title": "Trade talks end without deal",
        "body": "Officials ended two days of talks on chip tariffs.",
        "published_at": "2026-11-29T10:00:00+00:00",
        "ingested_at": "2026-11-30T08:00:00+00:00",
        "language": "en",
        "tags": [
            {"topic": "trade", "score": 3.5, "evidence": ["tariffs"]},
            {"topic": "Taiwan", "score": 1.0, "evidence": []},
        ],
        "cluster_id": "c-1",
        "duplicate_of": None,
    }
    value.update(fields)
    return value


def test_a_story_maps_to_its_entry() -> None:
    entry = index_entry(article(), kind="story")
    assert entry.id == "a1"
    assert entry.kind == "story"
    assert entry.duplicate_of is None
    assert entry.title == "Trade talks end without deal"
    assert entry.source == "Test Wire"
    assert entry.tags == ("trade", "taiwan")  # topic ids, case-folded
    assert entry.when == datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    assert entry.cluster_id == "c-1"


def test_a_copy_keeps_its_original_and_a_story_drops_a_stray_duplicate_of() -> None:
    assert index_entry(article(id="c1", duplicate_of="a1"), kind="copy").duplicate_of == "a1"
    assert index_entry(article(duplicate_of="zzz"), kind="story").duplicate_of is None


def test_without_publication_time_the_ingestion_time_counts() -> None:
    assert index_entry(article(published_at=None), kind="story").when == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    undated = index_entry(article(published_at=None, ingested_at=None), kind="story")
    assert undated.when == datetime(1970, 1, 1, tzinfo=UTC)


def test_repeated_tags_are_kept_once_and_malformed_tags_ignored() -> None:
    tags = [{"topic": "trade"}, {"topic": "TRADE"}, "junk", {"score": 1}, {"topic": 5}]
    assert index_entry(article(tags=tags), kind="story").tags == ("trade",)


@pytest.mark.parametrize(
    ("fields", "kind", "reason"),
    [
        ({"id": None}, "story", "no id"),
        ({"id": ""}, "story", "no id"),
        ({"id": 7}, "story", "no id"),
        ({"title": None, "body": ""}, "story", "no title and no body"),
        ({"duplicate_of": None}, "copy", "a copy without duplicate_of"),
    ],
)
def test_what_is_not_an_article_is_refused(fields: dict[str, Any], kind: Any, reason: str) -> None:
    with pytest.raises(NotAnArticleError, match=reason):
        index_entry(article(**fields), kind=kind)


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("2d", timedelta(days=2)),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("15min", timedelta(minutes=15)),
        ("1w", timedelta(weeks=1)),
        ("1.5d", timedelta(hours=36)),
        (" 2D ", timedelta(days=2)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_since_reads_spans_back_from_now(text: str, back: timedelta) -> None:
    assert parse_since(text, NOW) == NOW - back


def test_since_reads_times_naive_as_utc() -> None:
    assert parse_since("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T10:00:00+02:00", NOW) == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert parse_since("2026-11-01T10:00:00Z", NOW) == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2 days", "-2d", "2x", "d"])
def test_since_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="--since takes"):
        parse_since(text, NOW)


def test_the_request_normalises_filters() -> None:
    request = search_request(
        "  chip tariffs ", tags=["Trade", "trade", " "], sources=[" Test  WIRE", "AP"], since="2d", limit=5, now=NOW
    )
    assert request.text == "chip tariffs"
    assert request.tags == ("trade",)
    assert request.sources == ("test wire", "ap")
    assert request.since == NOW - timedelta(days=2)
    assert request.limit == 5


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_the_request_refuses_a_limit_out_of_range(limit: int) -> None:
    with pytest.raises(ValueError, match="--limit"):
        search_request("x", limit=limit)


def test_source_key_ignores_case_and_spacing() -> None:
    assert source_key("  Associated\tPress ") == source_key("associated press")


def _hit(**fields: Any) -> Hit:
    values: dict[str, Any] = {
        "id": "a1",
        "title": "Trade talks end",
        "source": "Test Wire",
        "url": "https://news.example.com/a/1",
        "published_at": "2026-11-29T10:00:00+00:00",
        "tags": ("trade",),
        "score": 1.23456,
        "copies": 3,
        "also_published_by": (Copy("c1", "Reuters", "https://r/1"), Copy("c2", None, "https://x/2")),
    }
    values.update(fields)
    return Hit(**values)


def test_json_results_carry_what_a_reader_needs() -> None:
    assert hit_json(_hit()) == {
        "id": "a1",
        "title": "Trade talks end",
        "source": "Test Wire",
        "published_at": "2026-11-29T10:00:00+00:00",
        "tags": ["trade"],
        "url": "https://news.example.com/a/1",
        "copies": 3,
        "also_published_by": [
            {"id": "c1", "source": "Reuters", "url": "https://r/1"},
            {"id": "c2", "source": None, "url": "https://x/2"},
        ],
        "score": 1.2346,
    }


def test_pretty_results_show_title_source_date_tags_url_and_copies() -> None:
    text = hit_pretty(1, _hit())
    assert text.splitlines() == [
        "  1. Trade talks end",
        "     Test Wire · 2026-11-29 10:00 · trade · 3 copies",
        "     https://news.example.com/a/1",
        "     also published by Reuters, https://x/2 and 1 more",
    ]
    single = hit_pretty(2, _hit(copies=1, also_published_by=(Copy("c1", "Reuters", None),), tags=()))
    assert "no tags · 1 copy" in single
    assert "also published by Reuters" in single
    assert "no copies" in hit_pretty(3, _hit(copies=0, also_published_by=()))
