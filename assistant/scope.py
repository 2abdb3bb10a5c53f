"""What a question may draw on: chosen documents or folders, years, file types.

The parts combine with AND, the values within a part with OR; an empty part does not restrict.
A year only matches documents that state a date (``ingest.metadata``): "where known".
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from ingest.loaders import DOC_TYPES
from values.document import DocumentRecord
from values.errors import QuestionError


class ScopeError(QuestionError):
    """No indexed document is in the chosen scope."""


@dataclass(frozen=True)
class Scope:
    """A restriction of the documents a question is answered from."""

    paths: tuple[str, ...] = ()  # document sources, or folders (every document under them)
    years: tuple[int, ...] = ()
    types: tuple[str, ...] = ()

    @classmethod
    def of(cls, paths: Iterable[str] = (), years: Iterable[int | str] = (),
           types: Iterable[str] = ()) -> Scope:
        """A scope from loose values; raise ScopeError naming a year or type that is none."""
        parsed: list[int] = []
        for year in years:
            text = str(year).strip()
            if not (text.isdigit() and len(text) == 4):
                raise ScopeError(f"year {text!r} is not a year: use four digits, e.g. 2017")
            parsed.append(int(text))
        kinds = sorted({t.strip().lstrip(".").lower() for t in types if t.strip()})
        unknown = [k for k in kinds if k not in DOC_TYPES]
        if unknown:
            raise ScopeError(f"type {unknown[0]!r} is not a document type: use {', '.join(DOC_TYPES)}")
        return cls(tuple(dict.fromkeys(paths)), tuple(sorted(set(parsed))), tuple(kinds))

    def __bool__(self) -> bool:
        return bool(self.paths or self.years or self.types)

    def matches(self, record: DocumentRecord) -> bool:
        """True when ``record`` is in scope."""
        if self.types and record.doc_type not in self.types:
            return False
        if self.years and record.year not in self.years:
            return False
        if self.paths and not _within(record.source, self._wanted_paths):
            return False
        return True

    @cached_property
    def _wanted_paths(self) -> frozenset[str]:
        return frozenset(path.rstrip("/" + os.sep) or "/" for path in self.paths)

    def select(self, documents: Mapping[str, DocumentRecord]) -> list[str] | None:
        """The sources in scope, in path order; None when that is every document (search all).

        Raise ScopeError when none is: an answer from outside the chosen scope would look right
        and be wrong.
        """
        if not self:
            return None
        chosen = sorted(s for s, record in documents.items() if self.matches(record))
        if not chosen:
            raise ScopeError(f"no indexed document is in the chosen scope ({self.describe()})")
        return None if len(chosen) == len(documents) else chosen

    def to_json(self) -> dict[str, list[object]]:
        """The ``scope`` of the ``ask --json`` object."""
        return {"paths": list(self.paths), "years": list(self.years), "types": list(self.types)}

    def describe(self) -> str:
        """The scope in words, for messages."""
        parts = []
        if self.paths:
            parts.append("documents/folders " + ", ".join(self.paths))
        if self.years:
            parts.append("years " + ", ".join(map(str, self.years)))
        if self.types:
            parts.append("types " + ", ".join(self.types))
        return "; ".join(parts) or "everything"


class ScopeIndex:
    """The indexed documents arranged to resolve a scope without walking them all: build once per catalog version.

    ``Scope.select`` over the documents tests every one (about 200 ms a question for a folder at
    100k documents, benchmarks/README.md); here a folder is a range of the sorted sources, a year
    or a type a list, and only those candidates are tested for the scope's other parts.
    """

    def __init__(self, documents: Mapping[str, DocumentRecord]) -> None:
        self.documents = documents
        self._sources = sorted(documents)
        self._by_year: dict[int, list[str]] = {}
        self._by_type: dict[str, list[str]] = {}
        for source in self._sources:
            record = documents[source]
            if record.year is not None:
                self._by_year.setdefault(record.year, []).append(source)
            self._by_type.setdefault(record.doc_type, []).append(source)

    def _under(self, path: str) -> list[str]:
        """The sources that are ``path`` or lie in a folder it names (what ``_within`` accepts)."""
        found = [path] if path in self.documents else []
        for sep in dict.fromkeys(("/", os.sep)):
            prefix = path if path.endswith(sep) else path + sep  # the root "/" is its own prefix
            end = prefix[:-1] + chr(ord(sep) + 1)  # the first string past every one starting with ``prefix``
            found += self._sources[bisect_left(self._sources, prefix):bisect_left(self._sources, end)]
        return found

    def select(self, scope: Scope) -> list[str] | None:
        """What ``scope.select(documents)`` returns (the same sources, order and ScopeError), from the index."""
        if not scope:
            return None
        if scope.paths:
            chosen = sorted({s for path in scope._wanted_paths for s in self._under(path)})
            if scope.years:
                years = set(scope.years)
                chosen = [s for s in chosen if self.documents[s].year in years]
        elif scope.years:
            chosen = sorted(s for year in scope.years for s in self._by_year.get(year, ()))
        else:
            chosen = sorted(s for kind in scope.types for s in self._by_type.get(kind, ()))
        if scope.types and (scope.paths or scope.years):
            chosen = [s for s in chosen if self.documents[s].doc_type in scope.types]
        if not chosen:
            raise ScopeError(f"no indexed document is in the chosen scope ({scope.describe()})")
        return None if len(chosen) == len(self.documents) else chosen


def _within(source: str, paths: frozenset[str]) -> bool:
    """``source`` is one of ``paths`` or lies in a folder among them (a set lookup per parent)."""
    if source in paths:
        return True
    at = len(source)
    while (at := max(source.rfind("/", 0, at), source.rfind(os.sep, 0, at))) > 0:
        if source[:at] in paths:
            return True
    return at == 0 and "/" in paths


def years_and_types(documents: Iterable[DocumentRecord]) -> tuple[list[int], list[str]]:
    """The years (newest first) and file types the indexed documents have: the scope's choices."""
    records = list(documents)
    years = sorted({r.year for r in records if r.year is not None}, reverse=True)
    return years, sorted({r.doc_type for r in records})
