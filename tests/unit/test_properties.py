"""Property tests of the whole item path: prepare, the prepared topic's bytes, settle.

Whatever arrives, the pipeline never raises and routes exactly one message (search, duplicates
or dead letter) that validates against its schema; cleaning invents no words; tags come only
from the taxonomy.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.offline import offline_pipeline
from pipeline import _html, _text
from pipeline.prepared import Prepared
from pipeline.process import Pipeline
from pipeline.records import Article, DeadLetter, Message, Origin
from pipeline.route import dead_letter_message
from pipeline.settings import Settings
from pipeline.tag import Tagger
from tests.unit.test_hostile_input import TOPIC_IN, routed

KNOWN_REASONS = frozenset(
    {
        "too_large", "empty_message", "invalid_utf8", "invalid_json", "not_an_object", "too_deep",
        "invalid_id", "missing_body", "invalid_body", "body_too_large", "invalid_url", "invalid_source",
        "invalid_title", "invalid_language", "empty_after_cleaning",
    }
)  # fmt: skip
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _pipeline() -> Pipeline:
    """One pipeline per session: its dedupe state grows across examples, as a worker's would."""
    return offline_pipeline(Settings.from_env({}))


def through(raw: bytes, offset: int = 7) -> list[Message]:
    """Run one raw message the way the worker does: prepare, the prepared topic's bytes, settle.

    Nothing is caught here: ``settle`` raising on a prepared item is a bug, not a dead letter.
    """
    pipeline = _pipeline()
    now = datetime.now(UTC)
    result = pipeline.prepare(raw, Origin(TOPIC_IN, None, offset), now)
    if isinstance(result, DeadLetter):
        return [dead_letter_message(result, pipeline.settings)]
    assert isinstance(result, Prepared)
    again = Prepared.from_bytes(result.to_bytes())
    assert again == result
    return pipeline.settle(again, now)


# Known bug, reported (test_hostile_input.test_html_character_references_to_controls_are_dropped): in
# HTML, the parser decodes "&#1;" or "&#x1b;" to a control character that stays in the output. Inputs
# holding such references are skipped here so the properties keep testing everything else.
_NUMERIC_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,9}))")


_UNSEEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def check(raw: bytes) -> Any:
    value = routed(through(raw), raw).value
    if isinstance(value, DeadLetter):
        assert value.reason in KNOWN_REASONS, value
    return value


# --- strategies --------------------------------------------------------------------------------------------

_INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
_FLOAT = st.floats(allow_nan=False, allow_infinity=False)
_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_SCALARS = st.none() | st.booleans() | _INT64 | _FLOAT | _TEXT
JSON_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=12
)
_FIELDS = ("id", "body", "url", "source", "title", "published_at", "language")
_BODY_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=200)


@st.composite
def raw_objects(draw: st.DrawFn) -> bytes:
    """JSON objects with the contract's fields (often of the right type) and any others."""
    obj: dict[str, Any] = {}
    for name in _FIELDS:
        if draw(st.booleans()):
            obj[name] = draw(
                st.one_of(_TEXT, _BODY_TEXT, JSON_VALUES) if name != "body" else st.one_of(_BODY_TEXT, JSON_VALUES)
            )
    obj.update(draw(st.dictionaries(_TEXT, JSON_VALUES, max_size=3)))
    return orjson.dumps(obj)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid item with a few bytes flipped, cut or inserted."""
    data = bytearray(draw(raw_objects()))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


# --- never raises, always one routed message ---------------------------------------------------------------


@pytest.mark.timeout(60)
@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_route_one_message(raw: bytes) -> None:
    check(raw)


@pytest.mark.timeout(60)
@FAST
@given(damaged())
def test_damaged_items_route_one_message(raw: bytes) -> None:
    check(raw)


@pytest.mark.timeout(60)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_objects())
def test_arbitrary_objects_route_one_message(raw: bytes) -> None:
    value = check(raw)
    obj = orjson.loads(raw)
    body = obj.get("body")
    if not isinstance(body, str) or not body.strip():
        assert isinstance(value, DeadLetter)


@pytest.mark.timeout(60)
@FAST
@given(JSON_VALUES)
def test_any_json_value_routes_one_message_and_non_objects_are_dead_lettered(value: Any) -> None:
    raw = orjson.dumps(value)
    result = check(raw)
    if not isinstance(value, dict):
        assert isinstance(result, DeadLetter)
        assert (result.reason, result.stage) == ("not_an_object", "decode")


# --- cleaning invents no words ------------------------------------------------------------------------------

_TAG = re.compile(r"<[^<>]*>")
_LOOSE_TAG = re.compile(r"<[^>]*>")
_WORD = re.compile(r"\w+")
# Elements dropped whole, content and all: "0<script>1</script>0" reads "00".
_DROPPED = re.compile(rf"<({'|'.join(_html._DROPPED_TAGS)})\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_FRAGMENTS = st.sampled_from(
    [
        "<p>", "</p>", "<div>", "</div>", "<br>", "<b>", "</b>", "<i>", "</i>", "<span>", "<script>",
        "</script>", "<!--", "-->", "<html>", "<body>", "[ad_1]", "Read also | ", "share now", "Source link",
        "\n", "\n\n", "\r\n", "&amp;", "&#8220;", "&lt;p&gt;", "(Associated Press)", "WASHINGTON (Reuters) - ",
        "\u00c3\u00a9", "\u00a0", "\u200b", "\ufeff", "\x00", "\x1e", "\x85", "(Reporting by A; Editing by B)",
        "&\\t", " ", "-", "— ", "Copyright 2023 ", "all rights reserved", "tweet", "(this is auto-generated)",
    ]
)  # fmt: skip
_BODIES = st.lists(st.one_of(st.text(st.characters(codec="utf-8"), max_size=30), _FRAGMENTS), max_size=40).map("".join)


def _references(raw: str) -> tuple[str, ...]:
    """The input as the output may quote it (as in test_clean_properties): normalised with entities
    decoded, tags kept, replaced by spaces, or dropped with no space (inline tags join words), the
    last also with tags read as loosely as a parser reads them."""
    text = _text.finish(_text.prepare(raw))
    as_is = " ".join(text.split())  # "&#0" without its ";" is text, not a reference
    for _ in range(3):
        text = html.unescape(text)
    stripped = " ".join(_TAG.sub(" ", text).split())
    # Parsers also drop what only looks like a tag, before or after the inner tags are gone:
    # "0<A<a>0", "0<A<p>>0" and "0<?<p>1>0" ("<?" opens a bogus comment) all read "00".
    loose = ["".join(_WORD.findall(_LOOSE_TAG.sub("", form))) for form in (text, _TAG.sub("", text))]
    dropped = "".join(_WORD.findall(_TAG.sub("", _DROPPED.sub("", text))))
    return as_is, " ".join(text.split()), stripped, "".join(_WORD.findall(stripped)), *loose, dropped


@pytest.mark.timeout(60)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_BODIES, st.one_of(st.none(), _BODIES))
def test_cleaning_adds_no_words(body: str, title: str | None) -> None:
    value = check(orjson.dumps({"body": body, "title": title}))
    if not isinstance(value, Article):
        return
    body_refs = _references(body)
    for word in _WORD.findall(value.body):
        assert any(word in reference for reference in body_refs), word
    if value.title and title is not None:
        title_refs = _references(title)
        for word in _WORD.findall(value.title):
            assert any(word in reference for reference in title_refs), word


# --- tags come only from the taxonomy -------------------------------------------------------------------------


@cache
def _phrases() -> tuple[str, ...]:
    taxonomy = Tagger.default().taxonomy
    texts = {phrase.text for topic in taxonomy.topics for phrase in topic.phrases}
    texts |= {exclusion.text for topic in taxonomy.topics for exclusion in topic.exclusions}
    return tuple(sorted(texts))


@st.composite
def tagged_text(draw: st.DrawFn) -> str:
    pieces = draw(
        st.lists(
            st.one_of(st.sampled_from(_phrases()), st.text(st.characters(codec="utf-8"), max_size=12), _FRAGMENTS),
            min_size=1,
            max_size=30,
        )
    )
    separator = draw(st.sampled_from([" ", "-", "\n", "", ". "]))
    return separator.join(pieces)


@pytest.mark.timeout(60)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tagged_text(), st.one_of(st.none(), tagged_text()))
def test_tags_come_only_from_the_taxonomy(body: str, title: str | None) -> None:
    topics = set(_tagger().topic_ids)
    value = check(orjson.dumps({"body": body, "title": title}))
    if isinstance(value, Article):
        assert {tag.topic for tag in value.tags} <= topics
        assert len({tag.topic for tag in value.tags}) == len(value.tags)
        for tag in value.tags:
            assert tag.evidence
            folded = " ".join(f"{value.title or ''} {value.body}".casefold().split())
            for evidence in tag.evidence:
                assert " ".join(evidence.casefold().split()) in folded


@pytest.mark.timeout(60)
@FAST
@given(st.one_of(st.none(), st.text(max_size=80)), st.text(max_size=400))
def test_the_tagger_alone_only_names_taxonomy_topics(title: str | None, body: str) -> None:
    tagger = _tagger()
    assert {tag.topic for tag in tagger.tag(title, body)} <= set(tagger.topic_ids)


@cache
def _tagger() -> Tagger:
    return Tagger.default()
