"""``newsfeed search``: ranked stories from the local index (no broker needed), as JSON lines or readable text."""

from __future__ import annotations

import sys
from typing import IO

import orjson

from pipeline.search import SearchRequest, hit_json, hit_pretty
from pipeline.search_index import SearchIndex
from pipeline.settings import Settings


def search(settings: Settings, request: SearchRequest, *, fmt: str = "pretty", out: IO[str] = sys.stdout) -> int:
    """Print the results of ``request``; returns how many.

    Raises:
        pipeline.search_index.IndexMissingError: no index in the settings' index directory.
        ValueError: the query text is not valid query syntax.
    """
    index = SearchIndex.open(settings.search_index_dir)
    hits = index.search(request)
    if fmt == "json":
        for hit in hits:
            out.write(orjson.dumps(hit_json(hit)).decode() + "\n")
    elif hits:
        out.write("\n\n".join(hit_pretty(rank, hit) for rank, hit in enumerate(hits, 1)) + "\n")
    else:
        out.write(f"no stories match (the index holds {index.count('story')})\n")
    out.flush()
    return len(hits)
