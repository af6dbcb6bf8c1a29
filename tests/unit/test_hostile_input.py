"""Hostile input: every raw message becomes exactly one article or one dead letter with a reason.

No broker: items go through ``offline_pipeline`` and ``process_lines`` (the worker's stages over
dicts). Every output is serialised the way the worker and ``newsfeed process`` write it, and checked
against the published JSON schemas. Time is bounded with pytest-timeout marks, never asserted.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from agents.offline import offline_pipeline, process_lines
from pipeline.deadletter import original_bytes
from pipeline.decode import public_id
from pipeline.prepared import Prepared
from pipeline.process import Pipeline
from pipeline.records import Article, DeadLetter, Message, Origin
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TOPIC_IN = "hostile.jsonl"
ROUTED = ("search", "duplicates", "deadletter")

# jsonschema checks "date-time" only with an optional package; check it here instead.
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)", value):
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    return Draft202012Validator(schema, format_checker=FORMATS)


VALIDATORS = {
    "search": _validator("article"),
    "duplicates": _validator("article"),
    "deadletter": _validator("deadletter"),
    "alerts": _validator("alert"),
}

# C0 controls but tab and newline (the clean stage's paragraph marker U+001E among them), DEL and C1.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def roomy(settings: Settings) -> Settings:
    """Limits raised far enough that the clean stage itself meets the huge inputs."""
    return replace(settings, max_item_bytes=16 * 1024 * 1024, max_body_chars=8_000_000)


def run_one(pipeline: Pipeline, raw: bytes, offset: int = 7) -> list[Message]:
    """All output messages of one raw line."""
    return list(process_lines(pipeline, iter([(TOPIC_IN, offset, raw)])))


def routed(messages: Iterable[Message], raw: bytes, offset: int = 7) -> Message:
    """Check the messages of one input against the promise; return its one search/duplicates/deadletter message.

    - exactly one message on search, duplicates or deadletter (alerts may follow an article);
    - every message serialises as the worker and ``newsfeed process`` write it, and validates;
    - a dead letter keeps the exact original bytes, its reason, stage and source position;
    - an article's body and title carry no control characters.
    """
    messages = list(messages)
    kinds = [m.topic.split(".", 1)[1] for m in messages]
    assert all(kind in (*ROUTED, "alerts") for kind in kinds), kinds
    main = [m for m in messages if m.topic.split(".", 1)[1] in ROUTED]
    assert len(main) == 1, f"expected one routed message, got {kinds}"
    for message in messages:
        kind = message.topic.split(".", 1)[1]
        line = orjson.dumps({"topic": message.topic, "key": message.key, "value": message.value})
        value = orjson.loads(line)["value"]
        assert orjson.loads(orjson.dumps(message.value)) == value
        errors = sorted(VALIDATORS[kind].iter_errors(value), key=str)
        assert not errors, f"{kind} message breaks its schema: {errors[0].message}"
    message = main[0]
    value = message.value
    if isinstance(value, DeadLetter):
        assert message.topic.endswith(".deadletter")
        assert value.detail.strip()
        assert re.fullmatch(r"[a-z0-9_]+", value.reason)
        assert original_bytes(value) == raw
        assert value.original_bytes == len(raw)
        assert (value.source_topic, value.source_partition, value.source_offset) == (TOPIC_IN, None, offset)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            assert value.original_encoding == "base64"
            assert base64.b64decode(value.original, validate=True) == raw
        else:
            if raw.decode("utf-8").isprintable():
                assert value.original_encoding == "utf-8"
        assert message.key == (value.item_id or "")
    else:
        assert isinstance(value, Article)
        assert value.body.strip() == value.body != ""
        assert not CONTROL.search(value.body), repr(CONTROL.search(value.body))
        assert value.title is None or not CONTROL.search(value.title)
        assert message.key == value.key
        assert value.id == public_id(value.key)
    return message


def outcome(pipeline: Pipeline, raw: bytes) -> Any:
    """The routed record (Article or DeadLetter) of one raw line, after all the checks."""
    return routed(run_one(pipeline, raw), raw).value


def reason_of(value: Any) -> str:
    return value.reason if isinstance(value, DeadLetter) else "article"


def item(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "id": "h-1",
        "title": "Port reopens",
        "body": "The port reopened on Monday after the storm.",
    }
    base.update(fields)
    return orjson.dumps({key: value for key, value in base.items() if value is not _DROP})


_DROP = object()


@pytest.fixture
def pipeline(settings: Settings) -> Pipeline:
    return offline_pipeline(settings)


# --- the table: malformed messages, wrong types, encodings ------------------------------------------------

CASES: list[tuple[str, bytes, str]] = [
    # not JSON, or not an object
    ("not json", b"not json", "invalid_json"),
    ("truncated json", b'{"id": "a", "body": "cut o', "invalid_json"),
    ("trailing garbage", b'{"body": "x"} {"body": "y"}', "invalid_json"),
    ("empty", b"", "empty_message"),
    ("whitespace only", b" \n\t\r ", "empty_message"),
    ("byte-order mark only", b"\xef\xbb\xbf", "empty_message"),
    ("array", b"[1, 2]", "not_an_object"),
    ("string", b'"a string"', "not_an_object"),
    ("number", b"42", "not_an_object"),
    ("null", b"null", "not_an_object"),
    ("true", b"true", "not_an_object"),
    ("NaN literal", b'{"body": "x", "n": NaN}', "invalid_json"),
    ("raw NUL inside a string", b'{"body": "a\x00b"}', "invalid_json"),
    ("raw control inside a string", b'{"body": "a\x1bb"}', "invalid_json"),
    # body
    ("missing body", item(body=_DROP), "missing_body"),
    ("null body", item(body=None), "missing_body"),
    ("blank body", item(body=" \n\t "), "missing_body"),
    ("numeric body", item(body=42), "invalid_body"),
    ("boolean body", item(body=True), "invalid_body"),
    ("list body", item(body=["a", "b"]), "invalid_body"),
    ("object body", item(body={"text": "a"}), "invalid_body"),
    # other fields of the wrong type
    ("list title", item(title=["a"]), "invalid_title"),
    ("numeric url", item(url=5), "invalid_url"),
    ("object source", item(source={"name": "x"}), "invalid_source"),
    ("boolean language", item(language=False), "invalid_language"),
    ("object id", item(id={"a": 1}), "invalid_id"),
    ("boolean id", item(id=True), "invalid_id"),
    ("float id", item(id=1.5), "invalid_id"),
    ("list id", item(id=["a"]), "invalid_id"),
    ("id with a NUL", item(id="a\x00b"), "invalid_id"),
    ("id with a newline", item(id="a\nb"), "invalid_id"),
    ("100 KB id", item(id="i" * 100_000), "invalid_id"),
    ("overlong title", item(title="t" * 5000), "invalid_title"),
    ("overlong url", item(url="https://example.com/" + "p" * 5000), "invalid_url"),
    # numbers: orjson reads integers up to 64 bits and other numbers as doubles
    ("5,000-digit number", b'{"body": "x", "n": ' + b"9" * 5000 + b"}", "invalid_json"),
    ("5,000-digit id", b'{"body": "x", "id": ' + b"9" * 5000 + b"}", "invalid_json"),
    ("30-digit id (read as a float)", b'{"body": "x", "id": ' + b"1" * 30 + b"}", "invalid_id"),
    ("1e400", b'{"body": "x", "n": 1e400}', "invalid_json"),
    # invalid UTF-8
    ("latin-1 bytes", '{"body": "café"}'.encode("latin-1"), "invalid_utf8"),
    ("UTF-16 with its BOM", '{"body": "x"}'.encode("utf-16"), "invalid_utf8"),
    ("encoded surrogate (CESU-8)", b'{"body": "\xed\xa0\x80 x"}', "invalid_utf8"),
    ("overlong encoding of /", b'{"body": "\xc0\xaf x"}', "invalid_utf8"),
    ("lone continuation bytes", b"\x80\x81\x82", "invalid_utf8"),
    ("lone surrogate escape", b'{"body": "\\ud800 x"}', "invalid_json"),
    # nesting: orjson refuses more than 1024 levels; more than 251 cannot be written back
    ("arrays 100,000 deep", b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    (
        "objects 100,000 deep in a field",
        b'{"body": "x", "a": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
        "invalid_json",
    ),
    ("arrays 1,000 deep in a field", b'{"body": "x", "a": ' + b"[" * 1000 + b"]" * 1000 + b"}", "too_deep"),
    ("arrays 300 deep in a field", b'{"body": "x", "a": ' + b"[" * 300 + b"]" * 300 + b"}", "too_deep"),
    ("arrays 250 deep in a field", b'{"body": "x", "a": ' + b"[" * 250 + b"]" * 250 + b"}", "article"),
    # size
    ("10 MB body", item(body="word " * 2_000_000), "too_large"),
    ("2.05 M character body", item(body="a" * 2_050_000), "body_too_large"),
    # nothing left after cleaning
    ("only junk", item(body="[ad_1]\nshare now\n[ad_2]\nSource link"), "empty_after_cleaning"),
    ("only markup", item(body="<p></p><div><br></div><script>alert(1)</script>"), "empty_after_cleaning"),
    ("only control characters", item(body="\x00\x01\x02\x7f"), "empty_after_cleaning"),
    ("only invisible characters", item(body="\u200b\u2060\ufeff\u00ad"), "empty_after_cleaning"),
    # accepted oddities
    ("byte-order mark", b"\xef\xbb\xbf" + item(), "article"),
    ("empty id derives one", item(id=""), "article"),
    ("integer id", item(id=12345), "article"),
    ("null fields", item(title=None, url=None, source=None, language=None, published_at=None), "article"),
    ("unparseable date", item(published_at={"y": 2023}), "article"),
    ("date before year 1 in UTC", item(published_at="0001-01-01T00:00:00+01:00"), "article"),
    ("date after year 9999 in UTC", item(published_at="9999-12-31T23:59:59-01:00"), "article"),
    ("offset of more than a day", item(published_at="2023-06-19 10:00 +9999"), "article"),
    ("unknown zone name", item(published_at="Mon, 19 Jun 2023 10:00:00 XYZ"), "article"),
    ("epoch 1e300", b'{"body": "Storm words.", "published_at": 1e300}', "article"),
    ("javascript url", item(url="javascript:alert(1)"), "article"),
    ("ipv6 url", item(url="http://[::1]:8080/a"), "article"),
    ("broken ipv6 url", item(url="http://[::1/a"), "article"),
    ("extra fields of every type", item(x=[1, {"y": None}], z=1.5, w=False), "article"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("raw", "reason"), [pytest.param(raw, reason, id=label) for label, raw, reason in CASES])
def test_each_hostile_item_is_one_article_or_one_dead_letter(pipeline: Pipeline, raw: bytes, reason: str) -> None:
    assert reason_of(outcome(pipeline, raw)) == reason


def test_a_batch_of_hostile_lines_gives_one_routed_message_per_line(pipeline: Pipeline) -> None:
    lines = [(TOPIC_IN, offset, raw) for offset, (_, raw, _) in enumerate(CASES) if len(raw) < 100_000]
    messages = list(process_lines(pipeline, iter(lines)))
    main = [m for m in messages if m.topic.split(".", 1)[1] in ROUTED]
    assert len(main) == len(lines)
    for (_, offset, raw), message in zip(lines, main, strict=True):
        if isinstance(message.value, DeadLetter):
            assert message.value.source_offset == offset
            assert original_bytes(message.value) == raw


def test_invalid_utf8_is_kept_as_base64_of_the_exact_bytes(pipeline: Pipeline) -> None:
    raw = b'{"id": "x", "body": "caf\xe9 \xff\xfe \x00"}'
    letter = outcome(pipeline, raw)
    assert letter.reason == "invalid_utf8"
    assert letter.stage == "decode"
    assert letter.original_encoding == "base64"
    assert base64.b64decode(letter.original) == raw


def test_a_dead_letter_of_control_characters_is_base64_so_it_stays_small(pipeline: Pipeline) -> None:
    raw = b'{"body": "' + b"\x01" * 100_000 + b'"'  # not JSON: cut short
    letter = outcome(pipeline, raw)
    assert letter.reason == "invalid_json"
    assert letter.original_encoding == "base64"
    assert original_bytes(letter) == raw
    assert len(orjson.dumps(letter)) < len(raw) * 1.4


def test_a_dead_letter_keeps_valid_utf8_as_text(pipeline: Pipeline) -> None:
    raw = '{"body": ["Zürich — 東京"]}'.encode()
    letter = outcome(pipeline, raw)
    assert letter.reason == "invalid_body"
    assert letter.stage == "validate"
    assert letter.original_encoding == "utf-8"
    assert letter.original == raw.decode()


def test_dead_letters_name_the_item_when_its_id_was_usable(pipeline: Pipeline) -> None:
    letter = outcome(pipeline, item(id="keep-me", body=42))
    assert letter.item_id == "keep-me"
    letter = outcome(pipeline, item(id="i" * 100_000, body=42))
    assert letter.item_id is None


def test_duplicate_keys_last_one_wins(pipeline: Pipeline) -> None:
    """Documented behaviour (orjson's): a repeated key keeps its last value."""
    raw = b'{"id": "dup", "body": "First text of the story.", "body": "Second text of the story.", "id": "dup-2"}'
    article = outcome(pipeline, raw)
    assert article.id == "dup-2"
    assert article.body == "Second text of the story."


def test_nul_and_control_characters_are_cleaned_from_body_and_title(pipeline: Pipeline) -> None:
    body = "Ships\x00 left\x01 the\x07 port\x1b[31m at dawn.\x7f\x0b\x0c\r\nThey came back\u2028at noon.\x85"
    article = outcome(pipeline, item(body=body, title="Ti\x00tle\x1f here"))
    assert "Ships left the port" in article.body
    assert "at dawn" in article.body
    assert article.title == "Title here"


def test_title_mojibake_with_c1_characters_is_repaired_like_the_body(pipeline: Pipeline) -> None:
    broken = "CAF\u00c3\u0089 au lait"  # "CAFÉ" as UTF-8 read as Latin-1: the second char is C1
    article = outcome(pipeline, item(title=broken, body=f"{broken} is served."))
    assert article.body == "CAFÉ au lait is served."
    assert article.title == "CAFÉ au lait"


def test_a_byte_order_mark_does_not_reach_the_text(pipeline: Pipeline) -> None:
    raw = b"\xef\xbb\xbf" + item(body="\ufeffThe port reopened.", title="\ufeffPort")
    article = outcome(pipeline, raw)
    assert article.body == "The port reopened."
    assert article.title == "Port"


def test_an_empty_id_is_replaced_by_a_derived_one(pipeline: Pipeline) -> None:
    article = outcome(pipeline, item(id="  ", url="https://example.com/a?utm_source=x"))
    assert article.id_source == "url"
    assert article.id.startswith("url-")
    article = outcome(pipeline, item(id="", body="Other text entirely here."))
    assert article.id_source == "content"


def test_unreadable_publication_times_become_a_warning(pipeline: Pipeline) -> None:
    for offset, value in enumerate(["0001-01-01T00:00:00+01:00", "2023-06-19 10:00 +9999", "10:00 XYZ"]):
        raw = item(id=f"date-{offset}", body=f"Story number {offset} about a port.", published_at=value)
        article = outcome(pipeline, raw)
        assert article.published_at is None
        assert "published_at_unparseable" in article.warnings


def test_an_ipv6_url_keeps_its_brackets(pipeline: Pipeline) -> None:
    article = outcome(pipeline, item(url="HTTP://[2001:DB8::1]:8080/a?utm_source=x"))
    assert article.url == "http://[2001:db8::1]:8080/a"


def test_deep_extra_fields_that_are_accepted_can_be_written_everywhere(settings: Settings) -> None:
    """An accepted item nested as deep as the limit allows still serialises as an article,
    as a prepared message (the internal topic) and as a ``newsfeed process`` line."""
    pipeline = offline_pipeline(settings)
    raw = b'{"id": "deep", "body": "Deep text.", "a": ' + b'{"a": ' * 249 + b"1" + b"}" * 250
    prepared = pipeline.prepare(raw, Origin(TOPIC_IN, None, 1), datetime.now(UTC))
    assert isinstance(prepared, Prepared)
    assert Prepared.from_bytes(prepared.to_bytes()) == prepared
    routed(pipeline.settle(prepared, datetime.now(UTC)), raw, 1)


# --- expensive inputs: bounded time, and a clear result either way ---------------------------------------

HEAVY: list[tuple[str, str]] = [
    ("3 MB token without spaces", "a" * 3_000_000),
    ("HTML 200,000 div deep", "<div>" * 200_000 + "text" + "</div>" * 200_000),
    ("HTML 200,000 inline deep", "<p>lead</p>" + "<b>" * 200_000 + "text" + "</b>" * 200_000),
    ("HTML 200,000 unclosed spans", "<p>lead</p>" + "<span>" * 200_000 + "text"),
    ("page 200,000 div deep", "<html><body>" + "<div>" * 200_000 + "text"),
    ("HTML 200,000 tables deep", "<table>" * 200_000 + "text"),
    ("HTML 200,000 anchors deep", "<p>x</p>" + "<a href=x>" * 200_000 + "text"),
    ("HTML 200,000 scripts", "<p>x</p>" + "<script>" * 200_000 + "text"),
    ("HTML 100,000 select/option", "<p>x</p>" + "<select><option>" * 100_000 + "text"),
    ("HTML 200,000 comments", "<p>x</p>" + "<!--" * 200_000),
    ("a*50000 + !", "a" * 50_000 + "!"),
    ("a*1,000,000 + !", "a" * 1_000_000 + "!"),
    ("100,000 open parentheses", "(" * 100_000),
    ("1,000,000 open parentheses then a disclaimer", "(" * 1_000_000 + "this is auto-generated)"),
    ("500,000 spaces", "word" + " " * 500_000 + "end"),
    ("1,000,000 dashes after a place", "WASHINGTON " + "-" * 1_000_000 + " x"),
    ("1,500,000 spaced dashes", "- " * 1_500_000),
    ("Read also | x 100,000", "Read also |" * 100_000),
    ("Read also | x 100,000 lines", "Read also |\n" * 100_000),
    ("read more x 100,000", "read more " * 100_000),
    ("upper-case words (dateline)", "WASHINGTON " * 300_000),
    ("credit that never closes", "(Reporting by " + "A" * 1_000_000),
    ("share words x 200,000", "share now tweet " * 200_000),
    ("copyright line 1 MB", "© " + "x" * 1_000_000),
    ("all rights reserved 1 MB", "all rights reserved " * 50_000),
    ("mojibake x 400,000", "Ã©" * 400_000),
    ("entities x 500,000", "&amp;" * 500_000),
    ("half entities x 500,000", "&#" * 500_000),
    ("angle brackets x 1,000,000", "<" * 1_000_000),
    ("unclosed tag attributes", "<p>" + "<a " * 500_000),
    ("one million newlines", "\n" * 1_000_000 + "x"),
    ("one million carriage returns", "\r" * 1_000_000 + "x"),
    ("one million C1 controls", "\x85" * 1_000_000 + "x"),
    ("one million NULs", "\x00" * 1_000_000 + "x"),
    ("ad markers x 200,000", "[ad_1]" * 200_000 + " x"),
    ("escaped tabs x 500,000", "&\\t" * 500_000),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("body", [pytest.param(body, id=label) for label, body in HEAVY])
def test_expensive_bodies_finish_with_a_clear_result(settings: Settings, body: str) -> None:
    """With limits raised so cleaning meets them, each finishes (bounded by the mark) as an article
    or as a dead letter for an empty text; never a stage error."""
    pipeline = offline_pipeline(roomy(settings))
    result = outcome(pipeline, item(body=body))
    assert reason_of(result) in {"article", "empty_after_cleaning"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("body", [pytest.param(body, id=label) for label, body in HEAVY])
def test_expensive_bodies_under_the_default_limits(pipeline: Pipeline, body: str) -> None:
    raw = item(body=body)
    result = outcome(pipeline, raw)
    if len(raw) > pipeline.settings.max_item_bytes:
        assert reason_of(result) == "too_large"
    elif len(body) > pipeline.settings.max_body_chars:
        assert reason_of(result) == "body_too_large"
    else:
        assert reason_of(result) in {"article", "empty_after_cleaning"}


@pytest.mark.timeout(10)
def test_a_3_mb_token_is_refused_before_parsing(pipeline: Pipeline) -> None:
    letter = outcome(pipeline, item(body="a" * 3_000_000))
    assert (letter.reason, letter.stage) == ("too_large", "decode")


@pytest.mark.timeout(10)
def test_html_200k_deep_is_refused_by_size_under_default_limits(pipeline: Pipeline) -> None:
    letter = outcome(pipeline, item(body="<div>" * 200_000 + "text" + "</div>" * 200_000))
    assert letter.reason == "too_large"


# trafilatura's fallback extractors are quadratic in repeated short paragraphs; past a block cap they are
# skipped, so this page inside every limit finishes in seconds instead of minutes.
@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_page_of_repeated_short_paragraphs_finishes_quickly(pipeline: Pipeline) -> None:
    body = "<html><body>" + "<div><p>hello world</p></div>" * 30_000 + "</body></html>"
    raw = item(body=body)
    assert len(raw) < pipeline.settings.max_item_bytes
    assert len(body) < pipeline.settings.max_body_chars
    assert reason_of(outcome(pipeline, raw)) in {"article", "empty_after_cleaning"}


# lexbor decodes numeric references such as &#x1b; to control characters; cleaning removes them after.
@pytest.mark.parametrize("reference", ["&#1;", "&#x1b;", "&#127;", "&#x81;", "&#1"])
def test_html_character_references_to_controls_are_dropped(pipeline: Pipeline, reference: str) -> None:
    body = f"<p>The port {reference}[31m reopened.</p>"
    outcome(pipeline, item(body=body, title=body))  # routed() asserts no control character in body or title
