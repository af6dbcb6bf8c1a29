"""HTML detection and text extraction for the clean stage.

Feed snippets (a few ``<p>``) go through selectolax (lexbor), which is fast. Whole pages
(navigation, related links, comments, scripts) go through trafilatura, which finds the
article among them but costs milliseconds, so it is used only for page-sized HTML.

Lexbor's tree builder scans the stack of open elements for every block start tag, which
is quadratic in nesting depth (200,000 nested ``<div>`` take minutes). Block tags are
therefore replaced by a paragraph marker *before* parsing: the parser then sees only
inline and raw-text elements, which it handles in linear time. Pathologically deep
inline nesting falls back to plain tag stripping.
"""

from __future__ import annotations

import logging
import re
from configparser import ConfigParser
from typing import Any, Final

import trafilatura
from justext import core as justext_core
from selectolax.lexbor import LexborHTMLParser
from trafilatura import external as trafilatura_external
from trafilatura.settings import use_config

from pipeline._text import decode_entities

MARK: Final = "\x1e"
"""Paragraph marker put where block tags stood; ``_text.prepare`` removes it from input."""

_INLINE = (
    "a|abbr|acronym|b|bdi|bdo|big|cite|code|data|del|dfn|em|font|i|ins|kbd|mark|nobr|q|"
    "rp|rt|ruby|s|samp|small|span|strike|strong|sub|sup|time|tt|u|var|wbr"
)
# Elements whose content is never article text. They are kept as tags (not replaced by
# the marker) so the parser can find and drop them.
_DROPPED = (
    "applet|audio|button|canvas|datalist|embed|iframe|input|map|math|meter|noembed|"
    "noframes|noscript|object|option|progress|script|select|style|svg|template|"
    "textarea|title|video"
)
_DROPPED_TAGS: Final = _DROPPED.split("|")

# Any other start or end tag (block, structural or unknown) becomes a paragraph marker.
# ``[^<>]*`` cannot run past the next ``<``, so the scan stays linear on broken markup.


def _trie(words: list[str]) -> str:
    """A regex alternation of ``words``, factored by common prefix ("b(?:di|do|ig)?..."): same matches, but the
    engine reads each character once instead of trying every word in turn."""
    heads: dict[str, list[str]] = {}
    for word in words:
        heads.setdefault(word[0], []).append(word[1:])
    branches = []
    for head, tails in sorted(heads.items()):
        rest = [tail for tail in tails if tail]
        if not rest:
            branches.append(re.escape(head))
            continue
        sub = _trie(rest)
        branches.append(re.escape(head) + (f"(?:{sub})?" if len(rest) < len(tails) else sub))
    return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"


_BLOCK_TAG = re.compile(
    rf"</?(?!{_trie(f'{_INLINE}|{_DROPPED}'.split('|'))}\b)[A-Za-z][^<>]*>|<!--[^<>]*-->|<![A-Za-z][^<>]*>"
)
_RAW_TEXT: Final = ("iframe", "noembed", "noframes", "noscript", "script", "style", "textarea", "title", "xmp")
# Finds "<tag" for a raw-text tag exactly where ``f"<{tag}" in html.lower()`` does (the only non-ASCII
# characters that lower to ASCII letters, U+0130 and U+212A, cannot form one), in one pass.
_RAW_TEXT_START = re.compile(rf"<(?:{'|'.join(_RAW_TEXT)})", re.IGNORECASE | re.ASCII)
_SELF_CLOSED_RAW = re.compile(rf"<(?:{'|'.join(_RAW_TEXT)})\b[^<>]*/>", re.IGNORECASE)
_MARK_REF = re.compile(r"&#(?:0*30|[xX]0*1[eE]);?")

# Evidence that a string is HTML rather than text that uses angle brackets (Reuters
# writes tickers as ``<AXP>``): a known tag, lower case for the one-letter names.
_HTML_HINT = re.compile(
    r"<(?:/?(?:p|a|b|i|u)|/?(?:[Dd][Ii][Vv]|[Bb][Rr]|[Hh][1-6]|[Ll][Ii]|[Uu][Ll]|[Oo][Ll]|"
    r"[Tt][Aa][Bb][Ll][Ee]|[Tt][Dd]|[Tt][Rr]|[Ss][Pp][Aa][Nn]|[Ee][Mm]|[Ss][Tt][Rr][Oo][Nn][Gg]|"
    r"[Ii][Mm][Gg]|[Ff][Ii][Gg][Uu][Rr][Ee]|[Bb][Ll][Oo][Cc][Kk][Qq][Uu][Oo][Tt][Ee]|"
    r"[Ss][Cc][Rr][Ii][Pp][Tt]|[Ss][Tt][Yy][Ll][Ee]|[Hh][Tt][Mm][Ll]|[Bb][Oo][Dd][Yy]|"
    r"[Aa][Rr][Tt][Ii][Cc][Ll][Ee]|[Ss][Ee][Cc][Tt][Ii][Oo][Nn]|[Hh][Rr]|[Pp][Rr][Ee]))"
    r"(?:\s[^<>]*)?/?>|<!(?:--|[Dd][Oo][Cc][Tt][Yy][Pp][Ee])"
)
_PAGE_HINT = re.compile(r"<(?:html|head|body)\b|<!doctype\s+html", re.IGNORECASE)
_PAGE_PART = re.compile(r"<(?:article|nav|header|footer|main|aside)\b", re.IGNORECASE)
_ANY_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*?(/?)>")
_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]
)
# The tags of ``_ANY_TAG`` that the nesting estimate counts: void elements' start tags are left unmatched (they
# open nothing), and the attributes are matched greedily up to a last character that is not ``/`` (the lazy
# ``[^<>]*?(/?)>`` tried the end at every character: a third slower).
_DEPTH_TAG = re.compile(
    r"<(?:(/)[A-Za-z][A-Za-z0-9:-]*|(?!(?:" + "|".join(sorted(_VOID)) + r")[^A-Za-z0-9:-])[A-Za-z][A-Za-z0-9:-]*)"
    r"(?:[^<>]*[^<>/])?(/?)>",
    re.IGNORECASE,
)

_PAGE_MIN_CHARS: Final = 20_000
"""HTML smaller than this is a snippet even if it carries ``<article>``/``<nav>`` tags."""
_LARGE_CHARS: Final = 100_000
"""HTML larger than this with many tags is treated as a page even without ``<html>``."""
_TAGS_BEFORE_DEPTH_CHECK: Final = 5_000
_MAX_DEPTH: Final = 400
_MAX_PAGE_CHARS: Final = 5_000_000

# trafilatura logs every page it finds no article in; that is expected here.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


def looks_like_html(text: str) -> bool:
    """Return True when the text carries real HTML markup (not just ``<TICKER>``)."""
    return "<" in text and _HTML_HINT.search(text) is not None


def is_page(html: str) -> bool:
    """Return True for page-sized HTML that needs article extraction, not just stripping."""
    if _PAGE_HINT.search(html):
        return True
    if len(html) >= _PAGE_MIN_CHARS and _PAGE_PART.search(html):
        return True
    return len(html) >= _LARGE_CHARS and html.count("<") > 1_000


def snippet_text(html: str) -> str:
    """Extract the text of an HTML snippet, blocks (paragraphs, headings...) split by MARK.

    Entities are decoded; inline markup is dropped without adding spaces; scripts, styles,
    forms and embedded media are dropped with their content. Whitespace is not yet folded.
    """
    if "&#" in html:
        html = _MARK_REF.sub("", html)
    html = _defuse_raw_text(html)
    if "<!" in html or "<?" in html:
        # Comments and bogus comments first, as the tokenizer reads them: a block marker put inside one
        # would otherwise leave it open and swallow the text after it.
        html = _COMMENT.sub("", html)
    # A tag opener that meets another "<" before its ">" ("<A<p>") would make the tokenizer read the next
    # tag, and the text after it, as its own name: keep such an opener as text instead.
    html = _UNCLOSED_OPENER.sub("&lt;", html)
    marked = _BLOCK_TAG.sub(MARK, html)
    if marked.count("<") > _TAGS_BEFORE_DEPTH_CHECK and _too_deep(marked):
        return _strip_tags(marked)
    tree = LexborHTMLParser(marked)
    # Stripping walks the tree once per tag name: name only those whose start tag appears (in any case).
    dropped = {name.lower() for name in _TAG_NAME.findall(marked)}.intersection(_DROPPED_TAGS)
    if dropped:
        tree.strip_tags([tag for tag in _DROPPED_TAGS if tag in dropped])
    body = tree.body
    return body.text() if body is not None else ""


_UNCLOSED_OPENER = re.compile(r"<(?=[A-Za-z/][^<>]*<)")
# What a start tag's name begins with; a dropped element is only ever made from its own start tag.
_TAG_NAME = re.compile(r"<([A-Za-z][A-Za-z0-9]*)")
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)|<[!?][^>]*>?", re.DOTALL)


def _defuse_raw_text(html: str) -> str:
    """Drop raw-text start tags that would swallow the rest of the snippet.

    ``<iframe .../>`` is not self-closing in HTML: a parser reads everything after it
    as the iframe's content. Auto-blogs write it that way, so such tags, and raw-text
    start tags with no end tag anywhere, are removed before parsing.
    """
    if not _RAW_TEXT_START.search(html):
        return html
    lowered = html.lower()
    present = [tag for tag in _RAW_TEXT if f"<{tag}" in lowered]
    if "/>" in html:
        html = _SELF_CLOSED_RAW.sub("", html)
        lowered = html.lower()
    for tag in present:
        if f"<{tag}" in lowered and f"</{tag}" not in lowered:
            html = re.sub(rf"<{tag}\b[^<>]*>", "", html, flags=re.IGNORECASE)
    return html


def page_text(html: str) -> str | None:
    """Extract the main article text of a whole page with trafilatura.

    Returns:
        The article text with one paragraph per line, or None when trafilatura finds no
        article or the page is too large or too deeply nested to parse safely.
    """
    if len(html) > _MAX_PAGE_CHARS or _too_deep(html):
        return None
    _stoplist_as_set()
    try:
        return trafilatura.extract(
            html,
            output_format="txt",
            favor_precision=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            with_metadata=False,
            # The fallback extractors (readability, justext) gain ~2.5 F1 points on real pages but are
            # quadratic in the number of blocks (20 s for 10,000 short paragraphs): skip them past a cap.
            fast=_count_blocks(html) > _MAX_BLOCKS_FOR_FALLBACK,
            config=_trafilatura_config(),
        )
    except Exception:  # noqa: BLE001 - third-party parser on hostile input; fall back.
        return None


_WARM_UP_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>Markets steady</title></head><body><nav><a href='/'>Home</a></nav>"
    "<article><h1>Markets steady</h1>"
    + "".join(f"<p>Shares were steady on day {n} as traders waited for the bank's decision.</p>" for n in range(6))
    + "</article><footer>Copyright</footer></body></html>"
)


def warm_up() -> None:
    """Pay the page extractors' one-time costs now rather than on the first page an item brings.

    trafilatura builds jusText's stoplist of every language (250 ms here) the first time its fallback runs, and
    its first extraction takes three times the later ones: a worker took both on the first page it met. jusText
    then lower-cases that stoplist's 150,000 words into a frozen set (170 ms) the first time it classifies
    paragraphs with it; the warm-up page does not reach jusText, so that set is built here too.
    """
    page_text(_WARM_UP_PAGE)
    snippet_text(_WARM_UP_PAGE)
    if not hasattr(trafilatura_external, "JT_STOPLIST"):  # trafilatura's internals: a release may move them
        return
    if trafilatura_external.JT_STOPLIST is None:
        trafilatura_external.jt_stoplist_init()
    _stoplist_as_set()
    justext_core.define_stoplist(trafilatura_external.JT_STOPLIST)  # lru_cache'd: try_justext's call finds it


def _stoplist_as_set() -> None:
    """Hand jusText trafilatura's stoplist of every language as a frozenset rather than a tuple.

    jusText finds its lower-cased set in an ``lru_cache`` keyed by the stoplist it is given. A tuple's hash is not
    kept, so each page that reached jusText hashed the tuple's 150,000 words again (12 ms of a 38 ms page); a
    frozenset keeps its hash once computed. The words, and so the extraction, are the same.
    """
    stoplist: Any = getattr(trafilatura_external, "JT_STOPLIST", None)  # typed as None, then set to a tuple
    if stoplist is not None and not isinstance(stoplist, frozenset):
        trafilatura_external.JT_STOPLIST = frozenset(stoplist)  # type: ignore[assignment] # read as an iterable


_BLOCK_START = re.compile(r"<(?:p|div|li|td|span|section|article)\b", re.IGNORECASE)
_MAX_BLOCKS_FOR_FALLBACK = 3000
"""Real article pages hold a few hundred blocks (under 900 in the extraction benchmark)."""


def _count_blocks(html: str) -> int:
    return sum(1 for _ in _BLOCK_START.finditer(html))


_CONFIG_CACHE: list[ConfigParser] = []


def _trafilatura_config() -> ConfigParser:
    if not _CONFIG_CACHE:
        config = use_config()
        # The default timeout uses SIGALRM, which only works on the main thread.
        config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
        _CONFIG_CACHE.append(config)
    return _CONFIG_CACHE[0]


def _too_deep(html: str) -> bool:
    """Cheaply estimate element nesting; True when it exceeds what parsers handle well.

    The regex leaves out what does not count, so the loop only adds and subtracts (165 KB pages: 2.0–2.4 ms, against
    3.4–4.4 ms with a name check per tag).
    """
    depth = 0
    for match in _DEPTH_TAG.finditer(html):
        closing, self_closing = match.groups()
        if closing:
            if depth:
                depth -= 1
        elif not self_closing:
            depth += 1
            if depth > _MAX_DEPTH:
                return True
    return False


def _strip_tags(html: str) -> str:
    """Fallback extraction without a parser: drop dropped-element bodies and all tags."""
    # str.lower() can change the length of non-ASCII text; only ASCII case matters here.
    lowered = html.translate(_ASCII_LOWER)
    next_at = {tag: lowered.find(f"<{tag}") for tag in _STRIPPED_BODIES}
    pieces: list[str] = []
    pos = 0
    while True:
        for tag, at in next_at.items():
            if 0 <= at < pos:
                next_at[tag] = lowered.find(f"<{tag}", pos)
        hits = [(at, tag) for tag, at in next_at.items() if at >= 0]
        if not hits:
            pieces.append(html[pos:])
            break
        start, tag = min(hits)
        pieces.append(html[pos:start])
        end = lowered.find(f"</{tag}", start)
        if end < 0:
            break
        close = lowered.find(">", end)
        pos = len(html) if close < 0 else close + 1
    text = _ANY_TAG.sub("", "".join(pieces))
    return decode_entities(text)


_STRIPPED_BODIES: Final = ("script", "style", "template", "svg", "noscript", "textarea")
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
