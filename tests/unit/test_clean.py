"""Unit tests for the clean stage (fixtures are written here, not copied from data)."""

from __future__ import annotations

import re

import pytest

from pipeline import _html, _junk, _text
from pipeline import clean as clean_module
from pipeline.clean import clean
from pipeline.records import Cleaned, Dateline

SYNDICATED = "\n".join(
    [
        "[ad_1]",
        "LIMA, March 3 (AP) — Officials in the port city said Tuesday that a new pier would open next year.",
        "The harbour board said the pier would double the number of container berths.",
        "Read also | A storm closed three airports in the north of the country.",
        "Dock workers said they welcomed the project but wanted more details on hiring.",
        "The board expects to publish the tender in the autumn. (Associated Press)",
        "(This is an unedited and auto-generated story from a Syndicated News feed, the content "
        "body may not have been modified or edited by Example staff)",
        "share now",
        "[ad_2]",
        "Source link",
    ]
)


def test_syndicated_text_loses_all_junk() -> None:
    result = clean(SYNDICATED)
    assert isinstance(result, Cleaned)
    assert result.body.split("\n\n") == [
        "LIMA, March 3 (AP) — Officials in the port city said Tuesday that a new pier would open next year.",
        "The harbour board said the pier would double the number of container berths.",
        "Dock workers said they welcomed the project but wanted more details on hiring.",
        "The board expects to publish the tender in the autumn.",
    ]
    assert result.credit == "Associated Press"
    assert result.dateline == Dateline(text="LIMA, March 3 (AP) —", place="LIMA", date="March 3", agency="AP")
    assert result.removed == {
        "ad_marker": 2,
        "read_also": 1,
        "disclaimer": 1,
        "share_widget": 1,
        "source_link": 1,
        "credit": 1,
    }


@pytest.mark.parametrize(
    "line",
    [
        "Share now, he said, or lose the market.",
        "Source of the leak remains unknown, officials said.",
        "Read also the fine print, the regulator told buyers.",
        "Copyright law was the subject of the hearing.",
        "Reporting by the newspaper was criticised by the minister.",
    ],
)
def test_lines_that_only_look_like_junk_stay(line: str) -> None:
    assert clean(f"The first paragraph of the story.\n{line}").body.endswith(line)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("The above article was auto-generated from a syndicated feed.", "disclaimer"),
        ("(The above story has not been edited by our staff.)", "disclaimer"),
        ("The Harbour Times. ALL RIGHTS RESERVED.", "copyright"),
        ("The market rose on Tuesday.", None),
    ],
)
def test_lines_opening_with_the_are_judged_by_every_rule_that_can_match(line: str, kind: str | None) -> None:
    # "the" has its own narrower gate in _junk; it must still let through every rule that can match.
    verdict = _junk.classify(line)
    assert (verdict.kind if verdict else None) == kind


def test_html_snippet_paragraphs_entities_and_markers() -> None:
    html = (
        ' [ad_1]\n<br><div id="x"><p>Prices rose 5&nbsp;% at <b>Acme</b> &amp; Co.</p>\n'
        '<p>Analysts said the <a href="/x">rise</a> was expected.</p>'
        "<script>var junk = 1;</script><style>p {}</style>"
        "<p> (Reporting by Jane Doe; Editing by John Roe)</p></div>\n<br>[ad_2]\n"
        '<br><a href="http://example.com/story">Source </a>'
    )
    result = clean(html)
    assert result.body == "Prices rose 5 % at Acme & Co.\n\nAnalysts said the rise was expected."
    assert result.credit == "Reporting by Jane Doe; Editing by John Roe"
    assert result.removed["ad_marker"] == 2
    assert result.removed["source_link"] == 1


def test_self_closed_iframe_does_not_swallow_the_story() -> None:
    html = '<div><p><iframe src="https://example.com/v"/></p><p>The story text.</p></div>'
    assert clean(html).body == "The story text."


def test_page_boilerplate_is_removed() -> None:
    paragraph = (
        "The council approved the budget on Monday after a debate that lasted most of the "
        "night, with members arguing over road repairs and library hours."
    )
    page = (
        "<!doctype html><html><head><title>Budget</title><script>x()</script></head><body>"
        "<nav><a href='/'>Home</a><a href='/news'>News</a><a href='/sport'>Sport</a></nav>"
        f"<article><h1>Council approves budget</h1><p>{paragraph}</p><p>{paragraph}</p>"
        f"<p>{paragraph}</p></article>"
        "<footer><p>Copyright 2024 Example Media. All rights reserved.</p></footer>"
        "</body></html>"
    )
    result = clean(page)
    assert paragraph in result.body
    assert "Home" not in result.body
    assert "Copyright" not in result.body
    assert result.removed.get("html_page_boilerplate") == 1


def test_reuters_tickers_are_not_html() -> None:
    body = "NEW YORK, April 1 - American Express Co <AXP> said it would raise its dividend."
    result = clean(body)
    assert "<AXP>" in result.body
    assert result.dateline == Dateline(text="NEW YORK, April 1 -", place="NEW YORK", date="April 1", agency=None)


def test_hard_wrapped_newswire_text_is_unwrapped() -> None:
    body = (
        "TOKYO, March 2 - The trade surplus widened in February as\n"
        "exports of cars and electronics rose faster than imports of\n"
        "oil and food, the finance ministry said.\n"
        "&\\tThe ministry said exports rose 12 pct from a year earlier\n"
        "while imports were flat at 3.1 billion dlrs.\n"
        " REUTER\n"
    )
    result = clean(body)
    assert result.body.split("\n\n") == [
        "TOKYO, March 2 - The trade surplus widened in February as exports of cars and "
        "electronics rose faster than imports of oil and food, the finance ministry said.",
        "The ministry said exports rose 12 pct from a year earlier while imports were flat at 3.1 billion dlrs.",
    ]
    assert result.credit == "REUTER"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("WASHINGTON (Reuters) - The Senate voted.", ("WASHINGTON", None, "Reuters")),
        ("PARIS (AFP) - France said on Monday.", ("PARIS", None, "AFP")),
        ("UNION, N.J., March 12 - The company said.", ("UNION, N.J.", "March 12", None)),
        ("BEIRUT — Militants attacked a town.", ("BEIRUT", None, None)),
        ("FILE - In this photo, a man walks.", None),
        ("AUKUS is a pact.", None),
    ],
)
def test_datelines(text: str, expected: tuple[str, str | None, str | None] | None) -> None:
    found = clean(text).dateline
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.place, found.date, found.agency) == expected
        assert text.startswith(found.text)
        assert clean(text).body.startswith(found.text)


def test_unicode_normalisation() -> None:
    body = "Caf\u0065\u0301 \u201cquoted\u201d\u00a0text\u200b here\x00\x07 now"
    result = clean(body)
    assert result.body == "Caf\u00e9 \u201cquoted\u201d text here now"


def test_mojibake_is_repaired() -> None:
    assert clean("The caf\u00c3\u00a9 said it\u00e2\u20ac\u2122s open.").body == ("The caf\u00e9 said it\u2019s open.")


def test_double_escaped_entities_are_decoded() -> None:
    assert clean("Smith &amp;amp; Sons &#8220;won&#8221;").body == "Smith & Sons \u201cwon\u201d"


def test_title_is_cleaned() -> None:
    assert clean("Body.", "  Smith &amp; <b>Sons</b>\n win ").title == "Smith & Sons win"
    assert clean("Body.").title is None


@pytest.mark.parametrize("body", ["", "   \n\n", "[ad_1]\n[ad_2]\nSource link", "<p></p>"])
def test_nothing_left_gives_empty_body(body: str) -> None:
    assert clean(body).body == ""


@pytest.mark.parametrize(
    "body",
    [
        "<div>" * 200_000 + "x" + "</div>" * 200_000,
        "<span>" * 200_000 + "x" + "</span>" * 200_000,
        "<html><body>" + "<div>" * 200_000 + "x" + "</div>" * 200_000 + "</body></html>",
        "<p" * 500_000,
        "a" * 3_000_000,
        "<p>" + "b" * 3_000_000 + "</p>",
        "[ad_1]" + "(" * 100_000,
        "BEIJING" + " " * 100_000 + "x",
    ],
    ids=["div", "span", "page", "unclosed", "token", "html-token", "parens", "spaces"],
)
@pytest.mark.timeout(60)  # a hang guard, not a speed test: `make bench` measures speed
def test_pathological_input_finishes(body: str) -> None:
    result = clean(body)
    assert "clean_error" not in result.removed


@pytest.mark.parametrize("words", [["a", "abbr", "b", "bdi", "bdo"], ["x"], ["ab", "abc", "abd", "b", "ba"]])
def test_trie_alternation_matches_exactly_the_words(words: list[str]) -> None:
    trie = re.compile(_html._trie(words))
    candidates = {w[:i] + extra for w in words for i in range(len(w) + 1) for extra in ("", "x", "b")}
    for text in candidates:
        assert (trie.fullmatch(text) is not None) == (text in words), text


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        # U+0130, U+0131 and U+017F match ASCII letters under IGNORECASE but do not lower to them: the cheap cue
        # tests in front of the searches must still let these lines through to the rules.
        ("Note: this story is unedıted.", "disclaimer"),
        ("Note: this story comes from a ſyndicated feed.", "disclaimer"),
        ("This article has not been edited by our staff.", "disclaimer"),
        ("(This story is unedited.)", "disclaimer"),
        ("Note: this story was not generated by a robot, the editor said.", None),
        ("It was a good night for the Harbour Times. All rights reſerved.", "copyright"),
        ("It was a good night for the Harbour Times. All rİghts reserved.", "copyright"),
        ("It was a good night for the Harbour Times, all rights considered.", None),
    ],
)
def test_cue_tests_keep_what_the_full_patterns_match(line: str, kind: str | None) -> None:
    verdict = _junk.classify(line)
    assert (verdict.kind if verdict else None) == kind


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Read also | A storm closed three airports.", "read_also"),
        ("See also: Markets in Asia", "related_link"),
        ("Read more", "read_more"),
        ("Source link", "source_link"),
        ("Source: Reuters", "source_link"),
        ("Advertisement", "html_page_boilerplate"),
        ("Copyright 2016 The Harbour Times", "copyright"),
    ],
)
def test_each_rule_names_its_own_kind(line: str, kind: str) -> None:
    # The rules run as one pattern of named alternatives; the name must be the rule's own, first rule first.
    verdict = _junk.classify(line)
    assert verdict is not None
    assert verdict.kind == kind


def test_extracted_text_loses_controls_and_invisible_characters_together() -> None:
    assert _text.finish("a\u200bb\x01c\u00add\ufeffe\x85f", fold_spaces=False) == "abcdef"


def test_escaped_indents_mark_paragraphs_only_where_they_stand() -> None:
    body = "\\tFirst paragraph of the story, which is long enough.\nIt goes on here.\n\\tSecond paragraph here."
    assert clean(body).body.split("\n\n")[0].startswith("First paragraph")
    assert "\\t" not in clean(body).body


def test_warm_up_builds_the_page_extractors_state_before_the_first_page(monkeypatch: pytest.MonkeyPatch) -> None:
    from trafilatura import external  # noqa: PLC0415 - the state the warm-up is for

    monkeypatch.setattr(external, "JT_STOPLIST", None)
    clean_module.warm_up()
    assert external.JT_STOPLIST, "jusText's stoplist is built at start-up, not on the first page an item brings"


def test_warm_up_builds_the_stoplist_set_justext_classifies_with() -> None:
    from justext import core as justext_core  # noqa: PLC0415 - the state the warm-up is for
    from trafilatura import external  # noqa: PLC0415

    justext_core.define_stoplist.cache_clear()
    clean_module.warm_up()
    before = justext_core.define_stoplist.cache_info()
    justext_core.define_stoplist(external.JT_STOPLIST)  # what try_justext asks for on a page's fallback
    after = justext_core.define_stoplist.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses), "built at start-up, not on the first page"


def test_the_stoplist_justext_is_handed_keeps_its_hash() -> None:
    from trafilatura import external  # noqa: PLC0415 - the state the warm-up is for

    clean_module.warm_up()
    # jusText looks its set up by the stoplist's hash on every page: a tuple's hash walks 150,000 words each time.
    assert isinstance(external.JT_STOPLIST, frozenset)
    assert "the" in external.JT_STOPLIST
    assert len(external.JT_STOPLIST) > 100_000


@pytest.mark.parametrize(
    ("html", "deep"),
    [
        ("<div><div><div>", True),  # three open elements: past a limit of two
        ("<DIV><Div><div a='1'>", True),  # names in any case, with attributes
        ("<div><div></div><div>", False),  # a close gives a level back
        ("</div></div><div><div><div>", True),  # stray closes do not bank levels
        ("<div><br><br/><img src='a'><hr/><div>", False),  # void elements open nothing
        ("<div><brx><div>", True),  # only the void names themselves
        ("<div><span/><p a='x' /><div>", False),  # self-closed elements open nothing
        ("<div><a href='x/'><div>", True),  # a slash inside an attribute closes nothing
        ("<div>< div><div>", False),  # not a tag
    ],
)
def test_nesting_estimate_counts_open_elements(monkeypatch: pytest.MonkeyPatch, html: str, deep: bool) -> None:
    monkeypatch.setattr(_html, "_MAX_DEPTH", 2)
    assert _html._too_deep(html) is deep
