"""The documents tab's pure functions (no Gradio): filter, sort and page the documents; the table; scope choices.

``ui.documents`` holds the tab's callbacks, which hand the assistant's documents to these.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

from ui.format import click_target, esc
from ui.i18n import t
from values.document import DocumentRecord

SCOPE_CHOICES = 1000  # beyond this many documents the picker lists folders; documents come from the table
UNDATED = "-"  # the year filter's value for documents that state no date
SORT_KEYS = ("title", "source", "doc_type", "date", "passages", "ingested_at")
PER_PAGE = 25


@dataclass(frozen=True)
class DocQuery:
    """What the documents table shows: a search, type and year filters, a sort order and a page."""

    search: str = ""
    doc_type: str = ""
    year: str = ""  # "" any, "2017", or UNDATED
    sort: str = "title"
    descending: bool = False
    page: int = 1
    per_page: int = PER_PAGE


@dataclass(frozen=True)
class DocPage:
    """One page of matching documents, with the total and the page count."""

    rows: list[DocumentRecord]
    total: int
    page: int
    pages: int


def _sort_key(sort: str):  # type: ignore[no-untyped-def]
    if sort == "title":
        return lambda r: (r.title.casefold(), r.source)
    if sort in ("passages", "ingested_at"):
        return lambda r: (getattr(r, sort), r.source)
    if sort == "date":  # undated documents sort before the oldest date
        return lambda r: (r.date or "", r.source)
    return lambda r: (str(getattr(r, sort)).casefold(), r.source)


def select_documents(records: Iterable[DocumentRecord], query: DocQuery) -> DocPage:
    """The page of ``records`` matching every word of the search (in title or path) and the type."""
    if query.sort not in SORT_KEYS:
        raise ValueError(f"unknown sort key {query.sort!r}: use one of {', '.join(SORT_KEYS)}")
    words = query.search.casefold().split()
    matches = [r for r in records
               if (not query.doc_type or r.doc_type == query.doc_type) and _in_year(r, query.year)
               and all(w in r.title.casefold() or w in r.source.casefold() for w in words)]
    matches.sort(key=_sort_key(query.sort), reverse=query.descending)
    pages = max(1, math.ceil(len(matches) / query.per_page))
    page = min(max(1, query.page), pages)
    at = (page - 1) * query.per_page
    return DocPage(matches[at:at + query.per_page], len(matches), page, pages)


def _in_year(record: DocumentRecord, year: str) -> bool:
    if not year:
        return True
    return record.year is None if year == UNDATED else str(record.year) == year


def scope_year_choices(years: Iterable[int]) -> list[tuple[str, str]]:
    """The scope's year picker: each year present, newest first."""
    return [(str(y), str(y)) for y in years]


def year_choices(years: Iterable[int], language: str) -> list[tuple[str, str]]:
    """The documents table's year filter: any year, each year present (newest first), undated."""
    return [(t(language, "all_years"), ""), *scope_year_choices(years), (t(language, "undated"), UNDATED)]


def ingested_at(record: DocumentRecord) -> str:
    """When a document was indexed, in local time."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(record.ingested_at))


def documents_table_html(page: DocPage, language: str, uploads: str = "") -> str:
    """The documents table; a title opens the document, a remove button asks before removing.

    Documents directly in the ``uploads`` folder are the app's own copies, removed with the document.
    """
    if not page.rows:
        return f'<div class="vb-table-empty">{esc(t(language, "no_documents"))}</div>'
    head = "".join(f'<th scope="col"{cls}>{esc(t(language, key))}</th>' for key, cls in (
        ("col_title", ""), ("col_type", ""), ("col_date", ""), ("col_passages", ' class="vb-num"'),
        ("col_ingested", ""), ("col_actions", "")))
    rows = []
    for r in page.rows:
        uploaded = bool(uploads) and str(PurePath(r.source).parent) == uploads
        confirm = esc(t(language, "confirm_remove_upload" if uploaded else "confirm_remove", title=r.title))
        rows.append(
            f'<tr><td><button type="button" class="vb-link" {click_target("open", r.source)}>{esc(r.title)}</button>'
            f'<div class="vb-path">{esc(r.source)}</div></td>'
            f'<td><span class="vb-type">{esc(r.doc_type)}</span></td><td class="vb-date">{esc(r.date or "")}</td>'
            f'<td class="vb-num">{r.passages:,}</td><td class="vb-date">{esc(ingested_at(r))}</td>'
            f'<td class="vb-actions"><button type="button" class="vb-btn" {click_target("open", r.source)}>'
            f'{esc(t(language, "open"))}</button> <button type="button" class="vb-btn" '
            f'{click_target("scope", r.source)}>{esc(t(language, "ask_within"))}</button> '
            f'<button type="button" class="vb-btn vb-danger" '
            f'{click_target("remove", r.source)} data-confirm="{confirm}">'
            f'{esc(t(language, "remove"))}</button></td></tr>')
    return (f'<table class="vb-docs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def page_label(page: DocPage, language: str) -> str:
    """"Page 2 of 40 · 1,000 documents"."""
    key = "page_of_one" if page.total == 1 else "page_of"
    return t(language, key, page=page.page, pages=page.pages, total=f"{page.total:,}")


def folders(sources: Iterable[str]) -> list[str]:
    """Every folder holding indexed documents, and the folders between it and an outermost one."""
    parents = {PurePath(s).parent for s in sources}
    roots = set(outermost(str(p) for p in parents))
    found: set[str] = set()
    for folder in parents:
        for path in (folder, *folder.parents):
            found.add(str(path))
            if str(path) in roots:
                break
    return sorted(found)


def outermost(paths: Iterable[str]) -> list[str]:
    """The paths that are not inside another of the paths: the folders a sync re-reads."""
    unique = sorted(set(paths))
    kept: list[str] = []
    for path in unique:
        if not any(PurePath(k) in PurePath(path).parents for k in kept):
            kept.append(path)
    return kept


def folder_value(folder: str) -> str:
    """The scope value of a folder: its path with a trailing separator, never a document's path."""
    return folder.rstrip("/") + "/"


def scope_choices(records: Iterable[DocumentRecord], keep: Iterable[str] = (),
                  limit: int = SCOPE_CHOICES) -> list[tuple[str, str]]:
    """(label, value) pairs for the scope picker: folders first, then documents by title.

    Past ``limit`` documents only the folders are listed, plus the documents in ``keep`` (those
    chosen): every choice goes to the browser, and 10,000 of them made the page 3× slower to
    load. A single document is then added from the documents table ("ask about this").
    """
    docs = sorted(records, key=lambda r: (r.title.casefold(), r.source))
    choices = [(f"📁 {folder}/", folder_value(folder)) for folder in folders(r.source for r in docs)]
    kept = set(keep)
    listed = docs if len(docs) <= limit else [r for r in docs if r.source in kept]
    choices += [(f"{r.title} ({PurePath(r.source).name})", r.source) for r in listed]
    return choices
