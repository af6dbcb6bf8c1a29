"""The dedupe index: exact and near copies, cluster roots, redelivery and retention by event time."""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.dedupe import Decision, DedupeIndex
from pipeline.fingerprint import fingerprint

T0 = datetime(2024, 3, 4, 9, 30, tzinfo=UTC)

TITLE = "Storm forces closure of river port as floodwaters rise"
PARAGRAPHS = [
    "RIVERTON, March 4 (Wire) - Authorities closed the river port of Riverton on Monday after two days of "
    "heavy rain pushed the water level to its highest mark in more than forty years, stranding dozens of "
    "barges loaded with grain and coal.",
    "The regional transport ministry said the closure would last at least until Thursday, when engineers "
    "expect the crest of the flood to pass the city. Shipping companies said the delay could cost them "
    "several million dollars in lost freight and demurrage charges.",
    "Emergency crews evacuated about 1,200 residents from low-lying streets near the docks overnight, and "
    "schools in three districts were turned into temporary shelters, the mayor told reporters at a briefing.",
    "Farm groups warned that the stranded barges carried much of the late winter wheat harvest bound for "
    "export terminals downstream, and that prolonged delays could push up local feed prices this spring.",
    "Meteorologists forecast drier weather from Wednesday but cautioned that tributaries upstream were still "
    "rising, so the flood could linger in the lower valley for another week before the river returns to normal.",
]
STORY = "\n\n".join(PARAGRAPHS)

OTHER_ARTICLE = (
    "Residents of Riverton spent Monday night in school gyms as the river spilled into streets near the old "
    "docks. Maria Lopez, a baker whose shop sits two blocks from the water, said she had moved her ovens "
    "upstairs and did not know when she could reopen. City officials, speaking at a news conference, praised "
    "volunteers who filled sandbags through the weekend and asked drivers to avoid the riverside avenue. "
    "Barge crews waiting at anchor said they had enough food for several days but little idea when the "
    "port would open again, and some complained that the warnings came too late for them to move upstream."
)


def earnings(company: str, quarter: str, shr: tuple[int, int], net: tuple[str, str], revs: tuple[str, str]) -> str:
    """A templated wire earnings item with the given figures."""
    return (
        f"{company} {quarter} QTR NET\n"
        f"Shr {shr[0]} cts vs {shr[1]} cts\n"
        f"Net {net[0]} vs {net[1]}\n"
        f"Revs {revs[0]} mln vs {revs[1]} mln"
    )


@pytest.fixture
def make_index() -> Callable[..., DedupeIndex]:
    """A factory of indexes over fresh dict stores."""

    def make(**kwargs: object) -> DedupeIndex:
        return DedupeIndex({}, {}, **kwargs)  # type: ignore[arg-type]

    return make


def decide(index: DedupeIndex, item_id: str, text: str, when: datetime = T0) -> Decision:
    return index.decide(item_id, fingerprint(text), when)


def test_first_copy_is_unique_and_its_own_cluster(make_index: Callable[..., DedupeIndex]) -> None:
    index = make_index()
    first = decide(index, "a", STORY)
    assert first == Decision(item_id="a", kind="unique", cluster_id="a", duplicate_of=None, similarity=1.0)


def test_exact_copy_after_case_and_whitespace_changes(make_index: Callable[..., DedupeIndex]) -> None:
    index = make_index()
    decide(index, "a", TITLE + "\n" + STORY)
    copy = decide(index, "b", TITLE.upper() + "\n" + STORY.replace("\n\n", "\n"))
    assert copy == Decision(item_id="b", kind="exact", cluster_id="a", duplicate_of="a", similarity=1.0)


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("junk added", "[ad_1]\n" + STORY + "\nRead also | Markets edge higher as oil prices ease\n[ad_2]\nshare now"),
        ("headline case changed", TITLE.upper() + "\n" + STORY),
        (
            "words edited",
            STORY.replace("forty", "40").replace("Thursday", "Friday").replace("about 1,200", "nearly 1,300"),
        ),
        ("paragraph dropped", "\n\n".join(PARAGRAPHS[:2] + PARAGRAPHS[3:])),
        ("truncated to 40%", STORY[: int(len(STORY) * 0.4)]),
    ],
)
def test_near_copies_are_found(make_index: Callable[..., DedupeIndex], name: str, variant: str) -> None:
    index = make_index()
    decide(index, "orig", TITLE + "\n" + STORY if name == "headline case changed" else STORY)
    got = decide(index, "copy", variant)
    assert got.kind in ("near", "exact"), name
    assert got.duplicate_of == "orig"
    assert got.cluster_id == "orig"
    assert 0.8 <= got.similarity <= 1.0


def test_truncated_copy_seen_first_is_the_root(make_index: Callable[..., DedupeIndex]) -> None:
    index = make_index()
    decide(index, "short", STORY[: int(len(STORY) * 0.4)])
    got = decide(index, "full", STORY)
    assert (got.kind, got.duplicate_of) == ("near", "short")


def test_different_article_on_the_same_event_is_not_a_copy(make_index: Callable[..., DedupeIndex]) -> None:
    index = make_index()
    decide(index, "wire", STORY)
    assert decide(index, "feature", OTHER_ARTICLE).kind == "unique"


def test_templated_earnings_items_with_other_figures_are_not_copies(
    make_index: Callable[..., DedupeIndex],
) -> None:
    index = make_index()
    items = [
        earnings("ACME CORP", "1ST", (12, 9), ("1,234,000", "987,000"), ("45.6", "40.1")),
        earnings("ACME CORP", "2ND", (14, 11), ("1,410,000", "1,102,000"), ("47.2", "41.8")),
        earnings("BOLT INDUSTRIES INC", "1ST", (31, 28), ("5,120,000", "4,730,000"), ("210.4", "198.7")),
        earnings("CANTOR MILLS", "1ST", (12, 10), ("1,234,500", "990,000"), ("45.9", "40.0")),
    ]
    kinds = [decide(index, f"e{i}", text, T0 + timedelta(days=i)).kind for i, text in enumerate(items)]
    assert kinds == ["unique"] * len(items)


def test_short_texts_need_strong_evidence(make_index: Callable[..., DedupeIndex]) -> None:
    index = make_index()
    decide(index, "s1", "Shares of the company rose sharply today")
    assert decide(index, "s2", "Shares of the company fell sharply today").kind == "unique"
    assert decide(index, "s3", "Shares of the company rose sharply today!").kind == "exact"


def test_copies_point_at_the_cluster_root_not_the_nearest_copy(make_index: Callable[..., DedupeIndex]) -> None:
    index = make_index()
    decide(index, "root", STORY)
    truncated = STORY[: int(len(STORY) * 0.5)]
    assert decide(index, "half", truncated).duplicate_of == "root"
    # Closest to "half" (its own junk and edits), but the cluster's root is "root".
    got = decide(index, "half-copy", truncated.replace("forty", "40") + "\nshare now")
    assert (got.duplicate_of, got.cluster_id) == ("root", "root")
    assert decide(index, "half-exact", truncated.upper()).duplicate_of == "root"


def test_redelivery_returns_the_first_decision(make_index: Callable[..., DedupeIndex]) -> None:
    index = make_index()
    first = decide(index, "a", STORY)
    copy = decide(index, "b", "\n\n".join(PARAGRAPHS[:4]))
    assert decide(index, "a", STORY) == first
    assert decide(index, "b", "\n\n".join(PARAGRAPHS[:4])) == copy
    # Even with another text, a redelivered id keeps its decision and is never a copy of itself.
    assert decide(index, "a", OTHER_ARTICLE) == first


def test_all_state_is_in_the_stores(make_index: Callable[..., DedupeIndex]) -> None:
    items: dict[str, bytes] = {}
    bands: dict[str, bytes] = {}
    first = DedupeIndex(items, bands).decide("a", fingerprint(STORY), T0)
    restarted = DedupeIndex(items, bands)
    assert restarted.decide("a", fingerprint(STORY), T0) == first
    assert restarted.decide("b", fingerprint(STORY[:900]), T0).duplicate_of == "a"
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in [*items.items(), *bands.items()])


def test_entries_expire_by_event_time(make_index: Callable[..., DedupeIndex]) -> None:
    items: dict[str, bytes] = {}
    bands: dict[str, bytes] = {}
    index = DedupeIndex(items, bands, window=timedelta(days=7))
    index.decide("old", fingerprint(STORY), T0)
    # Inside the window the copy is found.
    assert index.decide("copy1", fingerprint(STORY.upper()), T0 + timedelta(days=6)).duplicate_of == "old"
    # Eight days on, "old" and "copy1" have left the index: a new copy starts a new cluster.
    later = index.decide("copy2", fingerprint(STORY), T0 + timedelta(days=14, hours=2))
    assert later == Decision("copy2", "unique", "copy2", None, 1.0)
    assert not any(key.startswith(("d:old", "d:copy1")) for key in items)
    assert index.expire(T0 + timedelta(days=30)) == 1
    assert set(items) == {"m", "h"}
    assert bands == {}


def test_expire_counts_and_is_idempotent(make_index: Callable[..., DedupeIndex]) -> None:
    index = make_index(window=timedelta(days=1))
    for i in range(150):
        decide(index, f"i{i}", f"item number {i} " + OTHER_ARTICLE[: 40 + i], T0 + timedelta(minutes=i))
    assert index.expire(T0 + timedelta(days=3)) == 150
    assert index.expire(T0 + timedelta(days=3)) == 0


def test_expiry_is_amortised_per_decide(make_index: Callable[..., DedupeIndex]) -> None:
    items: dict[str, bytes] = {}
    index = DedupeIndex(items, {}, window=timedelta(days=1), expire_batch=10)
    for i in range(50):
        index.decide(f"i{i}", fingerprint(f"story {i} " + STORY), T0)
    index.decide("new", fingerprint(OTHER_ARTICLE), T0 + timedelta(days=3))
    assert sum(key.startswith("e:") for key in items) == 51 - 10
    for i in range(5):
        index.decide(f"n{i}", fingerprint(f"fresh {i} " + OTHER_ARTICLE[::-1]), T0 + timedelta(days=3))
    assert sum(key.startswith("e:") for key in items) == 6


def test_late_item_is_decided_against_the_index_and_points_at_first_seen(
    make_index: Callable[..., DedupeIndex],
) -> None:
    index = make_index(window=timedelta(days=7))
    decide(index, "today", STORY, T0)
    # An older copy arriving later (a backfill) still points at the first copy seen.
    backfill = decide(index, "last-week", STORY.upper(), T0 - timedelta(days=5))
    assert backfill.duplicate_of == "today"
    # Older than the window: decided against what is held, and its own copies find it until expiry.
    stale = decide(index, "stale", OTHER_ARTICLE, T0 - timedelta(days=30))
    assert stale.kind == "unique"
    assert decide(index, "stale-copy", OTHER_ARTICLE[:400], T0 - timedelta(days=30)).duplicate_of == "stale"
    assert (
        decide(
            index,
            "next",
            "A different story altogether about a chess match in a small town library " * 3,
            T0 + timedelta(hours=2),
        ).kind
        == "unique"
    )
    assert decide(index, "stale", OTHER_ARTICLE, T0 - timedelta(days=30)).kind == "unique"


def test_naive_event_time_is_utc(make_index: Callable[..., DedupeIndex]) -> None:
    index = make_index()
    decide(index, "a", STORY, T0)
    naive = T0.replace(tzinfo=None)
    assert index.decide("b", fingerprint(STORY), naive).duplicate_of == "a"


def test_empty_text_is_unique_and_unindexed(make_index: Callable[..., DedupeIndex]) -> None:
    index = make_index()
    assert decide(index, "e1", "").kind == "unique"
    assert decide(index, "e2", "   ").kind == "unique"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        DedupeIndex({}, {}, window=timedelta(0))
    with pytest.raises(ValueError, match="signature"):
        DedupeIndex({}, {}, num_bands=100, band_rows=2)


def test_derived_bands_are_rebuilt_from_the_entries() -> None:
    items: dict[str, bytes] = {}
    index = DedupeIndex(items, {}, derived_bands=True)
    decide(index, "orig", STORY)
    decide(index, "other", earnings("ACME CORP", "1ST QTR", (10, 8), ("1.2 mln", "1.0 mln"), ("9 mln", "8 mln")))

    lost = DedupeIndex(items, {}, derived_bands=True)  # a worker whose local bands are gone
    assert lost.sync_bands() == 2
    got = decide(lost, "copy", STORY[: int(len(STORY) * 0.6)])
    assert got.kind == "near"
    assert got.duplicate_of == "orig"


def test_derived_bands_in_step_are_not_rebuilt() -> None:
    items: dict[str, bytes] = {}
    bands: dict[str, bytes] = {}
    index = DedupeIndex(items, bands, derived_bands=True)
    decide(index, "orig", STORY)
    assert DedupeIndex(items, bands, derived_bands=True).sync_bands() is None
    decide(DedupeIndex(items, {}, derived_bands=True), "elsewhere", "\n\n".join(PARAGRAPHS[1:]))
    # The entries moved on without these bands (another worker had the partition): rebuild.
    assert DedupeIndex(items, bands, derived_bands=True).sync_bands() == 2


def test_derived_index_keeps_only_entries_and_the_watermark_durable() -> None:
    items: dict[str, bytes] = {}
    index = DedupeIndex(items, {}, derived_bands=True)
    decide(index, "orig", STORY)
    decide(index, "same", STORY)
    assert sorted(items) == ["e:0", "e:1", "m"]


def test_rebuilt_derived_keys_give_the_same_decisions_and_expiry() -> None:
    items: dict[str, bytes] = {}
    index = DedupeIndex(items, {}, window=timedelta(days=1), derived_bands=True)
    first = decide(index, "orig", STORY)
    decide(index, "early", OTHER_ARTICLE, T0 - timedelta(hours=3))

    lost = DedupeIndex(items, {}, window=timedelta(days=1), derived_bands=True)
    assert lost.sync_bands() == 2
    assert decide(lost, "orig", OTHER_ARTICLE) == first  # a redelivered id keeps its first decision
    exact = decide(lost, "same", STORY)
    assert (exact.kind, exact.duplicate_of) == ("exact", "orig")
    assert lost.expire(T0 + timedelta(days=2)) == 3
    assert sorted(items) == ["m"]
    assert decide(lost, "again", STORY).kind == "unique"


def test_sync_bands_needs_a_derived_index() -> None:
    with pytest.raises(ValueError, match="derived"):
        DedupeIndex({}, {}).sync_bands()


def test_a_batch_writes_the_watermark_once_at_its_end() -> None:
    items: dict[str, bytes] = {}
    index = DedupeIndex(items, {}, derived_bands=True)
    decide(index, "before", OTHER_ARTICLE)
    before = items["m"]
    with index.batch():
        decide(index, "orig", STORY)
        copy = decide(index, "copy", STORY)
        assert items["m"] == before  # the entries are written, the watermark waits for the batch's end
    assert (copy.kind, copy.duplicate_of) == ("exact", "orig")
    assert items["m"] != before
    assert sorted(k for k in items if k.startswith("e:")) == ["e:0", "e:1", "e:2"]


def test_a_batch_cut_short_by_a_crash_overwrites_no_entry_after_a_restart() -> None:
    items: dict[str, bytes] = {}
    index = DedupeIndex(items, {}, derived_bands=True)
    decide(index, "before", OTHER_ARTICLE)
    with index.batch():
        first = decide(index, "orig", STORY)
        crashed = dict(items)  # the table as the changelog keeps it after a crash here: the entry, not m
    restarted = DedupeIndex(crashed, {}, derived_bands=True)
    assert restarted.sync_bands() == 2
    assert decide(restarted, "orig", earnings("ACME", "1ST", (1, 2), ("3", "4"), ("5", "6"))) == first  # redelivered
    decide(restarted, "new", earnings("ACME CORP", "1ST", (10, 8), ("1.2 mln", "1.0 mln"), ("9", "8")))
    assert sorted(k for k in crashed if k.startswith("e:")) == ["e:0", "e:1", "e:2"]  # "orig" kept its entry
    assert decide(restarted, "later-copy", STORY).duplicate_of == "orig"


def test_pipeline_modules_import_no_private_names_of_each_other() -> None:
    # dedupe (the rules) uses dedupe_state (the layout) through its public names only; private modules of the
    # package (``from pipeline import _html``) are fine, private names inside another module are not.
    root = Path(__file__).resolve().parents[2] / "pipeline"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline."):
                offenders += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert offenders == []
