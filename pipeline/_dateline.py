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
_DATE = rf"(?P<date>(?i:{_MONTH})\.? \d{{1,2}}(?:, \d{{4}})?)"
_AGENCY = r"\((?P<agency>[A-Za-z][A-Za-z.&\- ]{0,30}?)\)"
_DASH = r"(?:--|[-–—])"
_DATELINE = re.compile(rf"{_PLACE}(?:,? {_DATE})?(?: ?{_AGENCY})?(?P<dash> ?{_DASH} (?=\S)| ?[–—](?=[A-Z\"“]))")
# Title-case places are taken only with a date: "Toronto, March 30 -".
_TITLE_PLACE_DATELINE = re.compile(
    rf"(?P<place>[A-Z][a-z]{{2,20}}(?: [A-Z][a-z]{{1,20}}){{0,2}}(?:, [A-Z][A-Za-z.]{{1,14}})?)"
    rf", {_DATE}(?: ?{_AGENCY})? ?{_DASH} (?=\S)"
)
# Web copies of Reuters stories lose the dash: "ATHENS The number of refugees ...".
_BARE_PLACE = re.compile(
    r"(?P<place>[A-Z][A-Z'/\-]{2,30}(?: [A-Z][A-Z'/\-]{1,30}){0,2}"
    r"(?:, [A-Z][A-Za-z]{0,6}\.(?:[A-Z]\.)?)?) (?=[A-Z][a-z]|A )"
)
_NOT_PLACES: Final = frozenset(
    [
        "FILE",
        "PHOTO",
        "PHOTOS",
        "UPDATE",
        "UPDATED",
        "EXCLUSIVE",
        "BREAKING",
        "WATCH",
        "VIDEO",
        "LISTEN",
        "CORRECTION",
        "CORRECTED",
        "ANALYSIS",
        "OPINION",
        "EDITORIAL",
        "COMMENTARY",
        "NOTE",
        "LIVE",
        "FACTBOX",
        "WRAPUP",
        "REFILE",
        "RPT",
        "INSIGHT",
        "ADVISORY",
        "URGENT",
        "FLASH",
        "GRAPHIC",
        "REVIEW",
        "INTERVIEW",
        "SPOILER",
        "WARNING",
        "EDITOR",
        "CLOSE",
        "SHARE",
        "MORE",
        "READ",
        "ALSO",
    ]
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
    head = paragraph[:_SCAN_CHARS]
    match = _DATELINE.match(head) or _TITLE_PLACE_DATELINE.match(head)
    if match is not None:
        place = match.group("place")
        if match.re is _TITLE_PLACE_DATELINE or _plausible_place(place):
            return Dateline(
                text=match.group(0).rstrip(),
                place=place,
                date=match.group("date"),
                agency=match.group("agency"),
            )
        return None
    bare = _BARE_PLACE.match(head)
    if bare is not None and _plausible_place(bare.group("place")):
        return Dateline(text=bare.group("place"), place=bare.group("place"))
    return None


def _plausible_place(place: str) -> bool:
    first = place.split(",", 1)[0].split(" ", 1)[0]
    return sum(ch.isupper() for ch in place) >= 2 and first not in _NOT_PLACES


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
