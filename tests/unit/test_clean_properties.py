"""Property tests: clean() terminates, never raises, and never invents text."""

from __future__ import annotations

import html
import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import _text
from pipeline.clean import clean

# As the HTML tokenizer reads them: a tag, comment or processing instruction opened by "<" and a letter,
# "/", "?" or "!" runs to the first ">", whatever it holds ("<A</script>" is one tag).
_TAG = re.compile(r"<[A-Za-z/?!][^>]*>|<[^<>]*>")
_DROPPED = re.compile(r"<(script|style|iframe|noscript|template|object|embed)\b[^>]*>.*?(</\1\s*>|$)", re.I | re.S)
_WORD = re.compile(r"\w+")
_UNCLOSED_OPENER = re.compile(r"<(?=[A-Za-z/][^<>]*<)")

_FRAGMENTS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<div>",
        "</div>",
        "<br>",
        "<b>",
        "</b>",
        "<script>",
        "</script>",
        "[ad_1]",
        "Read also | ",
        "share now",
        "Source link",
        "\n",
        "\n\n",
        "&amp;",
        "&#8220;",
        "(Associated Press)",
        "WASHINGTON (Reuters) - ",
        "\u00c3\u00a9",
        "\u00a0",
        "\u200b",
        "<html>",
        "<iframe/>",
        "(Reporting by A; Editing by B)",
        "&\\t",
        " ",
        "-",
    ]
)
_NOT_TEXT = ("Cn", "Co", "Cs")
_INPUT = st.lists(st.one_of(st.text(max_size=30), _FRAGMENTS), max_size=40).map("".join)


def _reference_texts(raw: str) -> tuple[str, ...]:
    """The input as the output may quote it: normalised and entities decoded, with its
    tags kept (plain text may use angle brackets), removed, or removed with no space
    (inline tags are dropped without one: "W<b>or</b>d" reads "Word").
    """
    text = _text.finish(_text.prepare(raw))
    for _ in range(3):
        text = html.unescape(text)
    stripped = " ".join(_TAG.sub(" ", text).split())
    # Elements whose content is not text (scripts, styles, frames) vanish whole, joining their neighbours.
    no_code = " ".join(_TAG.sub(" ", _DROPPED.sub("", text)).split())
    # A tag opener that meets another "<" before its ">" is kept as text ("<A<a>0" reads "<A0").
    openers_as_text = _TAG.sub("", _UNCLOSED_OPENER.sub(" ", text))
    # Parsers may also drop characters that are not text (unassigned and private-use code points); what is left is NFC again,
    # so a combining mark may join the letter before the dropped one ("U\ud7fc\u0300" reads "\u00d9").
    assigned = unicodedata.normalize("NFC", "".join(c for c in stripped if unicodedata.category(c) not in _NOT_TEXT))
    return (
        " ".join(text.split()),
        stripped,
        "".join(_WORD.findall(stripped)),
        "".join(_WORD.findall(no_code)),
        "".join(_WORD.findall(openers_as_text)),
        "".join(_WORD.findall(assigned)),
    )


@settings(max_examples=400, deadline=2000)
@given(_INPUT)
def test_clean_never_raises_and_never_invents_words(raw: str) -> None:
    result = clean(raw, raw)
    assert "clean_error" not in result.removed
    references = _reference_texts(raw)
    for word in _WORD.findall(result.body):
        assert any(word in reference for reference in references)
    assert "\n\n\n" not in result.body
    assert result.body == result.body.strip()


@given(st.text(st.characters(max_codepoint=0x3000)), st.booleans())
def test_printable_check_is_isprintable_less_tab_and_newline(text: str, record_separator: bool) -> None:
    expected = text.replace("\n", "").replace("\t", "")
    if record_separator:
        expected = expected.replace("\x1e", "")
    assert _text._printable(text, record_separator=record_separator) == expected.isprintable()
    assert _text._printable(text.encode("ascii", "ignore").decode()) == (
        text.encode("ascii", "ignore").decode().replace("\n", "").replace("\t", "").isprintable()
    )
