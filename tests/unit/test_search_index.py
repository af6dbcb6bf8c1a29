"""The tantivy index on disk: upserts by id, copies joined to originals, filters, ranking, offsets, locking."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.search import SearchRequest, index_entry, search_request
from pipeline.search_index import IndexMissingError, SearchIndex

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def article(article_id: str, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": article_id,
        "source": "Test Wire",
        "url": f"https://news.example.com/{article_id}",
        "title": f"Story {article_id}",
        "body": "Officials met on Friday.",
        "published_at": (NOW - timedelta(hours=1)).isoformat(),
        "language": "en",
        "tags": [],
        "duplicate_of": None,
    }
    value.update(fields)
    return value


@pytest.fixture
def index(tmp_path: Path) -> Any:
    opened = SearchIndex.open(tmp_path / "index", writable=True)
    yield opened
    opened.close()


@pytest.fixture
def put(index: SearchIndex) -> Callable[..., None]:
    def put(article_id: str, *, kind: Any = "story", **fields: Any) -> None:
        index.upsert(index_entry(article(article_id, **fields), kind=kind))

    return put


def ids(index: SearchIndex, request: SearchRequest) -> list[str]:
    return [hit.id for hit in index.search(request)]


def test_upserts_by_id_replace_and_replays_change_nothing(index: SearchIndex, put: Callable[..., None]) -> None:
    put("a", title="First title")
    put("a", title="Second title")
    index.commit({"t:0": 2})
    put("a", title="Second title")  # the same message again, after a commit
    index.commit({"t:0": 2})
    assert index.count("story") == 1
    assert ids(index, search_request("second")) == ["a"]
    assert ids(index, search_request("first")) == []


def test_nothing_is_visible_before_the_commit(index: SearchIndex, put: Callable[..., None]) -> None:
    put("a")
    assert index.count("story") == 0
    index.commit({})
    assert index.count("story") == 1


def test_copies_count_on_their_original_whichever_arrives_first(index: SearchIndex, put: Callable[..., None]) -> None:
    put("c1", kind="copy", duplicate_of="a", source="Reuters", url="https://r/c1")
    index.commit({})
    put("a", title="Chip tariffs")
    put("c2", kind="copy", duplicate_of="a", source="AP", url="https://ap/c2", published_at=NOW.isoformat())
    put("c2", kind="copy", duplicate_of="a", source="AP", url="https://ap/c2", published_at=NOW.isoformat())
    index.commit({})
    [hit] = index.search(search_request("tariffs"))
    assert hit.id == "a"
    assert hit.copies == 2
    assert [(c.source, c.url) for c in hit.also_published_by] == [("Reuters", "https://r/c1"), ("AP", "https://ap/c2")]
    assert index.count("copy") == 2


def test_a_copy_stands_for_its_story_in_searches(index: SearchIndex, put: Callable[..., None]) -> None:
    put("a", title="US and China agree to keep talking", source="Metro Briefs", tags=[])
    put(
        "c1", kind="copy", duplicate_of="a", title="US, China agree to keep talking despite differences",
        body="Talks on the Taiwan Strait.", source="Reuters", tags=[{"topic": "taiwan"}],
    )  # fmt: skip
    put(
        "c2", kind="copy", duplicate_of="a", source="AP", body="Talks on the Taiwan Strait.", tags=[{"topic": "taiwan"}]
    )
    put("b", title="Storm closes schools", body="Rain.", source="AP")
    index.commit({})
    # Found by a copy's words, tag or source; shown once, as the story, with the copies' tags.
    [hit] = index.search(search_request("strait"))
    assert (hit.id, hit.title, hit.copies, hit.tags) == ("a", "US and China agree to keep talking", 2, ("taiwan",))
    assert ids(index, search_request("", tags=["taiwan"])) == ["a"]
    assert sorted(ids(index, search_request("", sources=["reuters"]))) == ["a"]
    assert sorted(ids(index, search_request("", sources=["ap"]))) == ["a", "b"]
    assert sorted(ids(index, search_request("talking"))) == ["a"]


def test_a_copy_without_its_story_is_shown_itself(index: SearchIndex, put: Callable[..., None]) -> None:
    put("c1", kind="copy", duplicate_of="gone", title="Chip tariffs", source="Reuters")
    put("c2", kind="copy", duplicate_of="gone", title="Chip tariffs too", source="AP")
    index.commit({})
    [hit] = index.search(search_request("tariffs"))
    assert hit.id in {"c1", "c2"}
    assert hit.copies == 1
    assert [c.id for c in hit.also_published_by] == [{"c1": "c2", "c2": "c1"}[hit.id]]


def test_the_limit_counts_stories_not_copies(index: SearchIndex, put: Callable[..., None]) -> None:
    for story in range(5):
        put(f"s{story}", title="Harvest news")
        for copy in range(6):
            put(f"s{story}-c{copy}", kind="copy", duplicate_of=f"s{story}", title="Harvest news again")
    index.commit({})
    assert sorted(ids(index, search_request("harvest", limit=3))) == sorted(
        set(ids(index, search_request("harvest", limit=3)))
    )
    assert len(ids(index, search_request("harvest", limit=3))) == 3
    assert sorted(ids(index, search_request("harvest", limit=10))) == [f"s{i}" for i in range(5)]


def test_a_tombstone_deletes(index: SearchIndex, put: Callable[..., None]) -> None:
    put("a")
    put("b")
    index.commit({})
    index.delete("a")
    index.commit({})
    assert index.ids("story") == ["b"]


def test_title_matches_rank_above_body_matches(index: SearchIndex, put: Callable[..., None]) -> None:
    put("body", title="Weekly review", body="The tariffs were discussed at length by the ministers.")
    put("title", title="Tariffs dominate the talks", body="The ministers discussed at length.")
    put("none", title="Weather", body="Rain.")
    index.commit({})
    assert ids(index, search_request("tariff")) == ["title", "body"]  # stemmed: tariff finds tariffs


def test_words_are_all_required_and_phrases_keep_their_order(index: SearchIndex, put: Callable[..., None]) -> None:
    put("strait", body="Ships crossed the Taiwan Strait on Monday.")
    put("apart", body="The strait near Taiwan was calm.")
    index.commit({})
    assert sorted(ids(index, search_request("taiwan strait"))) == ["apart", "strait"]
    assert ids(index, search_request('"taiwan strait"')) == ["strait"]
    assert ids(index, search_request("taiwan -ships")) == ["apart"]
    assert ids(index, search_request("taiwan calm")) == ["apart"]


def test_invalid_query_syntax_is_a_value_error(index: SearchIndex) -> None:
    index.commit({})
    with pytest.raises(ValueError, match=r"cannot read the query .*Syntax"):
        index.search(search_request('"unclosed'))


def test_filters_by_tag_source_and_time(index: SearchIndex, put: Callable[..., None]) -> None:
    put("new-trade", tags=[{"topic": "trade", "score": 1, "evidence": []}], source="Reuters")
    put("new-both", tags=[{"topic": "trade"}, {"topic": "taiwan"}], source="AP")
    put("old-trade", tags=[{"topic": "trade"}], published_at=(NOW - timedelta(days=5)).isoformat())
    index.commit({})
    assert sorted(ids(index, search_request("", tags=["trade"]))) == ["new-both", "new-trade", "old-trade"]
    assert ids(index, search_request("", tags=["TRADE", "taiwan"])) == ["new-both"]
    assert sorted(ids(index, search_request("", sources=["reuters", "ap"]))) == ["new-both", "new-trade"]
    assert ids(index, search_request("", sources=["Test Wire"])) == ["old-trade"]
    assert sorted(ids(index, search_request("", since="2d", now=NOW))) == ["new-both", "new-trade"]
    assert ids(index, search_request("officials", tags=["trade"], since="2d", sources=["AP"], now=NOW)) == ["new-both"]


def test_without_text_newest_first_and_the_limit_holds(index: SearchIndex, put: Callable[..., None]) -> None:
    for hours in (5, 1, 3, 2, 4):
        put(f"h{hours}", published_at=(NOW - timedelta(hours=hours)).isoformat())
    index.commit({})
    assert ids(index, search_request("", limit=3)) == ["h1", "h2", "h3"]


def test_the_offsets_commit_with_the_articles(tmp_path: Path) -> None:
    writer = SearchIndex.open(tmp_path / "i", writable=True)
    assert writer.created
    assert writer.offsets() == {}
    writer.upsert(index_entry(article("a"), kind="story"))
    writer.commit({"t.search:0": 1, "t.duplicates:3": 7})
    writer.upsert(index_entry(article("b"), kind="story"))  # written, never committed: a crash now
    writer.close()
    reopened = SearchIndex.open(tmp_path / "i", writable=True)
    assert not reopened.created
    assert reopened.offsets() == {"t.search:0": 1, "t.duplicates:3": 7}
    assert reopened.ids("story") == ["a"]
    assert ids(reopened, search_request("")) == ["a"]  # the offsets document is never a result
    reopened.close()


def test_searching_needs_an_index_and_never_creates_one(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError):
        SearchIndex.open(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_one_writer_per_directory_while_readers_read(
    index: SearchIndex, put: Callable[..., None], tmp_path: Path
) -> None:
    put("a")
    index.commit({})
    with pytest.raises(ValueError, match=r"(?i)lock"):
        SearchIndex.open(tmp_path / "index", writable=True)
    reader = SearchIndex.open(tmp_path / "index")
    assert reader.ids("story") == ["a"]
    with pytest.raises(RuntimeError, match="searching only"):
        reader.upsert(index_entry(article("b"), kind="story"))
