"""An item whose outputs the broker refused is dead-lettered again, unchanged, when it is read again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from pipeline.prepared import Prepared
from pipeline.process import Pipeline
from pipeline.records import DeadLetter, Origin
from pipeline.settings import Settings

NOW = datetime(2025, 6, 19, 12, 0, tzinfo=UTC)


def _prepared(pipeline: Pipeline, make_item, encode, **fields) -> Prepared:
    result = pipeline.prepare(encode(make_item(**fields)), Origin("news.raw", 0, 1), NOW)
    assert isinstance(result, Prepared)
    return result


def test_a_redelivered_rejected_item_goes_to_the_dead_letter_again(settings: Settings, make_item, encode) -> None:
    fired: dict[str, bytes] = {}
    pipeline = Pipeline.from_settings(settings, items={}, bands={}, fired=fired)
    prepared = _prepared(pipeline, make_item, encode)
    [article, *_] = pipeline.settle(prepared, NOW)
    assert article.topic == settings.topic("search")

    letter = pipeline.rejected(prepared, settings.topic("search"), RuntimeError("too large"), NOW, stage="dedupe")
    pipeline.remember_rejected(prepared.item.id, orjson.dumps(letter))
    [again] = pipeline.settle(prepared, NOW + timedelta(minutes=5))
    assert again.topic == settings.topic("deadletter")
    assert again.key == prepared.item.id
    assert isinstance(again.value, DeadLetter)
    assert orjson.dumps(again.value) == orjson.dumps(letter)
    assert again.value.reason == "output_rejected"


def test_the_record_leaves_with_the_item_s_entry(settings: Settings, make_item, encode) -> None:
    fired: dict[str, bytes] = {}
    pipeline = Pipeline.from_settings(settings, items={}, bands={}, fired=fired)
    prepared = _prepared(pipeline, make_item, encode, published_at="2025-06-01T00:00:00Z")
    pipeline.settle(prepared, NOW)
    pipeline.remember_rejected(prepared.item.id, b"{}")
    assert any(key.startswith("#rejected:") for key in fired)
    pipeline.index.expire(NOW + settings.dedupe_window + timedelta(days=30))
    assert not any(key.startswith("#rejected:") for key in fired)
