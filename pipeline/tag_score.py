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
    """``boosted`` or ``short``: the rule that gave the reported score."""
    evidence: tuple[str, ...]
    """The phrases the deciding rule weighed, as written in the item (first spelling of each)."""
    contributions: tuple[Contribution, ...]
    """Every counted match (empty unless explained)."""
    ignored: tuple[Ignored, ...]
    penalties: tuple[tuple[str, float], ...]
    """Exclusions found in the item, as written there, with the penalty each subtracted."""

    def tag(self) -> Tag | None:
        """The tag this score gives, or ``None`` under the threshold."""
        if not self.tagged:
            return None
        return Tag(topic=self.topic, score=round(self.score, 3), evidence=self.evidence)


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
    if not explain and _cannot_pass(topic, found, lead_end=lead_end, words=words):
        return None
    found.sort(key=_order)
    kept: list[Found] = []
    wheres: list[int] = []
    ignored: list[Ignored] = []
    boosts = (topic.title_boost, topic.lead_boost, 1.0)
    # Boosted: per phrase, its max_hits best occurrences. Short: each key (a phrase, or a group of
    # phrases) once, at its best short weight, in the title and the lead only: a summary's topic is
    # in its headline and lead, and a phrase further down is a passing mention.
    values: dict[int, list[float]] = {}
    best: dict[int, int] = {}
    last_end, last_phrase = -1, ""
    for hit in found:
        start = hit.start
        if start < last_end:
            if explain:
                ignored.append(Ignored(text[start : hit.end], hit.phrase, f"inside {last_phrase!r}"))
            continue
        if hit.context and hit.context.isdisjoint(present):
            if explain:
                ignored.append(Ignored(text[start : hit.end], hit.phrase, "its context is absent"))
            continue
        if vetoes:
            veto = next((v for v in vetoes if v[0] < hit.end and start < v[1]), None)
            if veto is not None:
                if explain:
                    ignored.append(Ignored(text[start : hit.end], hit.phrase, f"inside {text[veto[0] : veto[1]]!r}"))
                continue
        place = 0 if start < title_end else 1 if body_start <= start < lead_end else 2
        if place < 2:
            key = hit.short_key
            if key not in best or hit.short_weight > kept[best[key]].short_weight:
                best[key] = len(kept)
        kept.append(hit)
        wheres.append(place)
        if hit.weight:
            values.setdefault(hit.pattern, []).append(boosts[place] * hit.weight)
        last_end, last_phrase = hit.end, hit.phrase
    if not kept and not explain:
        return None
    penalty = sum(v[2] for v in vetoes) if vetoes else 0.0
    boosted = -penalty
    max_hits = topic.max_hits
    for occurrences in values.values():
        if len(occurrences) > max_hits:
            occurrences.sort(reverse=True)
            del occurrences[max_hits:]
        boosted += sum(occurrences)
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
    # Evidence: the phrases the deciding rule weighs, repeats and cues beyond the first included.
    evidence: dict[str, str] = {}
    for hit, place in zip(kept, wheres, strict=True):
        if (hit.weight if decided_by == "boosted" else hit.short_weight if place < 2 else 0.0) > 0:
            written = text[hit.start : hit.end]
            evidence.setdefault(written.casefold(), written)
    contributions = (
        _contributions(kept, wheres, values=values, counted_short=set(best.values()), boosts=boosts, text=text)
        if explain
        else ()
    )
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
        evidence=tuple(evidence.values()),
        contributions=contributions,
        ignored=tuple(ignored),
        penalties=tuple((text[s:e], p) for s, e, p in vetoes) if explain else (),
    )


def _cannot_pass(topic: Topic, found: list[Found], *, lead_end: int, words: int) -> bool:
    """Whether even every match counting in full (no overlaps, vetoes, limits) stays under the threshold.

    Most items name a country or two in the lead (short-only cues) and nothing else of a topic: this
    bound skips scoring them.
    """
    slack = 1e-9  # the bound adds in another order than the score: keep float rounding on the safe side
    bound = sum(hit.weight for hit in found) * max(topic.title_boost, topic.lead_boost, 1.0)
    if topic.short_threshold is None:
        return bound < topic.threshold - slack
    if words > topic.short_words and bound >= topic.threshold - slack:
        return False
    ratio = words / topic.short_words
    needed = topic.short_threshold * max(1.0, ratio * ratio)
    return sum(hit.short_weight for hit in found if hit.start < lead_end) < needed - slack


def _order(hit: Found) -> tuple[int, int]:
    """Leftmost first, and the longest of those starting together."""
    return hit.start, hit.start - hit.end


def _contributions(
    kept: list[Found],
    wheres: list[int],
    *,
    values: dict[int, list[float]],
    counted_short: set[int],
    boosts: tuple[float, float, float],
    text: str,
) -> tuple[Contribution, ...]:
    """What each counted match added to each score (``values``: each phrase's counted occurrences)."""
    places = ("title", "lead", "body")
    left = {pattern: list(counted) for pattern, counted in values.items()}
    out: list[Contribution] = []
    for i, (hit, place) in enumerate(zip(kept, wheres, strict=True)):
        value = boosts[place] * hit.weight
        quota = left.get(hit.pattern, [])
        added = value if value and value in quota else 0.0
        if added:
            quota.remove(value)
        short_added = hit.short_weight if i in counted_short else 0.0
        out.append(
            Contribution(
                text[hit.start : hit.end], hit.phrase, places[place], hit.weight, hit.short_weight, added, short_added
            )
        )
    return tuple(out)
