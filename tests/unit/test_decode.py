import orjson
import pytest

from pipeline.decode import Rejected, _cached_scope, decode, source_scope
from pipeline.records import RawItem
from pipeline.settings import Settings


def test_a_valid_item_is_decoded_with_canonical_url_and_utc_time(settings: Settings, make_item, encode) -> None:
    item = decode(encode(make_item(published_at="Mon, 19 Jun 2023 10:00:00 +0200", category="world")), settings)
    assert isinstance(item, RawItem)
    assert item.id == "test wire:wire-1"
    assert item.feed_id == "wire-1"
    assert item.id_source == "feed"
    assert item.url == "https://news.example.com/a/1"
    assert item.published_at == "2023-06-19T08:00:00Z"
    assert item.extra == {"category": "world"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"a string"', "not_an_object"),
        (b"{}", "missing_body"),
        (b'{"body": null}', "missing_body"),
        (b'{"body": 42}', "invalid_body"),
        (b'{"body": "   "}', "missing_body"),
        (b'{"body": "x", "title": ["a"]}', "invalid_title"),
        (b'{"body": "x", "id": {"a": 1}}', "invalid_id"),
        (b'{"body": "x", "id": true}', "invalid_id"),
        (b"\xff\xfe{}", "invalid_utf8"),
        (b"", "empty_message"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
        (b'{"body": "x", "n": ' + b"9" * 5000 + b"}", "invalid_json"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(settings: Settings, raw: bytes, reason: str) -> None:
    result = decode(raw, settings)
    assert isinstance(result, Rejected)
    assert result.reason == reason
    assert result.detail


def test_a_byte_order_mark_is_accepted(settings: Settings, make_item, encode) -> None:
    assert isinstance(decode(b"\xef\xbb\xbf" + encode(make_item()), settings), RawItem)


def test_oversize_items_are_rejected_before_parsing(make_item, encode) -> None:
    settings = Settings.from_env({}, max_item_bytes=1000)
    result = decode(encode(make_item(body="x" * 2000)), settings)
    assert isinstance(result, Rejected)
    assert result.reason == "too_large"


def test_overlong_id_is_rejected(settings: Settings, make_item, encode) -> None:
    result = decode(encode(make_item(id="i" * 100_000)), settings)
    assert isinstance(result, Rejected)
    assert result.reason == "invalid_id"


def test_missing_id_is_derived_from_the_canonical_url(settings: Settings, make_item) -> None:
    first = decode(orjson.dumps(make_item(id=None, url="https://Example.com/x?utm_medium=a")), settings)
    second = decode(orjson.dumps(make_item(id=None, url="https://example.com/x#top")), settings)
    assert isinstance(first, RawItem)
    assert isinstance(second, RawItem)
    assert first.id_source == "url"
    assert first.id == second.id


def test_missing_id_and_url_derive_the_id_from_content(settings: Settings) -> None:
    one = decode(b'{"body": "Same words."}', settings)
    two = decode(b'{"body": "Same words."}', settings)
    other = decode(b'{"body": "Other words."}', settings)
    assert isinstance(one, RawItem)
    assert isinstance(two, RawItem)
    assert isinstance(other, RawItem)
    assert one.id_source == "content"
    assert one.id == two.id != other.id


def test_unparseable_date_is_a_warning_not_a_failure(settings: Settings, make_item, encode) -> None:
    item = decode(encode(make_item(published_at="the day before yesterday")), settings)
    assert isinstance(item, RawItem)
    assert item.published_at is None
    assert "published_at_unparseable" in item.warnings


def test_integer_ids_become_strings(settings: Settings, make_item, encode) -> None:
    item = decode(encode(make_item(id=12345)), settings)
    assert isinstance(item, RawItem)
    assert item.id == "test wire:12345"
    assert item.feed_id == "12345"


def test_feed_ids_are_scoped_by_source(settings: Settings, make_item, encode) -> None:
    one = decode(encode(make_item(id="12345", source="Reuters")), settings)
    other = decode(encode(make_item(id="12345", source="Associated  Press")), settings)
    same_outlet = decode(encode(make_item(id="12345", source=" REUTERS ")), settings)
    assert isinstance(one, RawItem)
    assert isinstance(other, RawItem)
    assert isinstance(same_outlet, RawItem)
    assert (one.id, other.id, same_outlet.id) == ("reuters:12345", "associated press:12345", "reuters:12345")
    assert one.feed_id == other.feed_id == "12345"
    no_source = decode(encode(make_item(id="12345", source=None)), settings)
    assert isinstance(no_source, RawItem)
    assert (no_source.id, no_source.feed_id) == ("12345", "12345")


def test_derived_ids_are_not_scoped(settings: Settings, make_item, encode) -> None:
    item = decode(encode(make_item(id=None, source="Reuters", url="https://example.com/a")), settings)
    assert isinstance(item, RawItem)
    assert item.id.startswith("url-")
    assert item.feed_id is None


def test_a_rejected_item_is_named_by_its_scoped_id(settings: Settings, make_item, encode) -> None:
    rejected = decode(encode(make_item(id="12345", source="Reuters", body="")), settings)
    assert not isinstance(rejected, RawItem)
    assert rejected.item_id == "reuters:12345"


@pytest.mark.parametrize(
    ("source", "scope"),
    [
        ("  Test   Wire ", "test wire"),
        ("Test\x00 Wire\u200e", "test wire"),
        ("\x01\x02", None),
        ("x" * 300, "x" * 128),
        (42, None),
    ],
)
def test_source_scope_folds_case_space_and_controls(source: object, scope: str | None) -> None:
    assert source_scope(source) == scope
    assert source_scope(source) == scope  # the second answer may come from the cache: the same


def test_long_sources_are_not_cached() -> None:
    before = _cached_scope.cache_info().currsize
    source_scope("y" * 10_000)
    assert _cached_scope.cache_info().currsize == before
