"""The whole path of one item, as both the agents and ``newsfeed process`` run it.

Two steps, because the second needs state shared by every copy of a story:

- ``prepare`` (stateless, parallel): decode, validate, clean, fingerprint and tag.
- ``settle`` (stateful, one shard per language): dedupe, alerts and routing to the output topics.

State lives in the stores given to ``Pipeline``: dicts offline, Faust tables in the worker.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, MutableMapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import orjson

from pipeline.alerts import Rule, default_rules_path, evaluate, forget, load_rules
from pipeline.clean import clean
from pipeline.dates import isoformat, parse_published
from pipeline.deadletter import dead_letter
from pipeline.decode import Rejected, decode
from pipeline.dedupe import DedupeIndex
from pipeline.fingerprint import fingerprint
from pipeline.prepared import Prepared
from pipeline.records import DeadLetter, Origin
from pipeline.route import dead_letter_message, route
from pipeline.settings import Settings
from pipeline.tag import Tagger

Store = MutableMapping[str, bytes]
_REJECTED = "#rejected:"
"""Key prefix, in the ``fired`` ledger, of the dead letters of items whose outputs were refused (no rule id
starts with ``#``)."""
_FUTURE_ALLOWANCE = timedelta(days=1)


class StageTimer:
    """Collects per-stage durations (ns) for ``make bench``; the service runs without one.

    ``clock`` is the wall clock by default; ``time.process_time_ns`` leaves out the time spent waiting for a core.
    """

    def __init__(self, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self.samples: defaultdict[str, list[int]] = defaultdict(list)
        self._clock = clock
        self._last = 0

    def start(self) -> None:
        """Begin timing one item."""
        self._last = self._clock()

    def lap(self, stage: str) -> None:
        """Record the time since the previous lap under ``stage``."""
        now = self._clock()
        self.samples[stage].append(now - self._last)
        self._last = now


class Pipeline:
    """The stages of newsfeed over a given set of state stores."""

    def __init__(
        self,
        settings: Settings,
        *,
        tagger: Tagger,
        rules: list[Rule],
        items: Store,
        bands: Store,
        fired: Store,
        timer: StageTimer | None = None,
    ) -> None:
        self.settings = settings
        self.tagger = tagger
        self.rules = rules
        self.items = items
        self.fired = fired
        self.index = DedupeIndex(items, bands, window=settings.dedupe_window, on_expire=self._forget)
        self.timer = timer

    @classmethod
    def from_settings(
        cls, settings: Settings, *, items: Store, bands: Store, fired: Store, timer: StageTimer | None = None
    ) -> Pipeline:
        """Load the taxonomy and the alert rules the settings name (the shipped ones by default)."""
        tagger = Tagger.from_path(settings.taxonomy_path) if settings.taxonomy_path else Tagger.default()
        rules = load_rules(settings.rules_path or default_rules_path())
        return cls(settings, tagger=tagger, rules=rules, items=items, bands=bands, fired=fired, timer=timer)

    def prepare(self, raw: bytes, origin: Origin, now: datetime) -> Prepared | DeadLetter:
        """Decode, validate, clean, fingerprint and tag one raw message."""
        timer = self.timer
        if timer:
            timer.start()
        item = decode(raw, self.settings)
        if timer:
            timer.lap("decode")
        if isinstance(item, Rejected):
            return dead_letter(
                raw, origin, reason=item.reason, detail=item.detail, stage=item.stage, item_id=item.item_id, now=now
            )
        stage = "clean"
        try:
            cleaned = clean(item.body, item.title)
            if timer:
                timer.lap("clean")
            if not cleaned.body.strip():
                return dead_letter(
                    raw, origin, reason="empty_after_cleaning", detail="no article text is left after cleaning",
                    stage="clean", item_id=item.id, now=now,
                )  # fmt: skip
            stage = "fingerprint"
            print_ = fingerprint(cleaned.body)
            if timer:
                timer.lap("fingerprint")
            stage = "tag"
            tags = tuple(self.tagger.tag(cleaned.title, cleaned.body))
            if timer:
                timer.lap("tag")
        except Exception as error:  # noqa: BLE001 - a poison item must not stop the stream: it is dead-lettered
            return dead_letter(
                raw, origin, reason="stage_error", detail=f"{stage} raised {type(error).__name__}: {error}",
                stage=stage, item_id=item.id, now=now,
            )  # fmt: skip
        return Prepared(replace(item, body=""), cleaned, tags, print_, origin, isoformat(now), raw)

    def new_index(self, bands: Store, *, derived: bool) -> DedupeIndex:
        """Another index over this pipeline's entries, with its own band store (one per dedupe partition)."""
        return DedupeIndex(
            self.items, bands, window=self.settings.dedupe_window, derived_bands=derived, on_expire=self._forget
        )

    def remember_rejected(self, item_id: str, letter: bytes) -> None:
        """Keep the ``output_rejected`` dead letter of ``item_id`` (its JSON) while the item's entry lives."""
        self.fired[_REJECTED + item_id] = letter

    def _forget(self, item_id: str, root: bool) -> None:
        self.fired.pop(_REJECTED + item_id, None)
        if root:
            forget(self.rules, self.fired, item_id)

    def settle(self, prepared: Prepared, now: datetime, index: DedupeIndex | None = None) -> list[Any]:
        """Dedupe, raise alerts and route one prepared item; returns the output messages.

        ``index`` is the dedupe index of the item's partition (the pipeline's own by default).
        """
        timer = self.timer
        if timer:
            timer.start()
        index = index or self.index
        # A date far in the future would move the dedupe watermark and expire the whole index: clamp it.
        event_time = min(parse_published(prepared.event_time) or now, now + _FUTURE_ALLOWANCE)
        decision = index.decide(prepared.item.id, prepared.fingerprint, event_time)
        if timer:
            timer.lap("dedupe")
        rejected = self.fired.get(_REJECTED + prepared.item.id)
        if rejected is not None:  # read again after its output was refused: dead-lettered again, as before
            letter = DeadLetter(**orjson.loads(rejected))
            return [dead_letter_message(letter, self.settings)]
        alerts = evaluate(
            self.rules,
            item_id=prepared.item.id,
            cluster_id=decision.cluster_id,
            title=prepared.cleaned.title,
            url=prepared.item.url,
            source=prepared.item.source,
            body=prepared.cleaned.body,
            tags=prepared.tags,
            published_at=parse_published(prepared.item.published_at),
            now=now,
            max_age=self.settings.alert_max_age,
            replay=prepared.origin.replay,
            fired=self.fired,
        )
        if timer:
            timer.lap("alerts")
        messages = route(prepared, decision, alerts, self.settings)
        if timer:
            timer.lap("route")
        return messages

    def unreadable(self, raw: bytes, origin: Origin, error: Exception, now: datetime) -> DeadLetter:
        """The dead letter for a message on the prepared stream that cannot be read back."""
        return dead_letter(
            raw, origin, reason="invalid_prepared", detail=f"{type(error).__name__}: {error}", stage="dedupe",
            item_id=None, now=now,
        )  # fmt: skip

    def rejected(
        self, prepared: Prepared, topic: str, error: BaseException, now: datetime, *, stage: str
    ) -> DeadLetter:
        """The dead letter for an item whose output ``topic`` refused for a reason of the item's own."""
        return dead_letter(
            prepared.raw, prepared.origin, reason="output_rejected", detail=f"{topic} refused it: {error!r}",
            stage=stage, item_id=prepared.item.id, now=now,
        )  # fmt: skip

    def fail(self, prepared: Prepared, error: Exception, now: datetime) -> DeadLetter:
        """The dead letter for an item whose dedupe step raised."""
        return dead_letter(
            prepared.raw, prepared.origin, reason="stage_error",
            detail=f"dedupe raised {type(error).__name__}: {error}", stage="dedupe",
            item_id=prepared.item.id, now=now,
        )  # fmt: skip
