"""``newsfeed process --explain``: why each item got, or did not get, each topic.

The items go through the intake stages as in ``newsfeed process`` (decode, clean, tag); instead
of the output messages, one JSON line per item shows, for every topic with a phrase or an
exclusion found, the phrases and what each added, the matches that did not count and why, the
penalties, both scores, the thresholds and the verdict.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from agents.feeds import resolve
from agents.offline import items_of
from pipeline.process import Pipeline
from pipeline.records import DeadLetter, Origin
from pipeline.settings import Settings
from pipeline.tag_score import TopicScore

__all__ = ["explain", "explanation"]


def explanation(score: TopicScore) -> dict[str, Any]:
    """One topic's score as a JSON-ready dict."""
    return {
        "topic": score.topic,
        "tagged": score.tagged,
        "score": round(score.score, 3),
        "threshold": score.threshold,
        "decided_by": score.decided_by,
        "boosted_score": round(score.boosted, 3),
        "short_score": round(score.short, 3),
        "short_needed": None if score.short_needed is None else round(score.short_needed, 3),
        "words": score.words,
        "phrases": [
            {
                "text": c.text,
                "phrase": c.phrase,
                "where": c.where,
                "weight": c.weight,
                "short_weight": c.short_weight,
                "boosted": round(c.boosted, 3),
                "short": c.short,
            }
            for c in score.contributions
        ],
        "ignored": [{"text": i.text, "phrase": i.phrase, "reason": i.reason} for i in score.ignored],
        "penalties": [{"text": text, "penalty": penalty} for text, penalty in score.penalties],
    }


def _explain_lines(pipeline: Pipeline, lines: Iterator[tuple[str, int, bytes]]) -> Iterator[dict[str, Any]]:
    for path, number, data in lines:
        prepared = pipeline.prepare(data, Origin(path, None, number, False), datetime.now(UTC))
        if isinstance(prepared, DeadLetter):
            yield {"line": number, "id": prepared.item_id, "dead_letter": prepared.reason}
            continue
        cleaned = prepared.cleaned
        scores = pipeline.tagger.explain(cleaned.title, cleaned.body)
        yield {
            "line": number,
            "id": prepared.item.id,
            "title": cleaned.title,
            "tags": [t.topic for t in prepared.tags],
            "topics": [explanation(s) for s in scores],
        }


def explain(settings: Settings, paths: list[str], out: IO[bytes]) -> int:
    """Write one explanation JSON line per input item (any format replay reads); returns the count."""
    pipeline = Pipeline.from_settings(settings, items={}, bands={}, fired={})
    count = 0
    for record in _explain_lines(pipeline, items_of(resolve(paths), settings)):
        out.write(orjson.dumps(record))
        out.write(b"\n")
        count += 1
    out.flush()
    return count
