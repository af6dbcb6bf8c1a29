"""Public ids and keys: an article is published under the id its feed gave, and keyed by the id scoped by its
source, so that two outlets' id ``1`` stay two items while subscribers (and the scorers) see the feed's id."""

import pytest

from agents.offline import offline_pipeline, process_lines
from pipeline.decode import item_key, public_id
from pipeline.settings import Settings


@pytest.mark.parametrize(
    ("feed_id", "source", "key"),
    [
        ("12345", "Reuters", "reuters:12345"),
        ("urn:uuid:1", "Reuters", "reuters:urn:uuid:1"),
        ("7", "CNN: World 100%", "cnn%3A world 100%25:7"),
        ("12345", None, "12345"),
        ("tag:example.com,2026:1", None, ":tag:example.com,2026:1"),
    ],
)
def test_a_key_gives_back_the_feed_id_it_was_made_of(feed_id: str, source: str | None, key: str) -> None:
    assert item_key(feed_id, source) == key
    assert public_id(key) == feed_id


def test_an_article_is_published_under_its_feed_id_and_keyed_by_the_scoped_one(settings: Settings) -> None:
    pipeline = offline_pipeline(settings)
    first = b'{"id": "1", "source": "Wire A", "title": "Ports reopen", "body": "Ports reopened on Monday after talks."}'
    other = b'{"id": "1", "source": "Wire B", "title": "Rains", "body": "Heavy rain fell across the north on Sunday."}'
    copy = b'{"id": "9", "source": "Blog", "title": "Ports reopen", "body": "Ports reopened on Monday after talks."}'
    lines = ((__name__, n, line) for n, line in enumerate((first, other, copy)))
    out = [m for m in process_lines(pipeline, lines) if not m.topic.endswith("alerts")]
    assert [(m.topic.rsplit(".", 1)[1], m.key, m.value.id, m.value.key) for m in out] == [
        ("search", "wire a:1", "1", "wire a:1"),
        ("search", "wire b:1", "1", "wire b:1"),
        ("duplicates", "blog:9", "9", "blog:9"),
    ]
    assert (out[2].value.duplicate_of, out[2].value.duplicate_of_key) == ("1", "wire a:1")
    assert (out[2].value.cluster_id, out[2].value.cluster_key) == ("1", "wire a:1")
