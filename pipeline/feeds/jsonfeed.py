"""JSON Feed 1.0/1.1 documents to raw items."""

from __future__ import annotations

from typing import Any

import orjson

from pipeline.feeds.entries import Broken, Entry, NotAFeedError, Parsed, compact, host_of


def parse_jsonfeed(data: bytes) -> list[Parsed]:
    """Map each item of a JSON Feed; an item that is not an object or has no content is reported as broken.

    Raises:
        NotAFeedError: the bytes are not a JSON object with an ``items`` list.
    """
    try:
        feed = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise NotAFeedError("not_a_feed", f"not a feed: unreadable JSON Feed ({error})") from None
    if not isinstance(feed, dict) or not isinstance(feed.get("items"), list):
        raise NotAFeedError("not_a_feed", "not a feed: a JSON Feed needs an object with an items list")
    title = _string(feed.get("title"))
    source = title or host_of(_string(feed.get("home_page_url"))) or host_of(_string(feed.get("feed_url")))
    language = _string(feed.get("language"))
    return [_item(number, item, source, language) for number, item in enumerate(feed["items"], start=1)]


def _item(number: int, item: Any, source: str | None, language: str | None) -> Parsed:
    where = f"item {number}"
    if not isinstance(item, dict):
        return Broken(number, where, "not_an_object", f"the item is a JSON {type(item).__name__}, not an object")
    url = _string(item.get("url")) or _string(item.get("external_url"))
    raw_id = item.get("id")
    item_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    body = _string(item.get("content_html")) or _string(item.get("content_text")) or _string(item.get("summary"))
    if not body:
        return Broken(number, where, "no_body", "the item has no content_html, content_text or summary")
    mapped = compact(
        {
            "id": item_id or url,
            "url": url,
            "title": _string(item.get("title")),
            "published_at": _string(item.get("date_published")) or _string(item.get("date_modified")),
            "body": body,
            "source": source or host_of(url),
            "language": _string(item.get("language")) or language,
        }
    )
    return Entry(number, where, mapped)


def _string(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
