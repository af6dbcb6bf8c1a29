"""The tag stage: score an article against the taxonomy's topics in one pass over the text.

Every phrase of every topic goes into one Aho-Corasick automaton, run once over a folded copy
of title and body (lowercased, hyphens and dashes as spaces, curly apostrophes straight,
whitespace collapsed: the same folding the phrases get). Folding keeps character positions,
so evidence is sliced from the text as written. Word boundaries are checked on each match, so
``Taiwan`` matches ``Taiwan's`` and ``Taiwan-based`` but not ``Taiwanese`` (list that too).

Inside one topic, overlapping matches resolve leftmost-longest (``Taiwan Strait`` is one match,
not two), and an exclusion cancels the topic's matches it overlaps (``trade-off``). How the
matches become a score, with the length rule for headlines and summaries, is in
``pipeline/tag_score.py``; ``Tagger.explain`` shows it for every topic found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import ahocorasick_rs

from pipeline.records import Tag
from pipeline.tag_score import Found, TopicScore, score_topic
from pipeline.taxonomy import Taxonomy, Topic, default_path, load_taxonomy

__all__ = ["LEAD_MAX_CHARS", "Tagger", "fold"]

LEAD_MAX_CHARS = 500
"""The lead is the body's first two sentences, cut at this many characters."""

_SENTENCE_END_RE = re.compile("[.!?][\"'\u201d\u2019)\\]]*\\s+(?=[\"\u201c\u2018'(]?[A-Z0-9])")
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212_/"
# (character, replacement) pairs; no replacement is itself replaced, so applying them in turn is one mapping.
# A chain of str.replace is much faster than str.translate with a dict, which looks up every character.
_FOLD_PAIRS: tuple[tuple[str, str], ...] = (
    *((dash, " ") for dash in _DASHES),
    *((quote, "'") for quote in "\u2019\u2018\u02bc`"),
)
_TITLE_SEP = " | "

_POS, _EXC = 0, 1


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    # A few characters lowercase to two (e.g. U+0130); keep positions aligned with the text.
    return "".join(c if len(lc := c.lower()) != 1 else lc for c in text)


def _fold_chars(text: str) -> str:
    """Dashes, underscores and slashes as spaces, apostrophes straight; keeps every position."""
    for char, replacement in _FOLD_PAIRS:
        if char in text:
            text = text.replace(char, replacement)
    return text


def _collapse(text: str) -> str:
    """Strip and collapse every whitespace run to one space (``str.split``'s whitespace is ``re``'s ``\\s``)."""
    return " ".join(text.split())


def _collapse_body(body: str) -> str:
    """``_collapse`` for a stripped body, fast for the clean stage's output (single spaces, paragraph breaks)."""
    collapsed = body.replace("\n\n", " ")
    # Printable text holds no whitespace but the plain space: then every run was one space or one paragraph break.
    if "  " in collapsed or not collapsed.isprintable():
        return _collapse(body)
    return collapsed


def fold(text: str) -> str:
    """Fold a phrase the way texts are folded before matching (for the taxonomy's phrases)."""
    return _collapse(_fold_chars(_lower(text)))


@dataclass(frozen=True, slots=True)
class _Role:
    """What one automaton pattern means for one topic."""

    topic: int
    kind: int
    weight: float
    short_weight: float
    context: frozenset[int]
    """Pattern indexes of which one must be present (empty: no condition)."""
    phrase: str
    short_key: int
    """Phrases with one key count once in the short score: the pattern, or one key per group."""


_OPENERS = '(["\u201c\u00ab'


def _anchor(text: str) -> str:
    """A space, then ``text`` with opening quotes and brackets as spaces (apostrophes stay: "People's")."""
    for char in _OPENERS:
        if char in text:
            text = text.replace(char, " ")
    return " " + text


def _automaton(patterns: list[str]) -> ahocorasick_rs.AhoCorasick:
    # A DFA searches about three times faster than the NFA the library picks for a few hundred patterns,
    # and reports the same matches in the same order; a taxonomy is small enough for its memory.
    return ahocorasick_rs.AhoCorasick(
        patterns, matchkind=ahocorasick_rs.MATCHKIND_STANDARD, implementation=ahocorasick_rs.Implementation.DFA
    )


def _lead_length(body: str) -> int:
    """Return how many characters of ``body`` (already stripped) form its lead."""
    head = body[: LEAD_MAX_CHARS + 1]
    end = min(len(body), LEAD_MAX_CHARS)
    found = 0
    for match in _SENTENCE_END_RE.finditer(head):
        if match.start() < 20:  # a dateline or an initial, not a sentence
            continue
        found += 1
        if found == 2:
            end = min(end, match.start() + 1)
            break
    return end


class Tagger:
    """Tags articles with the topics of a taxonomy."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        """Compile the taxonomy's phrases into one automaton."""
        self.taxonomy = taxonomy
        self._topics: tuple[Topic, ...] = taxonomy.topics
        index: dict[str, int] = {}
        roles: list[list[_Role]] = []

        def pattern(text: str) -> int:
            key = fold(text)
            if key not in index:
                index[key] = len(roles)
                roles.append([])
            return index[key]

        groups: dict[str, int] = {}
        for t, topic in enumerate(self._topics):
            for phrase in topic.phrases:
                ctx = frozenset(pattern(c) for c in phrase.context)
                pat = pattern(phrase.text)
                key = pat if phrase.group is None else -groups.setdefault(phrase.group, len(groups) + 1)
                roles[pat].append(_Role(t, _POS, phrase.weight, phrase.short, ctx, phrase.text, key))
            for exclusion in topic.exclusions:
                roles[pattern(exclusion.text)].append(
                    _Role(t, _EXC, exclusion.penalty, exclusion.penalty, frozenset(), exclusion.text, -1)
                )
        self._roles: tuple[tuple[_Role, ...], ...] = tuple(tuple(r) for r in roles)
        patterns = list(index)
        # Phrases that count in the short score only (weight 0: cues, "ban", "EU") are anchored at a word's
        # start (a space before the pattern, and before the text): short ones would otherwise match inside
        # many words ("ec" in "economy" and "second"), and reporting and discarding those cost more than
        # the rest of the stage. The others match anywhere, then the word boundaries are checked.
        contexts = {c for r in roles for role in r for c in role.context}
        anchored = {
            p
            for p, r in enumerate(roles)
            if p not in contexts and r and all(role.kind == _POS and not role.weight for role in r)
        }
        self._anchored_from = len(roles) - len(anchored)
        self._ids = tuple([p for p in range(len(roles)) if p not in anchored] + sorted(anchored))
        self._automaton = _automaton([(" " if p in anchored else "") + patterns[p] for p in self._ids])

    @classmethod
    def from_path(cls, path: str | Path) -> Tagger:
        """Build a tagger from a taxonomy file (raises ``TaxonomyError`` if it is bad)."""
        return cls(load_taxonomy(path))

    @classmethod
    def default(cls) -> Tagger:
        """Build a tagger from the shipped taxonomy."""
        return cls.from_path(default_path())

    @property
    def topic_ids(self) -> tuple[str, ...]:
        """The ids of the taxonomy's topics, in file order."""
        return tuple(t.id for t in self._topics)

    def tag(self, title: str | None, body: str) -> list[Tag]:
        """Return the topics the article passes, highest score first.

        Args:
            title: the headline, if any; matches there get the title boost.
            body: the article text; matches in its first sentences get the lead boost.
        """
        tags: list[Tag] = []
        for result in self._scores(title, body, explain=False):
            tag = result.tag()
            if tag is not None:
                tags.append(tag)
        tags.sort(key=lambda tag: (-tag.score, tag.topic))
        return tags

    def explain(self, title: str | None, body: str) -> list[TopicScore]:
        """Return how every topic with a phrase or an exclusion in the article scored, tagged or not.

        The same scoring as ``tag``, keeping each counted match's contributions, the matches that did
        not count and why, the penalties, and the thresholds; in taxonomy order.
        """
        return self._scores(title, body, explain=True)

    def _scores(self, title: str | None, body: str, *, explain: bool) -> list[TopicScore]:
        title_n = _collapse(title) if title else ""
        body = body.strip()
        body_n = _collapse_body(body)
        lead = body[: _lead_length(body)]
        # Collapsed like the body: a whitespace run at the cut still counts as its one space.
        lead_n = len(_collapse(lead)) + lead[-1:].isspace()
        if title_n:
            text = title_n + _TITLE_SEP + body_n
            body_start = len(title_n) + len(_TITLE_SEP)
        else:
            text, body_start = body_n, 0
        title_end, lead_end = len(title_n), body_start + lead_n
        words = (title_n.count(" ") + 1 if title_n else 0) + (body_n.count(" ") + 1 if body_n else 0)
        folded = _fold_chars(_lower(text))
        # One space ahead, and opening quotes and brackets as spaces: anchored patterns then start at
        # words. Every position found is one past its place in ``folded``.
        anchored = _anchor(folded)
        try:
            found = self._automaton.find_matches_as_indexes(anchored, overlapping=True)
        except UnicodeEncodeError:  # lone surrogates cannot be handed to the automaton
            folded = folded.encode("utf-8", "replace").decode("utf-8")
            found = self._automaton.find_matches_as_indexes(_anchor(folded), overlapping=True)
        ids, anchored_from = self._ids, self._anchored_from
        # Anchored patterns count in the short score only, which reads the title and the lead.
        matches = [
            (ids[p], start - (p < anchored_from), end - 1)
            for p, start, end in found
            if p < anchored_from or start <= lead_end
        ]

        size = len(folded)
        present: set[int] = set()
        hits: dict[int, list[Found]] = {}
        vetoes: dict[int, list[tuple[int, int, float]]] = {}
        for pat, start, end in matches:
            if (start > 0 and folded[start - 1].isalnum()) or (end < size and folded[end].isalnum()):
                continue
            present.add(pat)
            for role in self._roles[pat]:
                if role.kind == _POS:
                    if not role.weight and start >= lead_end:
                        continue  # counts in the short score only, which reads the title and the lead

                    hits.setdefault(role.topic, []).append(
                        Found(
                            start, end, pat, role.short_key, role.weight, role.short_weight, role.context, role.phrase
                        )
                    )
                else:
                    vetoes.setdefault(role.topic, []).append((start, end, role.weight))

        results: list[TopicScore] = []
        for t in sorted(hits.keys() | vetoes.keys()) if explain else hits:
            result = score_topic(
                self._topics[t],
                hits.get(t, []),
                vetoes.get(t, []),
                present,
                text,
                title_end=title_end,
                body_start=body_start,
                lead_end=lead_end,
                words=words,
                explain=explain,
            )
            if result is not None:
                results.append(result)
        return results
