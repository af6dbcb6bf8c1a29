# ruff: noqa: E501
"""Realistic news streams: real text from the dev corpora, fresh ids, syndication copies, hostile lines, replays.

usage:
  python bench/streams.py generate [--items N] [--seed S] [--copy-share F] [--hostile-share F] [--replay-share F]
                                   [--truth FILE] [--out FILE]          JSON lines on standard output (or --out)
  python bench/streams.py check    [same options]                       generate, run `newsfeed process` over it,
                                                                        print the intended and the measured shares

The text is read at run time from ``../shared/data/dev/`` (reuters21578, autoblog2016, giveme5w1h-events; the
``--data`` option or ``BENCH_DATA_DIR`` point elsewhere); nothing of it is kept in the repository. What comes out:

- **new stories** (at least 70% by default): each base text of the corpora once as it is (page HTML, wire text),
  then *variants* of the longer ones: 40% of the sentences kept, the others replaced by sentences of
  other articles, 8% of the words edited, the headline edited. A variant keeps ~30% of its base's word
  3-shingles and ~10% of another variant's of the same base, far below the dedupe's 0.8 containment: a new story
  is never a copy by accident. Base texts that the project's own dedupe finds to be copies of each other (Reuters
  re-sends, wire copies across outlets) are left out (found by ``newsfeed process`` once, cached).
- **copies**, made as syndication makes them, of a recent new story: page junk lines ("Read also | ...",
  "share now", "Source link", ad markers, an auto-generated disclaimer), a headline case change, the last paragraph
  trimmed (half of them), a few edited words (one per 150), another outlet and URL, published minutes later.
- **hostile lines** when asked: bad JSON, a missing body, a huge item (over the 2 MiB raw limit), control
  characters, invalid UTF-8.
- **replays** when asked: an earlier line sent again, byte for byte (same item id).

Deterministic given the seed (and the corpora). Streaming: memory holds the base texts and a few thousand recent
items, not the stream: 100,000 items (about 250 MB of JSON) take about 25 s of CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from selectolax.lexbor import LexborHTMLParser

from pipeline.decode import item_key

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", ROOT.parent / "shared/data/dev"))
CORPORA = ("reuters21578.jsonl", "autoblog2016.jsonl", "giveme5w1h-events.jsonl")
CACHE_DIR = ROOT / "bench/results/.cache"
KINDS_HOSTILE = ("bad_json", "missing_body", "huge", "control_chars", "invalid_utf8")

KEEP_SENTENCE = 0.4
"""Share of a base's sentences a variant keeps (the others come from other articles)."""
VARIANT_EDIT_RATE = 0.08
"""Share of a variant's words replaced by other words of the corpora."""
COPY_WORDS_PER_EDIT = 150
"""A syndication copy gets one edited word per this many words."""
MIN_REUSE_SENTENCES = 5
MIN_REUSE_WORDS = 80
MIN_COPY_WORDS = 60
SPACING_S = 3.0
"""Seconds of event time between items by default: 100,000 items span 3.5 days, inside the 7-day dedupe window."""
RECENT = 3000
"""New stories a copy may be taken from, and lines a replay may repeat: the most recent ones."""

_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”']))\s+(?=[A-Z\"“])")
_PARAGRAPH = re.compile(r"\n\s*\n|\n&\\t|\n\t|\n {3,}")
_HTML_PARAGRAPH_END = re.compile(r"</p>", re.I)
_TAG = re.compile(r"(<[^>]*>)")
_OUTLETS = tuple(
    f"{name}.example"
    for name in (
        "dailyledger", "metrowire", "thecourier", "newsnow24", "globalpost-online", "eveningstar", "techdigest",
        "marketpulse", "theobserver-news", "citybeat", "worldreport", "headlinehub", "morningbrief", "pressfeed",
        "thesentinel", "newsaggregate", "bizjournal-now", "islandtimes", "valleyherald", "coastaltribune",
    )
)  # fmt: skip
_JUNK = (
    "Read also | {title}",
    "Read more: {title}",
    "share now",
    "Share this article",
    "Source link",
    "[ad_1]",
    "[ad_2]",
    "Advertisement",
    "(This story has not been edited by {outlet} staff and is auto-generated from a syndicated feed.)",
)
_CONTROL = ("\x00", "\x07", "\x1b[31m", "\x0b", "\u200b", "\ufeff", "\x1f")


@dataclass(slots=True)
class Base:
    """One article of the corpora, as the corpus holds it."""

    id: str
    title: str
    body: str
    source: str
    url: str | None
    html: bool
    _paragraphs: list[list[str]] | None = None

    def paragraphs(self) -> list[list[str]]:
        """The text's paragraphs, each a list of sentences (HTML bodies through lexbor first)."""
        if self._paragraphs is None:
            if self.html:
                tree = LexborHTMLParser(self.body)
                texts = [node.text(deep=True).strip() for node in tree.css("p")]
            else:
                texts = [" ".join(p.split()) for p in _PARAGRAPH.split(self.body)]
            self._paragraphs = [_SENTENCE_END.split(t) for t in texts if len(t.split()) >= 4]
        return self._paragraphs

    def reusable(self) -> bool:
        """Long enough that a variant with half of its sentences replaced shares little with it."""
        paras = self.paragraphs()
        return (
            sum(map(len, paras)) >= MIN_REUSE_SENTENCES
            and sum(len(s.split()) for p in paras for s in p) >= MIN_REUSE_WORDS
        )


@dataclass(frozen=True, slots=True)
class Spec:
    """What stream to make; shares are of ``items``, new stories get the rest."""

    items: int = 20_000
    seed: int = 1
    copy_share: float = 0.25
    hostile_share: float = 0.0
    replay_share: float = 0.0
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)
    """``published_at`` of the first item; later items follow at ``spacing_s`` (copies a few minutes after)."""
    spacing_s: float = SPACING_S
    huge_bytes: int = 2_200_000
    id_prefix: str = "rs"
    data_dir: Path = DATA_DIR

    def __post_init__(self) -> None:
        new = 1.0 - self.copy_share - self.hostile_share - self.replay_share
        if min(self.copy_share, self.hostile_share, self.replay_share) < 0 or new < 0:
            raise ValueError("shares must be non-negative and sum to at most 1")


def _key(value: dict[str, Any]) -> str:
    """The id the pipeline gives an item: the feed's id scoped by its source (``pipeline.decode``)."""
    return item_key(str(value["id"]), value.get("source"))


@dataclass(frozen=True, slots=True)
class Item:
    """One generated line: its Kafka key (the item id, scoped by source as the pipeline scopes it), the raw bytes, what it is, and what it copies or repeats."""

    key: str
    line: bytes
    kind: str
    """``new``, ``copy``, ``replay``, or a hostile kind (``bad_json``, ``missing_body``, ...)."""
    of: str | None = None
    """For a copy the id of the new story it copies; for a replay the id it repeats."""


@dataclass(slots=True)
class _Story:
    id: str
    title: str
    body: str
    html: bool
    source: str
    when: datetime
    words: int


@dataclass(slots=True)
class Corpus:
    """The base texts, the donor sentences and the word list a generator draws from."""

    bases: list[Base]
    donors: list[str]
    vocab: list[str]
    left_out: int = 0
    reusable: list[int] = field(default_factory=list)


def load_corpus(data_dir: Path = DATA_DIR) -> Corpus:
    """Read the corpora; leave out the texts the project's dedupe finds to be copies of others."""
    copies = corpus_copies(data_dir)
    bases: list[Base] = []
    for name in CORPORA:
        with (data_dir / name).open("rb") as handle:
            for line in handle:
                raw = orjson.loads(line)
                if raw["id"] in copies or not raw.get("body"):
                    continue
                body = raw["body"]
                bases.append(Base(raw["id"], raw.get("title") or "", body, raw.get("source") or "wire",
                                  raw.get("url"), "<p" in body or "<div" in body))  # fmt: skip
    return build_corpus(bases, left_out=len(copies))


def build_corpus(bases: list[Base], left_out: int = 0) -> Corpus:
    """The donor sentences (of plain-text bases with six sentences or more) and the word list, over ``bases``."""
    donors: list[str] = []
    words: set[str] = set()
    for base in bases:
        if base.html:
            continue
        sentences = [s for p in base.paragraphs() for s in p]
        if len(sentences) >= 6:
            donors.extend(s for s in sentences if 8 <= len(s.split()) <= 60)
        if len(words) < 40_000:
            words.update(w for w in base.body.split() if w.isalpha() and len(w) >= 3)
    corpus = Corpus(bases, donors, sorted(words), left_out=left_out)
    corpus.reusable = [i for i, base in enumerate(bases) if base.reusable()]
    return corpus


def corpus_copies(data_dir: Path = DATA_DIR) -> set[str]:
    """Ids of corpus texts that ``newsfeed process`` routes to duplicates (cached per corpus file size and time)."""
    paths = [data_dir / name for name in CORPORA]
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths)
    cache = CACHE_DIR / f"corpus-copies-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.json"
    if cache.exists():
        return set(orjson.loads(cache.read_bytes()))
    found: set[str] = set()
    for message in _process(paths):
        if message["topic"].endswith(".duplicates"):
            found.add(str(message["key"]))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(orjson.dumps(sorted(found)))
    return found


def _process(paths: list[Path]) -> Iterator[dict[str, object]]:
    """Run ``newsfeed process`` over files; yield its output messages."""
    newsfeed = str(Path(sys.executable).with_name("newsfeed"))
    with subprocess.Popen([newsfeed, "process", *map(str, paths)], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as proc:  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(b"{"):
                yield orjson.loads(line)
    if proc.returncode:
        raise RuntimeError(f"newsfeed process exited with {proc.returncode}")


# --------------------------------------------------------------------------------------------- making items


class Generator:
    """Makes a stream item by item (see the module's docstring)."""

    def __init__(self, spec: Spec, corpus: Corpus | None = None) -> None:
        self.spec = spec
        self.corpus = corpus or load_corpus(spec.data_dir)
        if not self.corpus.bases:
            raise ValueError(f"no base texts under {spec.data_dir}")
        self.rng = random.Random(spec.seed)
        order = list(range(len(self.corpus.bases)))
        self.rng.shuffle(order)
        self._unused = order
        self._recent: deque[_Story] = deque(maxlen=RECENT)
        self._lines: deque[tuple[str, bytes]] = deque(maxlen=RECENT)
        self._variants: Counter[int] = Counter()

    def __iter__(self) -> Iterator[Item]:
        spec, rng = self.spec, self.rng
        for n in range(spec.items):
            when = spec.start + timedelta(seconds=n * spec.spacing_s)
            item_id = f"{spec.id_prefix}{spec.seed}-{n}"
            draw = rng.random()
            if draw < spec.hostile_share:
                yield self._hostile(item_id, when)
            elif draw < spec.hostile_share + spec.replay_share and self._lines:
                key, line = rng.choice(self._lines)
                yield Item(key, line, "replay", key)
            elif draw < spec.hostile_share + spec.replay_share + spec.copy_share and self._recent:
                yield self._remember(self._copy(item_id, when))
            else:
                yield self._remember(self._new(item_id, when))

    def _remember(self, item: Item) -> Item:
        self._lines.append((item.key, item.line))
        return item

    # ----------------------------------------------------------------------------------------- new stories

    def _new(self, item_id: str, when: datetime) -> Item:
        rng, corpus = self.rng, self.corpus
        # Originals first use: about three in four new stories while any are left (a corpus text as it is).
        if self._unused and (rng.random() < 0.75 or not corpus.reusable):
            base = corpus.bases[self._unused.pop()]
            title, body, html = base.title, base.body, base.html
        else:
            index = rng.choice(corpus.reusable)
            self._variants[index] += 1
            base = corpus.bases[index]
            title, body = self._variant(base)
            html = base.html
        source = base.source if base.source != "wire" else rng.choice(_OUTLETS)
        story = _Story(item_id, title, body, html, source, when, body.count(" ") + 1)
        if story.words >= MIN_COPY_WORDS:
            self._recent.append(story)
        value = {"id": item_id, "source": source, "url": f"https://{_host(source)}/news/{item_id}", "title": title,
                 "body": body, "published_at": _iso(when), "language": "en"}  # fmt: skip
        return Item(_key(value), orjson.dumps(value), "new")

    def _variant(self, base: Base) -> tuple[str, str]:
        rng, donors = self.rng, self.corpus.donors
        paras = base.paragraphs()
        total = sum(map(len, paras))
        # exactly this many kept, not each with a chance: a short base must not keep most of its sentences by luck
        kept = set(rng.sample(range(total), max(1, int(KEEP_SENTENCE * total))))
        paragraphs, n = [], 0
        for para in paras:
            sentences = []
            for sentence in para:
                sentences.append(sentence if n in kept else rng.choice(donors))
                n += 1
            paragraphs.append(" ".join(sentences))
        words = sum(len(p.split()) for p in paragraphs)
        text = _edit_words("\n\n".join(paragraphs), rng, self.corpus.vocab, max(1, int(VARIANT_EDIT_RATE * words)))
        title = _edit_words(base.title, rng, self.corpus.vocab, max(1, len(base.title.split()) // 3))
        if base.html:
            text = "\n".join(f"<p>{_escape(p)}</p>" for p in text.split("\n\n"))
        return title, text

    # ----------------------------------------------------------------------------------------- copies

    def _copy(self, item_id: str, when: datetime) -> Item:
        rng = self.rng
        story = rng.choice(self._recent)
        body = story.body
        if rng.random() < 0.5:
            body = _trim_last_paragraph(body, story.html)
        edits = story.words // COPY_WORDS_PER_EDIT
        if edits:
            body = (
                _edit_html_words(body, rng, self.corpus.vocab, edits)
                if story.html
                else _edit_words(body, rng, self.corpus.vocab, edits)
            )
        outlet = rng.choice([o for o in _OUTLETS if o != story.source])
        body = self._add_junk(body, story.html, outlet)
        title = rng.choice((str.upper, str.lower, str.title, _sentence_case))(story.title)
        published = max(when, story.when + timedelta(minutes=rng.randint(1, 180)))
        value = {"id": item_id, "source": outlet, "url": f"https://{outlet}/{_slug(title)}-{item_id}?utm_source=feed&utm_medium=rss",
                 "title": title, "body": body, "published_at": _iso(published), "language": "en"}  # fmt: skip
        return Item(_key(value), orjson.dumps(value), "copy", _key({"id": story.id, "source": story.source}))

    def _add_junk(self, body: str, html: bool, outlet: str) -> str:
        rng = self.rng
        lines = body.split("\n")
        for _ in range(rng.randint(1, 3)):
            other = rng.choice(self._recent).title
            junk = rng.choice(_JUNK).format(title=other, outlet=outlet)
            junk = f"<p>{_escape(junk)}</p>" if html and not junk.startswith("[") else junk
            lines.insert(rng.randint(0, len(lines)), junk if html else f"\n{junk}\n")
        lines.append("<p>Source link</p>" if html else "\nSource link")
        return "\n".join(lines)

    # ----------------------------------------------------------------------------------------- hostile

    def _hostile(self, item_id: str, when: datetime) -> Item:
        rng, spec = self.rng, self.spec
        kind = rng.choices(KINDS_HOSTILE, weights=(4, 3, 1, 4, 2))[0]
        base = self.corpus.bases[rng.randrange(len(self.corpus.bases))]
        value: dict[str, object] = {"id": item_id, "source": base.source, "title": base.title, "body": base.body,
                                    "published_at": _iso(when), "language": "en"}  # fmt: skip
        if kind == "bad_json":
            line = orjson.dumps(value)
            return Item(item_id, line[: rng.randint(1, max(1, len(line) - 2))], kind)
        if kind == "missing_body":
            del value["body"]
        elif kind == "huge":
            chunk = base.body + "\n\n"
            value["body"] = chunk * (spec.huge_bytes // len(chunk) + 1)
        elif kind == "control_chars":
            words = base.body.split(" ")
            for _ in range(max(1, len(words) // 50)):
                words.insert(rng.randrange(len(words) + 1), rng.choice(_CONTROL))
            value["body"] = " ".join(words)
            value["title"] = rng.choice(_CONTROL) + base.title
        else:  # invalid_utf8: a byte no UTF-8 text holds, inside the body
            line = orjson.dumps(value)
            cut = line.index(b'"body":"') + 9
            return Item(item_id, line[:cut] + b"\xff\xfe" + line[cut:], kind)
        return Item(_key(value), orjson.dumps(value), kind)


def _edit_words(text: str, rng: random.Random, vocab: list[str], count: int) -> str:
    """Replace ``count`` alphabetic words (chosen at random) with words of the corpora, keeping capitals."""
    words = text.split(" ")
    if not words:
        return text
    for _ in range(count):
        i = rng.randrange(len(words))
        word = words[i]
        if word.isalpha():
            new = rng.choice(vocab)
            words[i] = new.capitalize() if word[0].isupper() else new.lower()
    return " ".join(words)


def _edit_html_words(html: str, rng: random.Random, vocab: list[str], count: int) -> str:
    """``_edit_words`` on the text between tags only."""
    parts = _TAG.split(html)
    texts = [i for i in range(0, len(parts), 2) if len(parts[i]) > 40]
    for _ in range(count if texts else 0):
        i = rng.choice(texts)
        parts[i] = _edit_words(parts[i], rng, vocab, 1)
    return "".join(parts)


def _trim_last_paragraph(body: str, html: bool) -> str:
    """The body without its last paragraph, if at least 60% of it is left (else unchanged)."""
    if html:
        cuts = [m.end() for m in _HTML_PARAGRAPH_END.finditer(body)][:-1]  # after the last-but-one paragraph
    else:
        cuts = [m.start() for m in _PARAGRAPH.finditer(body.rstrip())]  # before the last paragraph
    if len(cuts) < 2:
        return body
    return body[: cuts[-1]] if cuts[-1] >= 0.6 * len(body) else body


def _sentence_case(title: str) -> str:
    return title[:1].upper() + title[1:].lower()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slug(title: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", title.lower())[:8]) or "story"


def _host(source: str) -> str:
    return source if "." in source else f"{_slug(source)}.example"


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def generate(spec: Spec, corpus: Corpus | None = None) -> Iterator[Item]:
    """The stream ``spec`` describes, item by item."""
    return iter(Generator(spec, corpus))


def payloads(spec: Spec, corpus: Corpus | None = None) -> list[tuple[bytes, bytes]]:
    """The stream as (Kafka key, value) pairs, for the benchmarks."""
    return [(item.key.encode(), item.line) for item in generate(spec, corpus)]


# --------------------------------------------------------------------------------------------- CLI


def check(spec: Spec) -> dict[str, object]:
    """Generate ``spec``'s stream, run ``newsfeed process`` over it, compare what it decided with what was meant."""
    meant: dict[str, Item] = {}
    replays = 0
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as handle:
        path = Path(handle.name)
        for item in generate(spec):
            handle.write(item.line.replace(b"\n", b" ") + b"\n")
            meant.setdefault(item.key, item)
            replays += item.kind == "replay"
    try:
        decided: dict[str, tuple[str, str | None]] = {}
        reasons: Counter[str] = Counter()
        for message in _process([path]):
            topic = str(message["topic"]).rsplit(".", 1)[-1]
            value = message.get("value") or {}
            assert isinstance(value, dict)
            key = str(message.get("key") or value.get("id") or "")
            if topic == "deadletter":
                reasons[str(value.get("reason"))] += 1
            if topic in {"search", "duplicates", "deadletter"} and key and key not in decided:
                decided[key] = (topic, value.get("duplicate_of_key"))
    finally:
        path.unlink()
    kinds = Counter(item.kind for item in meant.values())
    hostile: dict[str, Counter[str]] = {}
    for item in meant.values():
        if item.kind in KINDS_HOSTILE:
            hostile.setdefault(item.kind, Counter())[
                decided.get(item.key, ("no key (dead letter of an unreadable line)", None))[0]
            ] += 1
    stories = [item for item in meant.values() if item.kind in {"new", "copy"}]
    judged = Counter((item.kind, decided.get(item.key, ("missing", None))[0]) for item in stories)
    wrong_root = sum(1 for item in stories if item.kind == "copy" and decided.get(item.key, ("", None))[1] not in {item.of, None}
                     and decided.get(item.key, ("", None))[1] != decided.get(item.of or "", ("", None))[1])  # fmt: skip
    copies_meant = kinds["copy"] / max(1, len(stories))
    copies_found = sum(n for (_, topic), n in judged.items() if topic == "duplicates") / max(1, len(stories))
    return {
        "items": spec.items, "seed": spec.seed, "distinct_ids": len(meant), "kinds": dict(kinds),
        "new_share_of_items": round(kinds["new"] / spec.items, 4),
        "duplicate_share_meant": round(copies_meant, 4), "duplicate_share_measured": round(copies_found, 4),
        "new_judged_copy": judged[("new", "duplicates")], "copy_judged_new": judged[("copy", "search")],
        "copy_pointing_elsewhere": wrong_root, "stories_dead_lettered": judged[("new", "deadletter")] + judged[("copy", "deadletter")],
        "deadletter_reasons": dict(reasons), "hostile_routed": {k: dict(v) for k, v in sorted(hostile.items())},
        "replays": replays,
    }  # fmt: skip


def _spec(args: argparse.Namespace) -> Spec:
    return Spec(items=args.items, seed=args.seed, copy_share=args.copy_share, hostile_share=args.hostile_share,
                replay_share=args.replay_share, data_dir=Path(args.data))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("mode", choices=["generate", "check"])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--copy-share", type=float, default=0.25)
    parser.add_argument("--hostile-share", type=float, default=0.0)
    parser.add_argument("--replay-share", type=float, default=0.0)
    parser.add_argument("--data", default=str(DATA_DIR), help="the dev corpora's directory")
    parser.add_argument("--out", default="-", help="where the JSON lines go (generate)")
    parser.add_argument("--truth", default=None, help="also write {key, kind, of} per line here (generate)")
    args = parser.parse_args()
    spec = _spec(args)
    if args.mode == "check":
        sys.stdout.write(orjson.dumps(check(spec), option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    with contextlib.ExitStack() as stack:
        out = sys.stdout.buffer if args.out == "-" else stack.enter_context(Path(args.out).open("wb"))
        truth = stack.enter_context(Path(args.truth).open("wb")) if args.truth else None
        for item in generate(spec):
            out.write(item.line.replace(b"\n", b" ") + b"\n")
            if truth is not None:
                truth.write(orjson.dumps({"key": item.key, "kind": item.kind, "of": item.of}) + b"\n")


if __name__ == "__main__":
    main()
