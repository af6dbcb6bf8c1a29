"""Fingerprints: normalisation, the exact hash, the MinHash signature and the byte round trip."""

from __future__ import annotations

import re

import numpy as np
import pytest
import rensa
import xxhash
from hypothesis import given
from hypothesis import strategies as st

from pipeline.fingerprint import NUM_PERM, Fingerprint, fingerprint, normalise

STORY = (
    "Harbour officials in the northern port said on Tuesday that a cargo ship carrying fertiliser "
    "ran aground near the breakwater after its engine failed in heavy seas. No crew were hurt, "
    "the port authority said, and salvage teams expected to refloat the vessel at high tide."
)


def _jaccard(a: Fingerprint, b: Fingerprint) -> float:
    return float(np.mean(a.signature == b.signature))


def test_normalise_casefolds_strips_punctuation_and_folds_whitespace() -> None:
    assert normalise("  The U.S. Fed's   RATE\n\ncut, 1,000 bps!  ") == "the us feds rate cut 1000 bps"


def test_exact_is_xxh3_128_of_the_normalised_text() -> None:
    fp = fingerprint(STORY)
    assert fp.exact == xxhash.xxh3_128_hexdigest(normalise(STORY).encode())
    assert len(fp.exact) == 32


def test_case_punctuation_and_spacing_do_not_change_the_fingerprint() -> None:
    variant = STORY.upper().replace(",", "").replace(" ", "  \n")
    assert fingerprint(variant) == fingerprint(STORY)


def test_signature_shape_and_size() -> None:
    fp = fingerprint(STORY)
    words = normalise(STORY).split()
    assert fp.signature.dtype == np.uint32
    assert fp.signature.shape == (NUM_PERM,)
    assert fp.size == len({tuple(words[i : i + 3]) for i in range(len(words) - 2)})


def test_signature_is_deterministic() -> None:
    assert np.array_equal(fingerprint(STORY).signature, fingerprint(STORY).signature)


def test_jaccard_estimate_tracks_the_shared_fraction() -> None:
    words = STORY.split()
    half = fingerprint(" ".join(words[: len(words) // 2]))
    full = fingerprint(STORY)
    assert 0.25 < _jaccard(half, full) < 0.75
    other = fingerprint("Quarterly results from the software maker beat forecasts as cloud revenue rose sharply.")
    assert _jaccard(other, full) < 0.1


def test_empty_and_short_texts() -> None:
    empty = fingerprint("  ... ")
    assert empty.size == 0
    assert np.all(empty.signature == 0xFFFFFFFF)
    assert fingerprint("Hello world").size == 1


@pytest.mark.parametrize("text", [STORY, "", "two words"])
def test_bytes_round_trip(text: str) -> None:
    fp = fingerprint(text)
    data = fp.to_bytes()
    assert len(data) == 24 + 4 * NUM_PERM
    assert Fingerprint.from_bytes(data) == fp


def test_from_bytes_refuses_damaged_input() -> None:
    data = fingerprint(STORY).to_bytes()
    with pytest.raises(ValueError, match="truncated"):
        Fingerprint.from_bytes(data[:10])
    with pytest.raises(ValueError, match="length"):
        Fingerprint.from_bytes(data[:-4])
    with pytest.raises(ValueError, match="scheme"):
        Fingerprint.from_bytes(b"\x09" + data[1:])


_PIECES = st.lists(
    st.sampled_from(
        [
            "a",
            "B",
            "1",
            "_",
            ".",
            ",",
            "'",
            " ",
            "\n",
            "\x1c",
            "\u00a0",
            "\u00e9",
            "\u00df",
            "\u0130",
            "\u2019",
            "\u201c",
            "\u2014",
            "\u00bd",
            "\ud800",
            "\u3000",
            "\U0001f600",
        ]
    )
)


@given(pieces=_PIECES)
def test_normalise_is_the_regex_definition(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert normalise(text) == " ".join(re.sub(r"[^\w\s]+", "", text.casefold()).split())


def test_signature_is_rensa_minhash_of_the_word_3_shingles() -> None:
    words = normalise(STORY).split()
    shingles = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    minhash = rensa.RMinHash(NUM_PERM, 1987)
    minhash.update(shingles)
    fp = fingerprint(STORY)
    assert fp.signature.tolist() == minhash.digest()
    assert fp.size == len(set(shingles))
