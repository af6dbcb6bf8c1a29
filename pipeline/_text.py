"""Unicode and whitespace normalisation for the clean stage.

Everything here is cheap on clean input: each repair runs only when a fast check finds
something to repair, because most feed items need none of it.
"""

from __future__ import annotations

import html
import re
import unicodedata

import ftfy

# C0 controls except tab and newline, DEL, lone surrogates (orjson and lexbor refuse them)
# and the two non-characters. Carriage returns are handled as line breaks, not removed.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# C1 controls; removed only after ftfy has had its chance to use them for repairs.
_C1_CHARS = re.compile("[\x80-\x9f]")
_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_LINE_BREAK_CHARS = re.compile("[\r\x0b\x0c\x85\u2028\u2029]")
# Deleted from extracted text in one pass: what parsers can bring back by decoding character references (controls,
# surrogates, non-characters; less the record separator that the HTML stage uses as its paragraph marker, whose
# references are removed before parsing), and the zero-width and invisible formatting characters that only hide
# word boundaries or join halves of a word (U+00AD, U+200B, U+2060, U+FEFF).
_DECODED_CONTROLS_OR_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1d\x1f\x7f-\x9f\u00ad\u200b\u2060\ud800-\udfff\ufeff\ufffe\uffff]"
)
# Space characters other than the plain space and newline; folded to a plain space.
_ODD_SPACE = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# A UTF-8 lead byte misread as cp1252/latin-1, followed by a misread continuation byte:
# the signature of mojibake such as "Ã©" or "â€™".
_MOJIBAKE = re.compile(
    "[\u00c2\u00c3\u00c4\u00c5\u00d0\u00d1\u00e2]"
    "[\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)
_MOJIBAKE_LEADS = ("\u00c2", "\u00c3", "\u00c4", "\u00c5", "\u00d0", "\u00d1", "\u00e2")
# A complete character reference; bare ampersands (AT&T, R&D) are left alone.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_SPACES = re.compile(" {2,}")
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n"
_PRINTABLE_ASCII_RS = _PRINTABLE_ASCII + b"\x1e"

_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    normalization=None,
    explain=False,
)


def prepare(text: str) -> str:
    """Make raw input safe to parse: controls, NUL, surrogates gone; line breaks as ``\\n``.

    Mojibake is repaired here too (with ftfy), but only when the cheap check finds it.

    Args:
        text: The raw item text, HTML or plain.

    Returns:
        The text with only tab, newline and printable characters left.
    """
    if not _printable(text):
        if _BAD_CHARS.search(text):
            text = _BAD_CHARS.sub("", text)
        if _LINE_BREAK_CHARS.search(text):
            text = _LINE_BREAKS.sub("\n", text)
        if _C1_CHARS.search(text) and not _maybe_mojibake(text):
            text = _C1_CHARS.sub("", text)
    if _maybe_mojibake(text):
        text = ftfy.fix_text(text, _FTFY_CONFIG)
        text = _C1_CHARS.sub("", _BAD_CHARS.sub("", text))
    return text


def finish(text: str, *, fold_spaces: bool = True) -> str:
    """Normalise extracted text: NFC, invisible characters dropped, odd spaces folded.

    Args:
        text: Extracted text; newlines are kept and lines are not stripped.
        fold_spaces: Fold odd spaces and runs of spaces to one space. Callers that fold
            every line with ``fold_line`` afterwards skip it.
    """
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if fold_spaces and "\t" in text:
        text = text.replace("\t", " ")
    # The HTML stage's paragraph marker (U+001E) is the one control none of the repairs below touch.
    if not _printable(text, record_separator=True):
        # Parsers decode character references, so controls can come back here (&#x1b;, &#1;, &#x81;).
        text = _DECODED_CONTROLS_OR_INVISIBLE.sub("", text)
        if fold_spaces:
            text = _ODD_SPACE.sub(" ", text)
    if fold_spaces and "  " in text:
        text = _SPACES.sub(" ", text)
    return text


def _printable(text: str, *, record_separator: bool = False) -> bool:
    """True when the text has no controls, odd spaces or invisible characters at all.

    ``str.isprintable`` runs at C speed and is False for every character the slower
    regular expressions look for, so clean text (the usual case) skips them.

    Args:
        text: The text to check; tab and newline count as printable.
        record_separator: Count U+001E as printable too.
    """
    if text.isascii():
        # Deleting every printable byte leaves nothing: one pass at C speed, no copies of the text.
        return not text.encode("ascii").translate(None, _PRINTABLE_ASCII_RS if record_separator else _PRINTABLE_ASCII)
    if record_separator:
        text = text.replace("\x1e", "")
    return text.replace("\n", "").replace("\t", "").isprintable()


def _maybe_mojibake(text: str) -> bool:
    if text.isascii():
        return False
    if not any(lead in text for lead in _MOJIBAKE_LEADS):
        return False
    return _MOJIBAKE.search(text) is not None


def decode_entities(text: str) -> str:
    """Decode complete character references, repeating for double-escaped text.

    Only ``&name;`` / ``&#n;`` forms are decoded, so ``AT&T`` or ``&para`` in prose is
    never turned into another character.
    """
    for _ in range(3):
        if "&" not in text or not _ENTITY.search(text):
            break
        text = _ENTITY.sub(_unescape_one, text)
    return text


def _unescape_one(match: re.Match[str]) -> str:
    decoded = html.unescape(match.group(0))
    # html.unescape maps invalid code points to U+FFFD and controls to themselves.
    return _BAD_CHARS.sub("", decoded)


def fold_line(line: str) -> str:
    """Collapse all whitespace in one line to single spaces and strip the ends."""
    stripped = line.strip()
    if "  " not in stripped and stripped.isprintable():
        return stripped
    return " ".join(stripped.split())
