"""A document's date, where the document states one: what scoping a question by year rests on.

The date the text itself gives in its header ("Datum indiening: 2017-01-04", "Date: 4 May 2021",
front matter ``date:``) wins over what the file format records (PDF CreationDate, DOCX created,
HTML ``<meta name="date">``): the first is the author's, the second often the converter's. No date
found means none, never the file's mtime: scoping by year must not silently include a document
because it was copied that year.
"""

from __future__ import annotations

import re
from datetime import date, datetime

RULES_VERSION = 1  # bump when the rules change: the next ingest reads every document's date again
_HEADER_CHARS = 3000
_LABEL_WORDS = ("datum", "date", "dated", "gedateerd", "published", "gepubliceerd", "publicatiedatum",
                "publication", "issued", "jaar", "year")
_LABELLED = re.compile(
    r"^[ \t>*#-]*(?P<label>[^\n:]{0,40}?)[ \t]*[:=][ \t]*(?P<value>[^\n]{4,80})$", re.M)
_MONTHS = {
    # Dutch, English, French, German; the first three letters are enough for most
    "jan": 1, "januari": 1, "january": 1, "janvier": 1, "januar": 1,
    "feb": 2, "februari": 2, "february": 2, "fevrier": 2, "février": 2, "februar": 2,
    "mrt": 3, "mar": 3, "maart": 3, "march": 3, "mars": 3, "märz": 3, "maerz": 3,
    "apr": 4, "april": 4, "avril": 4,
    "mei": 5, "may": 5, "mai": 5,
    "jun": 6, "juni": 6, "june": 6, "juin": 6,
    "jul": 7, "juli": 7, "july": 7, "juillet": 7,
    "aug": 8, "augustus": 8, "august": 8, "août": 8, "aout": 8,
    "sep": 9, "sept": 9, "september": 9, "septembre": 9,
    "okt": 10, "oct": 10, "oktober": 10, "october": 10, "octobre": 10,
    "nov": 11, "november": 11, "novembre": 11,
    "dec": 12, "dez": 12, "december": 12, "décembre": 12, "decembre": 12, "dezember": 12,
}
_MONTH = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_YEAR = r"(?P<y>1[5-9]\d\d|2[01]\d\d)"
_PATTERNS = (
    re.compile(rf"(?<!\d){_YEAR}-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}})(?!\d)"),            # 2017-01-04(T…)
    re.compile(rf"\b(?P<d>\d{{1,2}})[-./](?P<m>\d{{1,2}})[-./]{_YEAR}\b"),            # 04-01-2017
    re.compile(rf"\b(?P<d>\d{{1,2}})\.?\s+(?P<mn>{_MONTH})\.?\s+{_YEAR}\b", re.I),      # 4 januari 2017
    re.compile(rf"\b(?P<mn>{_MONTH})\.?\s+(?P<d>\d{{1,2}}),?\s+{_YEAR}\b", re.I),       # May 4, 2021
    re.compile(rf"\b(?P<mn>{_MONTH})\.?\s+{_YEAR}\b", re.I),                             # mei 2017
    re.compile(rf"^\s*{_YEAR}-(?P<m>\d{{1,2}})\s*$"),                                   # 2017-05
    re.compile(rf"^\s*{_YEAR}\s*$"),                                                    # 2017
)


def parse_date(value: str) -> str | None:
    """An ISO date ("2017-01-04"), month ("2017-05") or year ("2017") read from ``value``, or None.

    Numeric day/month orders are read day first, as written in Dutch, French and German; the year,
    which scoping uses, is the same either way.
    """
    for pattern in _PATTERNS:
        match = pattern.search(value)
        if match is None:
            continue
        parts = match.groupdict()
        year = int(parts["y"])
        month = _MONTHS[parts["mn"].casefold()] if parts.get("mn") else int(parts.get("m") or 0)
        day = int(parts.get("d") or 0)
        if not month:
            return f"{year:04d}"
        if not 1 <= month <= 12:
            continue
        if not day:
            return f"{year:04d}-{month:02d}"
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            continue
    return None


def text_date(text: str) -> str | None:
    """The date a labelled line in the document's header gives ("Datum: …", "Date: …"), or None."""
    for match in _LABELLED.finditer(text[:_HEADER_CHARS]):
        label = match["label"].casefold()
        if any(re.search(rf"\b{word}\b", label) for word in _LABEL_WORDS):
            found = parse_date(match["value"])
            if found:
                return found
    return None


def declared_date(value: object) -> str | None:
    """A format's own date field (a datetime, or a string such as PDF's "D:20170104…"), as ISO."""
    if isinstance(value, datetime | date):
        return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, str):
        raw = value.strip()
        pdf = re.match(r"^D:(\d{4})(\d{2})?(\d{2})?", raw)
        if pdf:
            raw = "-".join(part for part in pdf.groups() if part)
        return parse_date(raw)
    return None
