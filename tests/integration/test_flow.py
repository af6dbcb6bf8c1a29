"""The path of an item through a real worker on the real broker: search, duplicates, dead letter, alerts."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import SAMPLE_FEED, key_of
from tests.integration.conftest import by_topic, collect, publish, publish_in_order, read_to_end

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
JUNK_LINES = ("[ad_1]", "[ad_2]", "Read also |", "share now", "Source link", "unedited and auto-generated")


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


async def test_seed_is_cleaned_copy_is_a_duplicate_bad_json_is_dead_lettered(
    make_stack, start_worker, producer
) -> None:
    stack = make_stack()
    start_worker(stack)
    seed = json.loads(SAMPLE_FEED.read_text(encoding="utf-8").splitlines()[0])
    copy = {**seed, "id": "copy-of-seed", "source": "Another Outlet"}
    await publish_in_order(producer, stack, [seed])
    await publish(producer, stack, [copy, b'{"id": "broken", "body": ', b"[1, 2, 3]"])

    messages = await collect(
        stack,
        ["search", "duplicates", "deadletter", "alerts"],
        until=lambda ms: (
            len(by_topic(ms, "search")) >= 1
            and len(by_topic(ms, "duplicates")) >= 1
            and len(by_topic(ms, "deadletter")) >= 2
        ),
    )
    [article] = by_topic(messages, "search")
    assert article["key"] == key_of(seed)
    body = article["value"]["body"]
    for junk in JUNK_LINES:
        assert junk not in body
    assert body.startswith("BEIJING, June 19 (AP)")
    assert {"trade", "taiwan", "fentanyl", "aukus"} <= {t["topic"] for t in article["value"]["tags"]}
    jsonschema.validate(article["value"], _schema("article"))

    [duplicate] = by_topic(messages, "duplicates")
    assert duplicate["key"] == key_of(copy)
    assert duplicate["value"]["duplicate_of_key"] == key_of(seed)
    assert duplicate["value"]["duplicate_of"] == seed["id"]  # the original's id as its feed gave it
    assert (article["value"]["id"], article["value"]["key"]) == (seed["id"], key_of(seed))
    assert duplicate["value"]["cluster_key"] == article["value"]["cluster_key"]
    jsonschema.validate(duplicate["value"], _schema("article"))

    letters = {m["value"]["reason"]: m["value"] for m in by_topic(messages, "deadletter")}
    assert set(letters) == {"invalid_json", "not_an_object"}
    broken = letters["invalid_json"]
    assert broken["original"] == '{"id": "broken", "body": '
    assert broken["source_topic"] == stack.topic("raw")
    assert broken["source_partition"] is not None
    assert broken["source_offset"] is not None
    for letter in letters.values():
        jsonschema.validate(letter, _schema("deadletter"))

    alerts = by_topic(messages, "alerts")
    assert alerts, "the seed item raises at least one alert"
    for alert in alerts:
        assert alert["value"]["cluster_id"] == article["value"]["cluster_key"]  # alerts name items by key
        jsonschema.validate(alert["value"], _schema("alert"))


async def test_sample_feed_routes_every_item_exactly_once(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    start_worker(stack)
    lines = SAMPLE_FEED.read_bytes().splitlines()
    await publish(producer, stack, lines)
    ids = {key_of(json.loads(line)) for line in lines}

    def routed(ms: list[dict]) -> set[str]:
        return {m["key"] for m in ms if m["topic"] in {"search", "duplicates", "deadletter"}}

    await collect(stack, ["search", "duplicates", "deadletter"], until=lambda ms: routed(ms) >= ids)
    messages = await read_to_end(stack, ["search", "duplicates", "deadletter"])
    keys = [m["key"] for m in messages]
    assert sorted(keys) == sorted(ids), "each item leaves through exactly one of search, duplicates, dead letter"
    assert {m["key"] for m in by_topic(messages, "deadletter")} == {"auto blog:autoblog-empty-0042"}
    assert by_topic(messages, "deadletter")[0]["value"]["reason"] == "empty_after_cleaning"
    assert "harbor times:harbor-times-5521" in {m["key"] for m in by_topic(messages, "search")}
