"""Tag quality on the dev Reuters stories, full and as headline-only items, per topic.

Usage: ``python bench/tag_eval.py [REUTERS.jsonl]`` (default: ``../shared/data/dev/reuters21578.jsonl``,
labels beside it in ``.labels.jsonl``). Reads the shared data in place; copies nothing.

Each item goes through the clean stage and the tagger, as in ``newsfeed process``. Three variants:
``full`` (the stories as they are), ``headline`` (the title as the whole body, no title) and
``headline_titled`` (the title as the body and as the title, as feeds that repeat it do). Trade is
scored against Reuters TOPICS, taiwan against PLACES, as ``../shared/eval/score.py tag`` does.
Prints one JSON object per variant, then a summary line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.clean import clean
from pipeline.tag import Tagger

DEFAULT_ITEMS = "../shared/data/dev/reuters21578.jsonl"
_TOPICS = (("trade", "topics"), ("taiwan", "places"))


def _read(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _variant(doc: dict[str, Any], name: str) -> tuple[str | None, str]:
    title = str(doc.get("title") or "")
    if name == "headline":
        return None, title
    if name == "headline_titled":
        return title, title
    return (title or None), str(doc.get("body") or "")


def evaluate(path: str, variant: str, tagger: Tagger) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 per topic for one variant of the items in ``path``."""
    labels = {str(d["id"]): d for d in _read(path.replace(".jsonl", ".labels.jsonl"))}
    counts = {topic: [0, 0, 0] for topic, _ in _TOPICS}  # tp, fp, fn
    for doc in _read(path):
        title, body = _variant(doc, variant)
        cleaned = clean(body, title)
        if not cleaned.body.strip():
            continue
        got = {t.topic for t in tagger.tag(cleaned.title, cleaned.body)}
        label = labels[str(doc["id"])]
        for topic, field in _TOPICS:
            want = topic in label[field]
            has = topic in got
            counts[topic][0] += has and want
            counts[topic][1] += has and not want
            counts[topic][2] += want and not has
    result: dict[str, dict[str, float]] = {}
    for topic, (tp, fp, fn) in counts.items():
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
        f1 = 2 * p * r / max(1e-9, p + r)
        result[topic] = {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3), "positives": tp + fn}
    return result


def main(path: str) -> None:
    """Print the figures of every variant."""
    tagger = Tagger.default()
    summary: list[str] = []
    for variant in ("full", "headline", "headline_titled"):
        result = evaluate(path, variant, tagger)
        sys.stdout.write(json.dumps({"variant": variant, **result}) + "\n")
        summary.append(f"{variant}: " + ", ".join(f"{t} F1 {v['f1']}" for t, v in result.items()))
    sys.stdout.write("; ".join(summary) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_ITEMS)
