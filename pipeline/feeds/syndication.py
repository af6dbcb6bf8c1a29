"""RSS 0.9x/1.0/2.0 and Atom 1.0 (and 0.3) documents to raw items, with lxml.

The parser never resolves entities, never loads a DTD and never touches the network; a document that
declares entities is refused before anything is expanded. Ill-formed feeds (undefined HTML entities,
stray ampersands, a truncated end) are read in lxml's recovery mode, as far as they go.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from pipeline.feeds.entries import Broken, Entry, NotAFeedError, Parsed, compact, host_of

_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_DC = "http://purl.org/dc/elements/1.1/"
_ATOM_NS = frozenset({"http://www.w3.org/2005/Atom", "http://purl.org/atom/ns#"})
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XHTML = "http://www.w3.org/1999/xhtml"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=True, remove_pis=True, recover=True,
    )  # fmt: skip


@dataclass(slots=True)
class Document:
    """A parsed RSS or Atom document: its format, what lxml had to recover from, and its entries."""

    format: str
    """``rss``, ``rdf`` or ``atom``."""
    recovered: list[str] = field(default_factory=list)
    """The XML errors lxml recovered from (``line N: message``), at most 10."""
    entries: list[Parsed] = field(default_factory=list)


def parse_syndication(data: bytes) -> Document:
    """Parse an RSS or Atom document (bytes as read: the XML declaration names the encoding).

    Raises:
        NotAFeedError: not XML, not RSS or Atom, or declaring entities.
    """
    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise NotAFeedError("not_a_feed", f"not a feed: unreadable XML ({error})") from None
    if root is None:
        raise NotAFeedError("not_a_feed", "not a feed: no XML element could be read")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise NotAFeedError("hostile_xml", "the XML declares entities (expansion and external entities refused)")
    name = etree.QName(root).localname.lower()
    if name == "feed":
        document = Document("atom")
        document.entries = list(_atom(root))
    elif name in {"rss", "rdf", "channel"}:
        document = Document("rdf" if name == "rdf" else "rss")
        document.entries = list(_rss(root))
    else:
        raise NotAFeedError("not_a_feed", f"not a feed: XML whose root element is <{name}>")
    document.recovered = [f"line {e.line}: {e.message}" for e in list(parser.error_log)[:10]]
    return document


def _local(element: Any) -> tuple[str | None, str]:
    tag = element.tag
    if not isinstance(tag, str):
        return None, ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def _text(element: Any) -> str | None:
    # A leaf's text is its itertext (comments and processing instructions are removed at parse).
    text = (element.text or "").strip() if not len(element) else "".join(element.itertext()).strip()
    return text or None


def _rss(root: Any) -> Iterator[Parsed]:
    channel = None
    items = []
    for element in root.iter():
        local = _local(element)[1]
        if local == "channel" and channel is None:
            channel = element
        elif local == "item":
            items.append(element)
    feed_title = feed_link = feed_lang = None
    if channel is not None:
        feed_lang = channel.get(_XML_LANG) or root.get(_XML_LANG)
        for child in channel:
            namespace, local = _local(child)
            if namespace in _ATOM_NS:
                continue
            if local == "title" and feed_title is None:
                feed_title = _text(child)
            elif local == "link" and feed_link is None:
                feed_link = _text(child)
            elif local == "language" and feed_lang is None:
                feed_lang = _text(child)
    for element in items:
        yield _rss_item(element, feed_title, feed_link, feed_lang)


def _rss_item(element: Any, feed_title: str | None, feed_link: str | None, feed_lang: str | None) -> Parsed:
    fields: dict[str, str | None] = {}
    for child in element:
        namespace, local = _local(child)
        if namespace in _ATOM_NS:
            continue
        key = f"{local}@content" if namespace == _CONTENT else f"{local}@dc" if namespace == _DC else local
        if key not in fields:
            fields[key] = _text(child)
    link = fields.get("link")
    item_id = fields.get("guid") or link or element.get(f"{{{_RDF}}}about")
    body = fields.get("encoded@content") or fields.get("description") or fields.get("description@dc")
    return _entry(
        element,
        item_id=item_id,
        url=link,
        title=fields.get("title") or fields.get("title@dc"),
        published_at=fields.get("pubDate") or fields.get("date@dc") or fields.get("pubdate"),
        body=body,
        source=feed_title or host_of(feed_link) or host_of(link),
        language=element.get(_XML_LANG) or fields.get("language@dc") or feed_lang,
    )


def _atom(root: Any) -> Iterator[Parsed]:
    feed_title = feed_link = None
    feed_lang = root.get(_XML_LANG)
    entries = []
    for child in root:
        local = _local(child)[1]
        if local == "title" and feed_title is None:
            feed_title = _atom_text(child)
        elif local == "link" and feed_link is None and child.get("rel", "alternate") == "alternate":
            feed_link = _href(child)
        elif local == "entry":
            entries.append(child)
    for element in entries:
        yield _atom_entry(element, feed_title, feed_link, feed_lang)


def _atom_entry(element: Any, feed_title: str | None, feed_link: str | None, feed_lang: str | None) -> Parsed:
    fields: dict[str, str | None] = {}
    link = None
    for child in element:
        local = _local(child)[1]
        if local == "link":
            if link is None and child.get("rel", "alternate") == "alternate":
                link = _href(child)
        elif local == "source":
            continue  # the entry's original feed: its title and id are not this entry's
        elif local not in fields:
            fields[local] = _text(child) if local in {"id", "published", "updated", "issued", "modified"} else (
                _atom_text(child)
            )  # fmt: skip
    return _entry(
        element,
        item_id=fields.get("id") or link,
        url=link,
        title=fields.get("title"),
        published_at=fields.get("published") or fields.get("issued") or fields.get("updated")
        or fields.get("modified"),
        body=fields.get("content") or fields.get("summary"),
        source=feed_title or host_of(feed_link) or host_of(link),
        language=element.get(_XML_LANG) or feed_lang,
    )  # fmt: skip


def _href(element: Any) -> str | None:
    href = (element.get("href") or "").strip()
    if not href:
        return None
    base = element.base  # xml:base on this element or an ancestor, as lxml resolves it
    return urljoin(base, href) if base else href


def _atom_text(element: Any) -> str | None:
    """An Atom text construct: ``xhtml`` keeps its markup (the worker cleans HTML); others are their text."""
    kind = (element.get("type") or "text").lower()
    if kind == "xhtml" or (kind.endswith("xml") and len(element)):
        parts = [element.text or ""]
        parts.extend(etree.tostring(child, encoding="unicode", with_tail=True) for child in element)
        markup = "".join(parts).strip()
        return markup.replace(f' xmlns="{_XHTML}"', "").replace(f' xmlns:xhtml="{_XHTML}"', "") or None
    return _text(element)


def _entry(
    element: Any,
    *,
    item_id: str | None,
    url: str | None,
    title: str | None,
    published_at: str | None,
    body: str | None,
    source: str | None,
    language: str | None,
) -> Parsed:
    line = element.sourceline or 0
    where = f"line {line}"
    if not body:
        return Broken(line, where, "no_body", "the entry has no content, summary or description")
    item = compact(
        {"id": item_id, "url": url, "title": title, "published_at": published_at, "body": body,
         "source": source, "language": language}
    )  # fmt: skip
    return Entry(line, where, item)
