"""Dateline and agency-credit parsing.

Datelines are only *read*: the body keeps the story's first sentence as written. Forms:

- ``BEIJING, June 19 (AP) —`` (AP)
- ``WASHINGTON (Reuters) -``, ``PARIS (AFP) -`` (Reuters, AFP)
- ``NEW YORK, April 1 -`` and ``UNION, N.J., March 12 -`` (Reuters, 1987)
- ``BEIRUT —`` and ``BEIJING --`` (place and dash only)
"""

from __future__ import annotations

import re
from typing import Final

from pipeline.records import Dateline

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
# Upper-case place words ("NEW YORK", "ST. LOUIS", "SACRAMENTO, Calif.", "UNION, N.J.").
_PLACE = (
    r"(?P<place>[A-Z][A-Z.'\-]{1,30}(?: [A-Z][A-Z.'\-]{0,30}){0,3}"
    r"(?:, [A-Z][A-Za-z.]{0,14}(?: [A-Z][A-Za-z.]{0,14})?)?)"
)
_DATE = rf"(?P<date>{_MONTH}\.? \d{{1,2}}(?:, \d{{4}})?)"
_AGENCY = r"\((?P<agency>[A-Za-z][A-Za-z.&\- ]{0,30}?)\)"
_DASH = r"(?:--|[-–—])"
_DATELINE = re.compile(
    rf"{_PLACE}(?:,? {_DATE})?(?: ?{_AGENCY})?(?P<dash> ?{_DASH}) ?(?=\S)"
)
_SCAN_CHARS: Final = 160

_AGENCIES = (
    r"Associated Press|AP|Reuters|Reuter|AFP|Agence France-Presse|Xinhua|UPI|IANS|PTI|ANI"
    r"|dpa|DPA|Bloomberg|Kyodo|Yonhap|EFE|ANSA|TASS|Tass|AAP|CNN|BBC|NYT|WP"
    r"|[A-Z][\w.&'\-]{0,20}(?: [A-Z][\w.&'\-]{0,20}){0,4} (?:Press|News|Newswire|Wire|Agency"
    r"|News Service|News Agency)"
)
_TRAILING_CREDIT = re.compile(rf" ?\((?P<credit>{_AGENCIES})\)$")
_SIGN_OFF = re.compile(rf"(?:[-–—]+ ?)?(?P<credit>{_AGENCIES}|REUTER|REUTERS)")


def parse_dateline(paragraph: str) -> Dateline | None:
    """Read the dateline that opens a paragraph, if it has one.

    A bare upper-case word followed by a dash is only taken as a place when it is at
    least two letters long, so "A - B" lists and the like are not datelines.
    """
    match = _DATELINE.match(paragraph[:_SCAN_CHARS])
    if match is None:
        return None
    place = match.group("place").rstrip(",")
    if sum(ch.isupper() for ch in place) < 2:
        return None
    text = match.group(0).rstrip()
    return Dateline(text=text, place=place, date=match.group("date"), agency=match.group("agency"))


def split_trailing_credit(paragraph: str) -> tuple[str, str] | None:
    """Split ``... the US. (Associated Press)`` into the paragraph and the agency credit.

    Returns:
        ``(paragraph without the parenthetical, credit)`` or None when there is none.
    """
    if not paragraph.endswith(")"):
        return None
    match = _TRAILING_CREDIT.search(paragraph[-80:])
    if match is None:
        return None
    cut = len(paragraph) - (len(paragraph[-80:]) - match.start())
    return paragraph[:cut].rstrip(), match.group("credit")


def sign_off(paragraph: str) -> str | None:
    """Return the agency when a whole paragraph is only a sign-off such as ``REUTER``."""
    if len(paragraph) > 60:
        return None
    match = _SIGN_OFF.fullmatch(paragraph)
    return match.group("credit") if match else None
