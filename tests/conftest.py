"""Fixtures shared by unit and integration tests: small items written for the tests, never dev data."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import settings as hypothesis_settings

from pipeline.decode import item_key
from pipeline.settings import Settings

# CI explores the same examples every run (a failure found once is kept by the example database locally).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FEED = ROOT / "samples" / "sample-feed.jsonl"

WIRE_STORY = """[ad_1]
WASHINGTON, March 3 (AP) — Trade officials from the United States and Japan ended two days of talks on Friday without an agreement on semiconductor tariffs, but said they would meet again within a month.
Read also | Storm closes schools across the region.
The talks in Washington focused on export controls for chip-making equipment and on a proposal to lower tariffs on industrial machinery, officials from both sides said.
Japan's trade minister told reporters that the two countries had narrowed their differences on the timing of any tariff cuts.
U.S. negotiators pressed for faster access for American farm products, a long-standing demand in trade talks between the allies.
Business groups on both sides urged the governments to conclude a deal before the end of the fiscal year.
(Associated Press)
share now
[ad_2]
Source link"""


@pytest.fixture(autouse=True)
def _reset_structlog() -> Any:
    """Logging configuration and bound context are global: each test starts and ends clean."""
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


@pytest.fixture
def make_item() -> Callable[..., dict[str, Any]]:
    """A factory of raw items: a wire story by default, any field overridden by keyword."""

    def make(**fields: Any) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": "wire-1",
            "source": "Test Wire",
            "url": "https://news.example.com/a/1?utm_source=rss",
            "title": "Trade talks end without deal",
            "body": WIRE_STORY,
            "language": "en",
        }
        item.update(fields)
        return item

    return make


@pytest.fixture
def encode() -> Callable[[dict[str, Any]], bytes]:
    """Serialise a raw item as it travels on news.raw."""
    return orjson.dumps


@pytest.fixture
def settings() -> Settings:
    """Default settings, not read from the environment."""
    return Settings.from_env({})


def key_of(item: dict[str, Any]) -> str:
    """The id (and key) an input item with a feed id comes out under: scoped by its source, as
    ``pipeline.decode`` does (``tests/unit/test_decode.py`` pins the rule itself)."""
    return item_key(str(item["id"]), item.get("source"))
