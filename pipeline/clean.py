"""The clean stage: turn a raw feed item's body and title into plain article text.

Cleaning removes markup and syndication junk by whole lines or whole elements, repairs
encoding damage, and reads (but does not cut) the opening dateline. It never adds text
that was not in the input, and it never raises: input it cannot make sense of yields an
empty body, which the caller dead-letters as ``empty_after_cleaning``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from pipeline import _dateline, _html, _junk, _text
from pipeline.records import Cleaned, Dateline

__all__ = ["clean"]

# Reuters-21578 and similar dumps mark paragraph starts with a literally escaped tab.
_ESCAPED_INDENT = re.compile(r"&?(?:\\t)+")
_SENTENCE_END = (".", "!", "?", ":", '"', "”", "’", "'", ")")
_BYLINE_CHARS = 80


def clean(body: str, title: str | None = None) -> Cleaned:
    """Clean one item.

    Args:
        body: The raw body: plain text, an HTML snippet or a whole HTML page.
        title: The raw title, if the item has one.

    Returns:
        The cleaned title and body (paragraphs separated by one blank line), the dateline
        and credit found, and counts of what was removed by kind.

    Exceptions are not hidden here: the pipeline dead-letters the item with reason ``stage_error`` and
    the exception, so operators see a cleaner bug as what it is.
    """
    removed: Counter[str] = Counter()
    lines = _lines(_text.prepare(body), removed)
    paragraphs, credits = _paragraphs(lines, removed)
    _take_trailing_credit(paragraphs, credits, removed)
    return Cleaned(
        title=_clean_title(title),
        body="\n\n".join(paragraphs),
        dateline=_find_dateline(paragraphs),
        credit="; ".join(credits) or None,
        removed=dict(removed),
    )


_Line = tuple[str, bool]
"""One line of text and whether a new paragraph starts with it (a tuple: the stage makes thousands a second)."""


def warm_up() -> None:
    """Pay the one-time costs of cleaning pages (the extractors' set-up) now: a worker calls it as it starts."""
    _html.warm_up()


def _lines(text: str, removed: Counter[str]) -> list[_Line]:
    """Split prepared input into folded lines, extracting text from HTML first."""
    if _html.looks_like_html(text):
        # Every HTML block starts a paragraph, so an empty one (half of them: markers between tags) changes nothing.
        return [(line, True) for line in _html_lines(text, removed) if line]
    return _text_lines(_text.decode_entities(text))


def _html_lines(html: str, removed: Counter[str]) -> Iterable[str]:
    extracted: str | None = None
    if _html.is_page(html):
        extracted = _html.page_text(html)
        if extracted and extracted.strip():
            removed["html_page_boilerplate"] += 1
            extracted = extracted.replace("\n", _html.MARK)
        else:
            extracted = None
    if extracted is None:
        extracted = _html.snippet_text(html)
    extracted = _text.decode_entities(extracted)
    if _html.looks_like_html(extracted):
        # Double-escaped markup ("&lt;p&gt;") decodes into tags: strip one more level.
        removed["escaped_markup"] += 1
        extracted = _html.snippet_text(extracted)
    extracted = _text.finish(extracted, fold_spaces=False)
    return (_text.fold_line(block) for block in extracted.split(_html.MARK))


def _text_lines(text: str) -> list[_Line]:
    """Split plain text into lines, marking where paragraphs start.

    Paragraphs start after blank lines and at indented lines. When the text is
    hard-wrapped (newswire style), the lines of one paragraph are later joined;
    otherwise every line is its own paragraph.
    """
    text = _text.finish(text)
    out: list[_Line] = []
    fold_line = _text.fold_line
    after_blank = True
    escaped = "\\t" in text
    for raw in text.split("\n"):
        indented = raw[:1] == " "
        content = raw
        marker = _ESCAPED_INDENT.match(raw.lstrip(" ")) if escaped and "\\t" in raw else None
        if marker is not None:
            content = raw.lstrip(" ")[marker.end() :]
            indented = True
        folded = fold_line(content)
        if not folded:
            after_blank = True
            continue
        out.append((folded, after_blank or indented))
        after_blank = False
    if not _hard_wrapped(out):
        return [(line, True) for line, _ in out]
    return out


def _hard_wrapped(lines: list[_Line]) -> bool:
    """Guess whether lines were wrapped at a fixed width (so are not paragraphs)."""
    if len(lines) < 4:
        return False
    lengths = sorted(len(line) for line, _ in lines)
    if lengths[-1] > 100 or not 35 <= lengths[len(lengths) // 2] <= 85:
        return False
    ends = sum(line.endswith(_SENTENCE_END) for line, _ in lines)
    return ends < 0.6 * len(lines)


def _paragraphs(lines: list[_Line], removed: Counter[str]) -> tuple[list[str], list[str]]:
    """Drop junk lines, collect credits, and join lines into paragraphs."""
    paragraphs: list[str] = []
    credits: list[str] = []
    current: list[str] = []
    classify = _junk.classify
    for line, breaks in lines:
        text = line
        if "[ad_" in text:
            text, count = _junk.AD_MARKER.subn(" ", text)
            removed["ad_marker"] += count
            text = _text.fold_line(text)
        verdict = classify(text) if text else None
        if verdict is not None or not text:
            if verdict is not None:
                removed[verdict.kind] += 1
                if verdict.credit:
                    credits.append(verdict.credit)
            _flush(current, paragraphs)
            continue
        if "(" in text:
            without = _junk.strip_trailing_disclaimer(text)
            if without is not None:
                removed["disclaimer"] += 1
                text = without
        if breaks:
            _flush(current, paragraphs)
        if text:
            current.append(text)
    _flush(current, paragraphs)
    return paragraphs, credits


def _flush(current: list[str], paragraphs: list[str]) -> None:
    if current:
        paragraphs.append(" ".join(current))
        current.clear()


def _take_trailing_credit(paragraphs: list[str], credits: list[str], removed: Counter[str]) -> None:
    """Move a closing agency sign-off or ``(Associated Press)`` into the credits."""
    if not paragraphs:
        return
    agency = _dateline.sign_off(paragraphs[-1])
    if agency is not None:
        paragraphs.pop()
        credits.insert(0, agency)
        removed["credit"] += 1
        return
    split = _dateline.split_trailing_credit(paragraphs[-1])
    if split is not None:
        rest, agency = split
        if rest:
            paragraphs[-1] = rest
        else:
            paragraphs.pop()
        credits.insert(0, agency)
        removed["credit"] += 1


def _find_dateline(paragraphs: list[str]) -> Dateline | None:
    """Read the dateline from the first paragraph, or the second after a short byline."""
    for index, paragraph in enumerate(paragraphs[:2]):
        found = _dateline.parse_dateline(paragraph)
        if found is not None:
            return found
        if index == 0 and len(paragraph) > _BYLINE_CHARS:
            break
    return None


def _clean_title(title: str | None) -> str | None:
    if title is None:
        return None
    text = _text.prepare(title)
    if _html.looks_like_html(text):
        text = _html.snippet_text(text).replace(_html.MARK, " ")
    return _text.fold_line(_text.finish(_text.decode_entities(text)))
