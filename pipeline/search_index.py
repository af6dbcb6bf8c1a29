"""The full-text index on local disk (tantivy): upsert articles by id, remember the stream offsets it holds,
answer searches with each story's copies joined in.

Stories and copies are documents of their own, upserted by id. A copy names its original (``duplicate_of``);
a search matches stories and copies alike and shows each story once, with its copies joined in at that time,
so a copy that arrives before its original is counted as soon as the original is there, and a copy sent twice
is counted once. The Kafka offsets the index holds
are a document too, written in the same commit as the articles: the index says itself where to resume.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NamedTuple

import orjson
import tantivy

from pipeline.search import Copy, Hit, IndexEntry, SearchRequest, source_key

_OFFSETS_ID: Final = "__offsets__"
_TITLE_BOOST: Final = 2.0
_COPIES_LISTED: Final = 20
_WRITER_HEAP_BYTES: Final = 64_000_000
_FETCH_FACTOR: Final = 4
"""Hits fetched per result wanted: several copies of one story collapse into one result."""
_MAX_FETCH: Final = 20_000


class _ListedCopy(NamedTuple):
    id: str
    source: str | None
    url: str | None
    tags: tuple[str, ...]


class IndexMissingError(FileNotFoundError):
    """No index in the directory yet."""


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("kind", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("duplicate_of", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("title", tokenizer_name="en_stem")
    builder.add_text_field("body", tokenizer_name="en_stem")
    builder.add_text_field("source", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("tags", tokenizer_name="raw", index_option="basic")
    builder.add_date_field("when", indexed=True, fast=True)
    # What a result shows, stored once as JSON: the searched fields themselves are not stored.
    builder.add_bytes_field("shown", stored=True)
    return builder.build()


class SearchIndex:
    """A tantivy index in ``path``: writable (one writer per directory, locked) or for searching only."""

    def __init__(self, index: tantivy.Index, *, writable: bool, created: bool) -> None:
        self._index = index
        self._schema = index.schema
        self._writer = index.writer(heap_size=_WRITER_HEAP_BYTES, num_threads=1) if writable else None
        self.created = created
        """True when this opening made the directory's index (there was none)."""

    @classmethod
    def open(cls, path: Path, *, writable: bool = False) -> SearchIndex:
        """Open the index in ``path``; a writable one is created when missing.

        Raises:
            IndexMissingError: not writable, and no index there.
            ValueError: another process holds the writer lock (tantivy's message names the lock).
        """
        exists = (path / "meta.json").is_file()
        if not exists and not writable:
            raise IndexMissingError(str(path))
        path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(_schema(), path=str(path), reuse=True)
        return cls(index, writable=writable, created=not exists)

    # -- writing ------------------------------------------------------------------------------------------

    def upsert(self, entry: IndexEntry) -> None:
        """Replace the document with ``entry.id`` (or add it)."""
        writer = self._require_writer()
        writer.delete_documents_by_term("id", entry.id)
        writer.add_document(self._document(entry))

    def _document(self, entry: IndexEntry) -> tantivy.Document:
        shown = {
            "id": entry.id,
            "title": entry.title,
            "source": entry.source,
            "url": entry.url,
            "published_at": entry.published_at,
            "tags": entry.tags,
            "language": entry.language,
            "cluster_id": entry.cluster_id,
            "duplicate_of": entry.duplicate_of,
        }
        fields: dict[str, Any] = {
            "id": entry.id,
            "kind": entry.kind,
            "title": entry.title,
            "body": entry.body,
            "tags": list(entry.tags),
            "when": entry.when,
            "shown": orjson.dumps(shown),
        }
        if entry.duplicate_of is not None:
            fields["duplicate_of"] = entry.duplicate_of
        if entry.source is not None:
            fields["source"] = source_key(entry.source)
        # With the schema, each value is converted as its field's type: a third less time than keyword arguments.
        return tantivy.Document.from_dict(fields, self._schema)

    def delete(self, article_id: str) -> None:
        """Remove the document with this id, if any."""
        self._require_writer().delete_documents_by_term("id", article_id)

    def commit(self, offsets: Mapping[str, int]) -> None:
        """Make everything written so far durable and visible, with the stream ``offsets`` it reflects
        (``"topic:partition"`` to the next offset to read), in one commit."""
        writer = self._require_writer()
        writer.delete_documents_by_term("id", _OFFSETS_ID)
        writer.add_document(
            tantivy.Document(id=_OFFSETS_ID, kind="offsets", shown=orjson.dumps(dict(offsets)), when=_EPOCH)
        )
        writer.commit()

    def close(self) -> None:
        """Release the writer (and its lock), waiting for its merges; what is not committed is dropped."""
        if self._writer is not None:
            self._writer.rollback()
            self._writer.wait_merging_threads()
            self._writer = None

    def _require_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            raise RuntimeError("the index was opened for searching only")
        return self._writer

    # -- reading ------------------------------------------------------------------------------------------

    def offsets(self) -> dict[str, int]:
        """The stream offsets of the last commit (empty for a new index)."""
        searcher = self._searcher()
        hits = searcher.search(self._term("id", _OFFSETS_ID), 1).hits
        if not hits:
            return {}
        stored: dict[str, int] = orjson.loads(searcher.doc(hits[0][1])["shown"][0])
        return stored

    def count(self, kind: str = "story") -> int:
        """How many documents of ``kind`` (``story`` or ``copy``) the index holds."""
        searcher = self._searcher()
        return _count(searcher.search(self._term("kind", kind), 1, count=True))

    def ids(self, kind: str = "story") -> list[str]:
        """Every id of ``kind``, for checks and tests."""
        searcher = self._searcher()
        total = self.count(kind)
        hits = searcher.search(self._term("kind", kind), max(total, 1)).hits
        return [orjson.loads(searcher.doc(address)["shown"][0])["id"] for _, address in hits]

    def search(self, request: SearchRequest) -> list[Hit]:
        """Ranked stories for ``request``, newest first when it has no text, each with its copies.

        Copies are searched too and stand for their story (its best-ranked match places it), so a story is found
        by the words, tags, source or time of any copy of it; a copy whose story is not in the index is shown
        itself. The tags shown are the story's and its listed copies'.
        """
        searcher = self._searcher()
        results = []
        for score, story_id, matched in self._collapse(searcher, self.build_query(request), request):
            story = self._story(searcher, story_id)
            shown = story or matched
            orphan = story is None and matched.get("duplicate_of") == story_id
            count, listed = self._copies(searcher, story_id, leave_out=matched["id"] if orphan else None)
            tags = [*shown["tags"], *(tag for copy in listed for tag in copy.tags)]
            results.append(
                Hit(
                    id=shown["id"],
                    title=shown["title"],
                    source=shown["source"],
                    url=shown["url"],
                    published_at=shown["published_at"],
                    tags=tuple(dict.fromkeys(tags)),
                    score=score if request.text else 0.0,
                    copies=count,
                    also_published_by=tuple(Copy(id=c.id, source=c.source, url=c.url) for c in listed),
                )
            )
        return results

    def _collapse(
        self, searcher: tantivy.Searcher, query: tantivy.Query, request: SearchRequest
    ) -> list[tuple[float, str, dict[str, Any]]]:
        """The best hit per story (a copy's story is its ``duplicate_of``), in rank order, up to the limit."""
        fetch = request.limit * _FETCH_FACTOR
        while True:
            if request.text:
                result = searcher.search(query, fetch, count=True)
            else:
                result = searcher.search(query, fetch, count=True, order_by_field="when", order=tantivy.Order.Desc)
            found: dict[str, tuple[float, str, dict[str, Any]]] = {}
            for score, address in result.hits:
                shown = orjson.loads(searcher.doc(address)["shown"][0])
                key = shown.get("duplicate_of") or shown["id"]
                found.setdefault(key, (float(score), key, shown))
                if len(found) == request.limit:
                    return list(found.values())
            if len(result.hits) >= _count(result) or fetch >= _MAX_FETCH:
                return list(found.values())
            fetch *= _FETCH_FACTOR

    def build_query(self, request: SearchRequest) -> tantivy.Query:
        """The tantivy query for ``request``: the text (title boosted) AND every filter, over stories and copies.

        Raises:
            ValueError: the text is not valid query syntax (tantivy's message says where).
        """
        clauses: list[tantivy.Query] = [self._any_of("kind", ("story", "copy"))]
        if request.text:
            try:
                text = self._index.parse_query(
                    request.text, ["title", "body"], field_boosts={"title": _TITLE_BOOST}, conjunction_by_default=True
                )
            except ValueError as error:
                raise ValueError(f"cannot read the query {request.text!r} ({error})") from None
            clauses.append(text)
        clauses.extend(self._term("tags", tag) for tag in request.tags)
        if request.sources:
            clauses.append(self._any_of("source", request.sources))
        if request.since is not None:
            since = request.since.astimezone(UTC)
            clauses.append(tantivy.Query.range_query(self._schema, "when", tantivy.FieldType.Date, lower_bound=since))
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, clause) for clause in clauses])

    def _story(self, searcher: tantivy.Searcher, story_id: str) -> dict[str, Any] | None:
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, self._term("id", story_id)), (tantivy.Occur.Must, self._term("kind", "story"))]
        )
        hits = searcher.search(query, 1).hits
        if not hits:
            return None
        shown: dict[str, Any] = orjson.loads(searcher.doc(hits[0][1])["shown"][0])
        return shown

    def _copies(
        self, searcher: tantivy.Searcher, story_id: str, *, leave_out: str | None
    ) -> tuple[int, list[_ListedCopy]]:
        result = searcher.search(
            self._term("duplicate_of", story_id), _COPIES_LISTED + 1, count=True, order_by_field="when",
            order=tantivy.Order.Asc,
        )  # fmt: skip
        listed = []
        for _, address in result.hits:
            shown = orjson.loads(searcher.doc(address)["shown"][0])
            if shown["id"] != leave_out:
                listed.append(_ListedCopy(shown["id"], shown["source"], shown["url"], tuple(shown["tags"])))
        return _count(result) - (leave_out is not None), listed[:_COPIES_LISTED]

    def _term(self, field: str, value: str) -> tantivy.Query:
        return tantivy.Query.term_query(self._schema, field, value)

    def _any_of(self, field: str, values: Iterable[str]) -> tantivy.Query:
        return tantivy.Query.term_set_query(self._schema, field, list(values))

    def _searcher(self) -> tantivy.Searcher:
        self._index.reload()
        return self._index.searcher()


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _count(result: tantivy.SearchResult) -> int:
    # tantivy's type stubs omit ``count``, which ``search(..., count=True)`` sets.
    count: int = getattr(result, "count")  # noqa: B009
    return count


def index_summary(index: SearchIndex) -> dict[str, Any]:
    """Counts for logs and checks: stories, copies and the offsets held."""
    return {"stories": index.count("story"), "copies": index.count("copy"), "offsets": index.offsets()}
