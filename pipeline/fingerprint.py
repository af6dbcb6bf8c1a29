"""Content fingerprints: an exact hash of the normalised text and a MinHash of its word shingles.

Normalisation casefolds, deletes punctuation (``U.S.`` becomes ``us``, ``1,000`` becomes ``1000``)
and folds whitespace, so copies that differ only in case, quotes or line breaks hash the same.
The MinHash covers the set of word 3-shingles of the normalised text; its size is kept so the
dedupe index can turn an estimated Jaccard similarity into an estimated containment.

The signature comes from ``rensa`` (a Rust MinHash); ``to_bytes`` records the scheme, so a
signature made under another scheme or parameters is refused rather than compared.
"""

from __future__ import annotations

import re
import struct
from array import array
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import rensa
import xxhash

NUM_PERM: Final = 128
"""MinHash permutations: 128 gives a Jaccard standard error of about 0.044 at J = 0.5."""
SHINGLE: Final = 3
"""Words per shingle: 3 keeps templated wire items apart while an edited word breaks only 3 shingles."""
SEED: Final = 1987
"""The MinHash seed; part of the serialised scheme, never change it for a live index."""

_SCHEME: Final = 1
_HEADER = struct.Struct("<BBHI16s")  # scheme, shingle, num_perm, size, exact digest
_PUNCT = re.compile(r"[^\w\s]+")
# The ASCII characters ``_PUNCT`` deletes, as bytes.
_ASCII_PUNCT = bytes(c for c in range(128) if _PUNCT.match(chr(c)))


# The punctuation outside ASCII that news text holds most (curly quotes, dashes, ellipsis): deleted by str.replace.
_COMMON_MARKS = "\u2019\u201c\u201d\u2014\u2018\u2026\u2013"


def _words(text: str) -> list[str]:
    """The words of the normalised text: casefolded, punctuation deleted, split on whitespace."""
    folded = text.casefold()
    if not folded.isascii():
        for mark in _COMMON_MARKS:
            if mark in folded:
                folded = folded.replace(mark, "")
    # UTF-8 writes ASCII as itself and never uses an ASCII byte inside another character, so deleting these bytes
    # deletes exactly the ASCII punctuation, at C speed (the regex takes ten times as long).
    data = folded.encode("utf-8", "surrogatepass").translate(None, _ASCII_PUNCT)
    words = data.decode("utf-8", "surrogatepass").split()
    if data.isascii() or all(map(str.isalnum, words)):
        return words
    # Punctuation outside ASCII (curly quotes, dashes) is left: the regex takes it out of the words holding it.
    return [word for word in (w if w.isalnum() else _PUNCT.sub("", w) for w in words) if word]


def normalise(text: str) -> str:
    """Casefold, delete punctuation and fold whitespace to single spaces."""
    return " ".join(_words(text))


@dataclass(frozen=True, slots=True, eq=False)
class Fingerprint:
    """The content fingerprint of one text."""

    exact: str
    """Hex xxh3_128 of the normalised text; equal for copies that differ only in case, punctuation, spacing."""
    signature: npt.NDArray[np.uint32]
    """MinHash of the word-shingle set, ``NUM_PERM`` values (all ``0xFFFFFFFF`` for an empty text)."""
    size: int
    """Distinct shingles in the text: 0 for an empty text, 1 for a text shorter than a shingle."""

    def to_bytes(self) -> bytes:
        """Serialise to a compact, versioned byte string (24 bytes of header + 4 per permutation)."""
        header = _HEADER.pack(_SCHEME, SHINGLE, len(self.signature), self.size, bytes.fromhex(self.exact))
        return header + self.signature.astype("<u4", copy=False).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """Rebuild a fingerprint from ``to_bytes`` output.

        Raises:
            ValueError: if the bytes are truncated or were made by another scheme.
        """
        if len(data) < _HEADER.size:
            raise ValueError("fingerprint bytes truncated")
        scheme, shingle, num_perm, size, digest = _HEADER.unpack_from(data)
        if scheme != _SCHEME or shingle != SHINGLE:
            raise ValueError(f"fingerprint scheme {scheme}/{shingle} is not {_SCHEME}/{SHINGLE}")
        body = data[_HEADER.size :]
        if len(body) != 4 * num_perm:
            raise ValueError("fingerprint signature length does not match its header")
        signature = np.frombuffer(body, dtype="<u4").astype(np.uint32)
        return cls(exact=digest.hex(), signature=signature, size=size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return self.exact == other.exact and self.size == other.size and np.array_equal(self.signature, other.signature)

    def __hash__(self) -> int:
        return hash((self.exact, self.size))


def fingerprint(text: str) -> Fingerprint:
    """Fingerprint a text (normally the cleaned body).

    Args:
        text: the text; HTML and junk lines should already be gone.

    Returns:
        The exact hash of the normalised text, the MinHash of its word 3-shingles and the shingle count.
    """
    words = _words(text)
    exact = xxhash.xxh3_128_hexdigest(" ".join(words).encode("utf-8"))
    if len(words) >= SHINGLE:
        shingles = list(map(" ".join, zip(*(words[i:] for i in range(SHINGLE)), strict=False)))
    elif words:
        shingles = [" ".join(words)]
    else:
        return Fingerprint(exact=exact, signature=np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32), size=0)
    minhash = rensa.RMinHash(NUM_PERM, SEED)
    minhash.update(shingles)
    return Fingerprint(exact=exact, signature=_uint32s(minhash.digest()), size=len(set(shingles)))


def _uint32s(values: list[int]) -> npt.NDArray[np.uint32]:
    """The digest as a read-only array: through ``array`` it takes a third of the time ``np.array`` does."""
    if _ARRAY_U32:
        return np.frombuffer(array("I", values), dtype=np.uint32)
    return np.array(values, dtype=np.uint32)


_ARRAY_U32: Final = array("I").itemsize == 4
