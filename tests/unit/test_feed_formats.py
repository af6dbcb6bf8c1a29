"""Feed documents to raw items: format detection, RSS/RDF/Atom/JSON Feed mapping, bad and hostile input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from pipeline.feeds import Broken, Entry, NotAFeedError, detect, parse_document, parse_syndication

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


def _read(name: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def _entries(name: str) -> list[Entry | Broken]:
    return [p for p in parse_document(_read(name)).entries if isinstance(p, Entry | Broken)]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("rss2.xml", "rss"), ("rss091.xml", "rss"), ("rss1.rdf", "rdf"), ("atom.xml", "atom"), ("feed.json", "jsonfeed"),
     ("example.arc", "arc"), ("recovered.xml.gz", "rss")],
)  # fmt: skip
def test_detect_names_the_format_from_the_content(name: str, fmt: str) -> None:
    assert detect(_read(name)[:65536]) == fmt


def test_detect_tells_json_lines_from_json_feed_and_warc_from_both() -> None:
    assert detect(b'{"id": "1", "body": "x"}\n{"id": "2", "body": "y"}\n') == "jsonl"
    assert detect(b'\xef\xbb\xbf{"version": "https://jsonfeed.org/version/1.1", "items": []}') == "jsonfeed"
    assert detect(b"WARC/1.0\r\nWARC-Type: warcinfo\r\n") == "warc"


@pytest.mark.parametrize(
    ("data", "reason", "words"),
    [
        (b"", "not_a_feed", "empty"),
        (b"# a README\n", "not_a_feed", "starts with"),
        (b"<!DOCTYPE html><html><body></body></html>", "not_a_feed", "HTML page"),
        (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", "not_a_feed", "<svg>"),
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><rss/>', "hostile_xml", "entities"),
    ],
)
def test_a_file_that_is_not_a_feed_is_one_clear_error(data: bytes, reason: str, words: str) -> None:
    with pytest.raises(NotAFeedError) as caught:
        detect(data)
    assert caught.value.reason == reason
    assert words in caught.value.detail


def test_rss2_maps_content_encoded_guid_link_dates_and_reports_an_entry_without_body_by_line() -> None:
    first, second, third = _entries("rss2.xml")
    assert isinstance(first, Entry)
    assert first.item == {
        "id": "wire-2024-0001",
        "url": "https://wire.example.com/world/taiwan-talks?utm_source=rss",
        "title": "Taiwan Strait talks resume",
        "published_at": "Mon, 01 Jan 2024 10:00:00 GMT",
        "body": "<p>TAIPEI (AP) &mdash; Talks resumed&nbsp;on Monday.</p><p>Second paragraph.</p>",
        "source": "Example Wire",
        "language": "en-us",
    }
    assert isinstance(second, Entry)
    assert second.item["id"] == "https://wire.example.com/markets/close"  # no guid: the link is the id
    assert second.item["body"] == "<p>Stocks rose.</p>"  # escaped HTML in description, unescaped once
    assert isinstance(third, Broken)
    assert (third.reason, third.where) == ("no_body", "line 21")


def test_rss1_rdf_items_outside_the_channel_with_dublin_core() -> None:
    [entry] = _entries("rss1.rdf")
    assert isinstance(entry, Entry)
    assert entry.item["published_at"] == "2024-01-02T08:00:00+01:00"
    assert entry.item["language"] == "de"
    assert entry.item["source"] == "RDF Daily"


def test_rss091_in_latin1_is_decoded_by_its_declaration() -> None:
    [entry] = _entries("rss091.xml")
    assert isinstance(entry, Entry)
    assert entry.item["body"].endswith("été")
    assert entry.item["title"] == "Première"
    assert entry.item["language"] == "fr"


def test_atom_keeps_xhtml_markup_resolves_xml_base_and_takes_published_over_updated() -> None:
    first, second = _entries("atom.xml")
    assert isinstance(first, Entry)
    assert isinstance(second, Entry)
    assert first.item["body"] == "<div><p>Nuclear-powered <b>submarines</b> with Australia.</p></div>"
    assert first.item["url"] == "https://blog.example.co.uk/posts/aukus"  # alternate, not the enclosure
    assert first.item["published_at"] == "2024-01-03T09:00:00+00:00"
    assert first.item["language"] == "en-GB"
    assert second.item["body"] == "Plain summary text."
    assert second.item["published_at"] == "2024-01-04T00:00:00Z"
    assert second.item["language"] == "cy"  # the entry's xml:lang over the feed's


def test_json_feed_maps_items_and_reports_broken_ones_by_position() -> None:
    entries = _entries("feed.json")
    assert [e.where for e in entries] == ["item 1", "item 2", "item 3", "item 4"]
    first, second, third, fourth = entries
    assert isinstance(first, Entry)
    assert first.item["body"] == "<p>Primero.</p>"  # content_html over content_text
    assert isinstance(second, Entry)
    assert (second.item["id"], second.item["language"]) == ("2", "pt")
    assert isinstance(third, Broken)
    assert third.reason == "not_an_object"
    assert isinstance(fourth, Broken)
    assert fourth.reason == "no_body"


def test_ill_formed_xml_is_recovered_and_the_errors_are_kept() -> None:
    document = parse_document(_read("recovered.xml.gz"))
    assert [e.item["id"] for e in document.entries if isinstance(e, Entry)] == ["r-1", "r-2"]
    assert document.recovered
    assert "eacute" in document.recovered[0]


@pytest.mark.parametrize("name", ["billion-laughs.xml", "xxe.xml"])
def test_hostile_xml_is_refused_by_the_parser_itself_without_expanding(name: str) -> None:
    with pytest.raises(NotAFeedError) as caught:
        parse_syndication(_read(name))
    assert caught.value.reason == "hostile_xml"


def test_xxe_never_reads_the_file_even_when_entities_are_not_declared_in_the_head() -> None:
    # An entity reference without any declaration: nothing to resolve, nothing read.
    data = b'<rss version="2.0"><channel><item><description>&xxe;</description></item></channel></rss>'
    document = parse_syndication(data)
    assert all("root:" not in str(e) for e in document.entries)
