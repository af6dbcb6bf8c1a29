"""Score one topic from the phrases the tag stage found, with the length rule and an explanation.

Two scores are kept per topic. The **boosted score** is the weighted sum of phrase occurrences
(at most ``max_hits`` per phrase), each times the title or lead boost where it stands, minus
exclusion penalties: it is what a full story needs, ``threshold``. The **short score** is the
sum of each distinct phrase's ``short_weight`` once, in the title and the lead only, minus the
same penalties: a headline or a summary has no room to repeat itself, so one strong phrase has
to be enough, and a phrase past the lead is a passing mention. An item of
``short_words`` words or fewer is judged by its short score alone, against ``short_threshold``
(the title boost would otherwise let one mention in a headline pass); a longer one needs that
times the square of its words over ``short_words`` (4x at twice the length, 100x at ten
times), so the short score of a long story with one passing mention stays far below what it
needs, and the boosted score decides.

The reported score is on the boosted scale whichever rule decides (a short score is scaled by
``threshold`` over what it needed), so alert rules' ``min_score`` means the same for any length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.records import Tag
from pipeline.taxonomy import Topic

__all__ = ["Contribution", "Found", "Ignored", "TopicScore", "score_topic"]


@dataclass(slots=True)
class Found:
    """One match of one of a topic's phrases in the folded text."""

    start: int
    end: int
    pattern: int
    """The automaton pattern (one phrase's occurrences count at most ``max_hits`` times)."""
    short_key: int
    """Matches with one key count once in the short score: the pattern, or the phrase's group."""
    weight: float
    short_weight: float
    context: frozenset[int]
    """Pattern indexes of which one must be present (empty: no condition)."""
    phrase: str
    """The taxonomy phrase it matched, as the taxonomy writes it."""


@dataclass(frozen=True, slots=True)
class Contribution:
    """A counted match: what it added to each score."""

    text: str
    """The phrase as written in the item."""
    phrase: str
    """The taxonomy phrase it matched."""
    where: str
    """``title``, ``lead`` or ``body``."""
    weight: float
    """The phrase's weight (boosted score)."""
    short_weight: float
    """The phrase's short weight (short score)."""
    boosted: float
    """What it added to the boosted score (weight times boost; 0 past ``max_hits`` or with weight 0)."""
    short: float
    """What it added to the short score (0 past the lead, or for a repeat of its phrase or group)."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A match that did not count, and why."""

    text: str
    phrase: str
    reason: str


@dataclass(frozen=True, slots=True)
class TopicScore:
    """How one topic scored on one item (the explanation of a tag, or of its absence)."""

    topic: str
    score: float
    """The reported score, on the boosted scale."""
    tagged: bool
    threshold: float
    boosted: float
    """The boosted score (after penalties)."""
    short: float
    """The short score (after penalties)."""
    short_needed: float | None
    """The short score this item's length needs; ``None`` when the topic has no length rule."""
    words: int
    decided_by: str
    """``boosted`` or ``short``: the rule that gave the higher reported score."""
    contributions: tuple[Contribution, ...]
    ignored: tuple[Ignored, ...]
    penalties: tuple[tuple[str, float], ...]
    """Exclusions found in the item, as written there, with the penalty each subtracted."""

    def tag(self) -> Tag | None:
        """The tag this score gives, or ``None`` under the threshold."""
        if not self.tagged:
            return None
        # The phrases the deciding rule weighs, repeats and cues beyond the first included.
        counted = [c for c in self.contributions if (c.weight if self.decided_by == "boosted" else c.short_weight) > 0]
        evidence: dict[str, str] = {}
        for c in counted:
            evidence.setdefault(c.text.casefold(), c.text)
        return Tag(topic=self.topic, score=round(self.score, 3), evidence=tuple(evidence.values()))


def score_topic(
    topic: Topic,
    found: list[Found],
    vetoes: Sequence[tuple[int, int, float]],
    present: set[int],
    text: str,
    *,
    title_end: int,
    body_start: int,
    lead_end: int,
    words: int,
    explain: bool = False,
) -> TopicScore | None:
    """Score ``topic`` from its matches.

    Args:
        found: the topic's phrase matches (sorted here, in place).
        vetoes: the topic's exclusion matches: start, end, penalty.
        present: every pattern index found in the text (for phrases with a context).
        text: the text the positions index (title, separator, body), for evidence as written.
        title_end, body_start, lead_end: where title, body and lead are in ``text``.
        words: the item's length in words.
        explain: keep ignored matches and penalties for an explanation.

    Returns:
        The score, or ``None`` when nothing counted and ``explain`` is false.
    """
    found.sort(key=lambda f: (f.start, f.start - f.end))
    kept: list[Found] = []
    ignored: list[Ignored] = []
    last: Found | None = None
    for hit in found:
        if last is not None and hit.start < last.end:
            if explain:
                ignored.append(Ignored(text[hit.start : hit.end], hit.phrase, f"inside {last.phrase!r}"))
            continue
        if hit.context and hit.context.isdisjoint(present):
            if explain:
                ignored.append(Ignored(text[hit.start : hit.end], hit.phrase, "its context is absent"))
            continue
        veto = next((v for v in vetoes if v[0] < hit.end and hit.start < v[1]), None)
        if veto is not None:
            if explain:
                ignored.append(Ignored(text[hit.start : hit.end], hit.phrase, f"inside {text[veto[0] : veto[1]]!r}"))
            continue
        kept.append(hit)
        last = hit
    if not kept and not explain:
        return None
    penalty = sum(v[2] for v in vetoes)
    # Boosted: per phrase, its max_hits best occurrences. Short: each phrase once.
    values: dict[int, list[float]] = {}
    boosts = (topic.title_boost, topic.lead_boost, 1.0)
    places = ("title", "lead", "body")
    wheres: list[int] = []
    for hit in kept:
        place = 0 if hit.start < title_end else 1 if body_start <= hit.start < lead_end else 2
        wheres.append(place)
        values.setdefault(hit.pattern, []).append(boosts[place] * hit.weight)
    boosted = -penalty
    for occurrences in values.values():
        occurrences.sort(reverse=True)
        boosted += sum(occurrences[: topic.max_hits])
    # A summary's topic is in its headline and lead: a phrase further down is a passing mention.
    # Each key (a phrase, or a group of phrases) counts once, at its best short weight.
    best: dict[int, int] = {}
    for i, (hit, place) in enumerate(zip(kept, wheres, strict=True)):
        if place < 2 and (hit.short_key not in best or hit.short_weight > kept[best[hit.short_key]].short_weight):
            best[hit.short_key] = i
    short = sum(kept[i].short_weight for i in best.values()) - penalty
    score, decided_by, needed = boosted, "boosted", None
    if topic.short_threshold is not None:
        # Squared: the rule fades fast past a summary's length (x4 at twice it), so long stories keep
        # the boosted rule (dev Reuters: trade F1 0.825 with a plain cut at short_words, 0.819 linear).
        ratio = words / topic.short_words
        needed = topic.short_threshold * max(1.0, ratio * ratio)
        scaled = short * topic.threshold / needed
        # A short item is judged by the short rule alone: a title boost must not carry a one-word mention.
        if words <= topic.short_words or scaled > score:
            score, decided_by = scaled, "short"
    tagged = score >= topic.threshold
    if not tagged and not explain:
        return None
    contributions: list[Contribution] = []
    counted_short = set(best.values())
    left: dict[int, list[float]] = {p: v[: topic.max_hits] for p, v in values.items()}
    for i, (hit, place) in enumerate(zip(kept, wheres, strict=True)):
        value = boosts[place] * hit.weight
        quota = left[hit.pattern]
        added = value if value in quota else 0.0
        if added:
            quota.remove(value)
        short_added = hit.short_weight if i in counted_short else 0.0
        contributions.append(
            Contribution(
                text[hit.start : hit.end], hit.phrase, places[place], hit.weight, hit.short_weight, added, short_added
            )
        )
    penalties = tuple((text[s:e], p) for s, e, p in vetoes) if explain else ()
    return TopicScore(
        topic=topic.id,
        score=score,
        tagged=tagged,
        threshold=topic.threshold,
        boosted=boosted,
        short=short,
        short_needed=needed,
        words=words,
        decided_by=decided_by,
        contributions=tuple(contributions),
        ignored=tuple(ignored),
        penalties=penalties,
    )
