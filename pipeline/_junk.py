"""Line-level junk rules: what auto-blogs and page templates add around a story.

Junk is removed by whole lines (or whole HTML blocks, which arrive here as lines), never
by cutting words out of a sentence. Every rule matches the *entire* line, so a sentence
that merely starts like junk ("Share now, he said, or lose the market") is kept.

All patterns are anchored and free of nested quantifiers, and no rule looks at lines
longer than ``_MAX_JUNK_CHARS``, so hostile input cannot make them backtrack.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

_MAX_JUNK_CHARS: Final = 500

AD_MARKER: Final = re.compile(r"\[ad_\d{1,3}\]")
"""WordPress auto-blog ad slot markers, ``[ad_1]``; never prose, so removed anywhere."""


class Verdict(NamedTuple):
    """Why a line is junk, and the credit it carries when it is a credit line."""

    kind: str
    credit: str | None = None


_I = re.IGNORECASE
_RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("read_also", re.compile(r"read (?:also|more|next|this)\s?[|:»›>\-–—].*", _I)),
    (
        "related_link",
        re.compile(
            r"(?:also read|also see|see also|related(?: articles?| stories| coverage| news| links?)?"
            r"|recommended(?: for you| stories)?|more from [\w .'-]{1,40}|more on this(?: story)?"
            r"|most (?:read|popular|viewed)|trending(?: now)?|you (?:may|might) also like"
            r"|further reading)"
            r"\s?(?:[|:»›>\-–—].*)?",
            _I,
        ),
    ),
    (
        "read_more",
        re.compile(
            r"(?:read more|read full (?:story|article)|read the (?:full|rest of the|entire) "
            r"(?:story|article|report)|continue reading(?: the main story| the story| below| here)?"
            r"|click here to (?:read|continue|see) (?:more|the (?:full )?(?:story|article))"
            r"|(?:\.{3}|…) ?more|more ?(?:\.{3}|…))"
            r"(?: (?:here|at|on|from) [^.!?]{0,60})?[ .:!»›>…)\]]*",
            _I,
        ),
    ),
    ("source_link", re.compile(r"(?:source(?:s| link)?|via|original (?:story|article|source))", _I)),
    ("source_link", re.compile(r"(?:source|sources|via) ?: ?[^.!?]{0,60}\.?", _I)),
    (
        "html_page_boilerplate",
        re.compile(
            r"(?:go )?back to top\b.*|skip to (?:the )?(?:main )?(?:content|article|navigation|"
            r"start of article)\b.*|advertisements?|sponsored(?: content)?|"
            r"(?:story|article) continues below.*|scroll (?:down )?to continue.*|"
            r"follow us on [\w ,&]{1,60}[.!]?|"
            r"sign up (?:for|to) (?:our|the) [\w' ]{0,40}newsletters?\b.{0,120}|"
            r"subscribe (?:now|today|here|to our newsletter)\b.{0,80}|"
            r"click here\b.{0,120}|our standards ?:.{0,120}|"
            r"(?:log ?in|sign in) to (?:comment|reply)\b.{0,40}|"
            r"(?:add|post|leave) (?:a|your) comment\b.{0,40}|comments?(?: \(\d+\))?|"
            r"image (?:source|credit) ?:.{0,120}|photo ?: ?[^.!?]{0,80}|getty images",
            _I,
        ),
    ),
    ("copyright", re.compile(r"(?:copyright ?(?:©|\(c\))?|\(c\)) ?\d{4}\b.{0,300}|©.{0,300}", _I)),
)
# The rules as one pattern, one named group per rule: a full match takes the first alternative that matches the
# whole line, so it names the same rule as trying them in turn, in a third of the time.
_RULE_KINDS: Final = {f"r{i}": kind for i, (kind, _) in enumerate(_RULES)}
_ANY_RULE = re.compile("|".join(f"(?P<r{i}>{pattern.pattern})" for i, (_, pattern) in enumerate(_RULES)), _I)
# Tried after _RULES, and only on lines holding "ght": the pattern backtracks through every position, and g, h
# and t match only themselves in either case, so a line without "ght" (lowercased) cannot match it.
_RIGHTS_RESERVED = re.compile(r".{0,200}\ball rights reserved\b.{0,200}", _I)
# The only characters that an IGNORECASE pattern matches to an ASCII letter while ``str.lower`` does not lower
# them to it: U+0130 (matches "i", lowers to two characters), U+0131 (dotless i) and U+017F (long s).
_ODD_CASES: Final = ("\u0130", "\u0131", "\u017f")

_CREDIT = re.compile(
    r"\(?\s?(?:(?:with |additional |editing and )?reporting|writing|written|editing|edited"
    r"|compiled|research|graphics?|production|translation|translated) by (?-i:[A-Z]).{0,400}",
    _I,
)
_DISCLAIMER_START = re.compile(r"\(?\s?(?:this|disclaimer|note|editor'?s note|the above)\b", _I)
_DISCLAIMER_WORDS = re.compile(
    r"auto-generated|automatically generated|unedited|syndicated (?:news )?feed"
    r"|not been (?:modified or )?edited|has not been (?:modified|edited)",
    _I,
)
# Every match of _DISCLAIMER_WORDS holds one of these (lowercased): a search costs ~100 times a substring test.
_DISCLAIMER_CUES: Final = ("generated", "unedited", "syndicated", "not been")

_SHARE_WORDS: Final = frozenset(
    [
        "share",
        "shares",
        "sharing",
        "now",
        "this",
        "article",
        "story",
        "on",
        "via",
        "tweet",
        "pin",
        "it",
        "email",
        "e-mail",
        "print",
        "whatsapp",
        "facebook",
        "twitter",
        "x",
        "linkedin",
        "reddit",
        "pinterest",
        "telegram",
        "messenger",
        "copy",
        "link",
        "sms",
        "flipboard",
        "tumblr",
        "save",
        "comments",
    ]
)
_SHARE_STRONG: Final = frozenset(["share", "tweet", "whatsapp", "pin"])
# The first word (as ``_FIRST_WORD`` reads it) of any share widget: one of its words, or the "e" of "e-mail".
_SHARE_OPENERS: Final = _SHARE_WORDS | {"e"}
_NETWORKS: Final = frozenset(
    [
        "facebook",
        "twitter",
        "linkedin",
        "reddit",
        "pinterest",
        "telegram",
        "messenger",
        "whatsapp",
        "flipboard",
        "tumblr",
        "email",
        "e-mail",
        "print",
    ]
)
_FIRST_WORD = re.compile(r"[\W_]{0,3}(\w+)")
_JUNK_FIRST_WORDS: Final = _SHARE_WORDS | frozenset(
    [
        "reporting",
        "writing",
        "written",
        "editing",
        "edited",
        "compiled",
        "research",
        "graphic",
        "graphics",
        "production",
        "translation",
        "translated",
        "with",
        "additional",
        "this",
        "disclaimer",
        "note",
        "editor",
        "editors",
        "read",
        "also",
        "see",
        "related",
        "recommended",
        "more",
        "most",
        "trending",
        "you",
        "further",
        "continue",
        "click",
        "source",
        "sources",
        "via",
        "original",
        "go",
        "back",
        "skip",
        "advertisement",
        "advertisements",
        "sponsored",
        "story",
        "scroll",
        "follow",
        "sign",
        "subscribe",
        "our",
        "log",
        "login",
        "add",
        "post",
        "leave",
        "comment",
        "image",
        "photo",
        "getty",
        "copyright",
        "c",
    ]
)
_JUNK_PREFIXES: Final = ("©", "<", "...", "…")
_WORD_SPLIT = re.compile(r"[\s|·•/,:]+")
_MARKUP_ONLY = re.compile(
    r"(?:\s?</?(?:a|b|i|p|br|div|span|em|strong|blockquote|figure|img|iframe|h[1-6]|li|ul|ol"
    r"|table|tr|td|section|article|script|style)\b[^<>]{0,200}>)+\s?"
)


def classify(line: str) -> Verdict | None:
    """Return why a whole (whitespace-folded) line is junk, or None when it is text."""
    if not line or len(line) > _MAX_JUNK_CHARS:
        return None
    first = _FIRST_WORD.match(line)
    word = first.group(1).lower() if first is not None else ""
    if not _may_be_junk(line, word):
        return None
    credit = _CREDIT.fullmatch(line)
    if credit is not None and (line[0] == "(" or not line.endswith(".") or "; " in line):
        return Verdict("credit", _unwrap(line))
    if _is_disclaimer(line):
        return Verdict("disclaimer")
    if word in _SHARE_OPENERS and _is_share_widget(line):
        return Verdict("share_widget")
    rule = _ANY_RULE.fullmatch(line)
    if rule is not None:
        return Verdict(_RULE_KINDS[rule.lastgroup or ""])
    if "ght" in line.lower() and _mentions(line, ("all rights reserved",)) and _RIGHTS_RESERVED.fullmatch(line):
        return Verdict("copyright")
    if line[0] == "<" and _MARKUP_ONLY.fullmatch(line):
        return Verdict("markup")
    return None


def _may_be_junk(line: str, word: str) -> bool:
    """Cheap gate: every rule starts with one of a few words (or mentions rights).

    ``word`` is the line's first word as ``_FIRST_WORD`` reads it, lowercased ("" when it has none).
    """
    if word in _JUNK_FIRST_WORDS:
        return True
    # "the" opens more prose lines than any other word, and of the rules only the disclaimer ("The above ...")
    # starts with it; the rights rule looks at any line, in any case.
    if word == "the" and (_DISCLAIMER_START.match(line) is not None or "ght" in line.lower()):
        return True
    if line.startswith(_JUNK_PREFIXES):
        return True
    return "eserved" in line and "rights reserved" in line.lower()


def strip_trailing_disclaimer(line: str) -> str | None:
    """Cut a syndication disclaimer that stands as the line's last parenthetical.

    Returns:
        The line without it, or None when the line has no such parenthetical.
    """
    if not line.endswith(")"):
        return None
    start = line.rfind("(")
    if start <= 0 or not _is_disclaimer(line[start:]):
        return None
    return line[:start].rstrip()


def _is_disclaimer(line: str) -> bool:
    return (
        len(line) <= _MAX_JUNK_CHARS
        and _DISCLAIMER_START.match(line) is not None
        and _mentions(line, _DISCLAIMER_CUES)
        and _DISCLAIMER_WORDS.search(line) is not None
    )


def _mentions(line: str, cues: tuple[str, ...]) -> bool:
    """False only when no IGNORECASE pattern holding one of ``cues`` (lowercase ASCII) can match in ``line``.

    A cheap test before a costly search: a substring test of the lowered line, unless the line holds one of the
    few characters that such a pattern matches without ``str.lower`` mapping them to ASCII.
    """
    lowered = line.lower()
    for cue in cues:
        if cue in lowered:
            return True
    return not line.isascii() and any(odd in line for odd in _ODD_CASES)


def _is_share_widget(line: str) -> bool:
    if len(line) > 80:
        return False
    words = [word for word in _WORD_SPLIT.split(line.lower()) if word]
    if not words or len(words) > 10 or not all(word in _SHARE_WORDS for word in words):
        return False
    if any(word in _SHARE_STRONG for word in words):
        return True
    return sum(word in _NETWORKS for word in words) >= 2


def _unwrap(line: str) -> str:
    """Drop the parentheses a credit line is usually wrapped in."""
    text = line.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    elif text.startswith("(") and text.count("(") > text.count(")"):
        text = text[1:].strip()
    return text
