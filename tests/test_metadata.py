"""A document's date, read where the document states one; scoping a question by year and type."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

import vectorstore.chroma
from assistant.assistant import Assistant
from assistant.scope import Scope, ScopeError, ScopeIndex, years_and_types
from ingest.loaders import load
from ingest.metadata import declared_date, parse_date, text_date
from tests.conftest import ANSWER_ALL, SEED, SEED_QUESTION, SMALL_SET
from tests.store_view import catalog_of, data_dir_of, dense_of
from values.document import DocumentRecord

# -- reading dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("2017-01-04", "2017-01-04"),
    ("04-01-2017", "2017-01-04"),  # day first, as written in Dutch
    ("4.1.2017", "2017-01-04"),
    ("4 januari 2017", "2017-01-04"),
    ("12 mrt. 2019", "2019-03-12"),
    ("May 4, 2021", "2021-05-04"),
    ("3 décembre 2020", "2020-12-03"),
    ("mei 2017", "2017-05"),
    ("2017", "2017"),
    ("2017-05", "2017-05"),
    ("31-02-2017", None),  # no such day
    ("2017-13-01", None),
    ("binnenkort", None),
    ("nummer 1234567", None),
])
def test_parse_date(value: str, expected: str | None) -> None:
    assert parse_date(value) == expected


def test_a_labelled_date_in_the_header_is_the_documents_date() -> None:
    header = ("Lijn Brussel-Luxemburg.\n\nVraagsteller: Burton (MR)\nDatum indiening: 2017-01-04\n"
              "Gericht aan: Minister van Mobiliteit\n\nVRAAG\nIn 2015 ...")
    assert text_date(header) == "2017-01-04"
    assert text_date("---\ntitle: Nota\ndate: 2021-05-04\n---\n# Nota\n") == "2021-05-04"
    assert text_date("**Date:** 4 May 2021\n\nText") == "2021-05-04"


def test_dates_in_running_text_or_unlabelled_are_not_taken() -> None:
    assert text_date("In antwoord op mijn vraag van 27 januari 2016 stelt de minister: ja.") is None
    assert text_date("Kostprijs: 75.000 euro\nAantal: 2017 stuks in voorraad") is None
    late = "x\n" * 2000 + "Datum: 2017-01-04\n"  # beyond the header
    assert text_date(late) is None


def test_declared_dates_of_formats() -> None:
    assert declared_date("D:20170104120000+01'00'") == "2017-01-04"
    assert declared_date("D:2017") == "2017"
    assert declared_date(dt.datetime(2019, 3, 12, 8, 0)) == "2019-03-12"
    assert declared_date("2021-05-04T10:00:00Z") == "2021-05-04"
    assert declared_date(None) is None and declared_date("") is None


def test_loaders_read_the_date_of_every_format(tmp_path: Path) -> None:
    txt = tmp_path / "vraag.txt"
    txt.write_text("Titel\nDatum indiening: 2017-01-04\n\nTekst.\n", encoding="utf-8")
    assert load(txt).date == "2017-01-04"

    html = tmp_path / "page.html"
    html.write_text('<html><head><title>T</title><meta name="dcterms.date" content="2020-06-30">'
                    '</head><body><p>Tekst.</p></body></html>', encoding="utf-8")
    assert load(html).date == "2020-06-30"

    pdf = FPDF()
    pdf.set_creation_date(dt.datetime(2018, 2, 3, tzinfo=dt.UTC))
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.cell(text="Tekst zonder datum.")
    (tmp_path / "nota.pdf").write_bytes(bytes(pdf.output()))
    assert load(tmp_path / "nota.pdf").date == "2018-02-03"

    document = docx.Document()
    document.core_properties.created = dt.datetime(2019, 3, 12, 8, 0)
    document.add_paragraph("Tekst.")
    document.save(str(tmp_path / "nota.docx"))
    assert load(tmp_path / "nota.docx").date == "2019-03-12"


def test_the_date_the_text_states_wins_over_the_formats(tmp_path: Path) -> None:
    document = docx.Document()
    document.core_properties.created = dt.datetime(2024, 1, 1)  # when it was converted
    document.add_paragraph("Datum: 15 maart 2016")
    document.add_paragraph("Tekst.")
    document.save(str(tmp_path / "nota.docx"))
    assert load(tmp_path / "nota.docx").date == "2016-03-15"


def test_a_document_without_a_date_has_none(tmp_path: Path) -> None:
    assert load(SEED).date is None  # the seed states no date; its mtime is no date


# -- scope (pure) ---------------------------------------------------------------------------------


def record(source: str, doc_type: str = "txt", date: str | None = None) -> DocumentRecord:
    return DocumentRecord(source, "h", source, doc_type, None, 1, 1.0, 1, 1.0, date)


DOCS = {r.source: r for r in [record("/c/a/x.txt", date="2017-01-04"), record("/c/a/sub/z.pdf", "pdf", "2016"),
                              record("/c/ab/y.txt", date="2016-05"), record("/c/b/w.docx", "docx")]}


def test_scope_parts_combine_with_and_values_with_or() -> None:
    assert Scope().select(DOCS) is None
    assert Scope.of(years=["2016"]).select(DOCS) == ["/c/a/sub/z.pdf", "/c/ab/y.txt"]
    assert Scope.of(years=[2016, 2017], types=["txt"]).select(DOCS) == ["/c/a/x.txt", "/c/ab/y.txt"]
    assert Scope.of(paths=["/c/a/"], years=["2016"]).select(DOCS) == ["/c/a/sub/z.pdf"]
    assert Scope.of(types=[".PDF", " docx "]).select(DOCS) == ["/c/a/sub/z.pdf", "/c/b/w.docx"]


def test_a_folder_is_everything_under_it_and_nothing_beside_it() -> None:
    assert Scope.of(paths=["/c/a"]).select(DOCS) == ["/c/a/sub/z.pdf", "/c/a/x.txt"]  # not /c/ab
    assert Scope.of(paths=["/c/ab/y.txt", "/c/a/"]).select(DOCS) == ["/c/a/sub/z.pdf", "/c/a/x.txt", "/c/ab/y.txt"]


def test_a_scope_covering_everything_searches_everything() -> None:
    assert Scope.of(paths=["/c/"]).select(DOCS) is None


def test_an_undated_document_is_never_in_a_year() -> None:
    assert "/c/b/w.docx" not in (Scope.of(years=[2016, 2017]).select(DOCS) or [])


def test_a_scope_without_documents_is_an_error_never_everything() -> None:
    with pytest.raises(ScopeError, match="years 2015"):
        Scope.of(years=["2015"]).select(DOCS)
    with pytest.raises(ScopeError, match="/gone/"):
        Scope.of(paths=["/gone/"]).select(DOCS)


def test_the_scope_index_resolves_every_scope_as_select_does() -> None:
    rng = random.Random(7)
    folders = ["/c", "/c/a", "/c/a/sub", "/c/ab", "/c/b", "/c/b/2017", "/d", "/d/c/a"]
    records = {r.source: r for r in [
        record(f"{rng.choice(folders)}/{n}.{kind}", kind, rng.choice([None, "2016", "2017-03", "2018-01-02"]))
        for n in range(300) for kind in [rng.choice(["txt", "pdf", "docx"])]]}
    index = ScopeIndex(records)
    picks = [*folders, "/c/a/", "/", "/c/a/x", "/nowhere", *rng.sample(sorted(records), 5)]
    for _ in range(400):
        scope = Scope.of(paths=rng.sample(picks, rng.choice([0, 0, 1, 2])),
                         years=rng.sample([2015, 2016, 2017, 2018], rng.choice([0, 1, 2])),
                         types=rng.sample(["txt", "pdf", "docx", "md"], rng.choice([0, 1, 2])))
        try:
            want: list[str] | None | type[ScopeError] = scope.select(records)
        except ScopeError:
            want = ScopeError
        if want is ScopeError:
            with pytest.raises(ScopeError, match="no indexed document is in the chosen scope"):
                index.select(scope)
        else:
            assert index.select(scope) == want, scope
    assert ScopeIndex(DOCS).select(Scope.of(paths=["/c/a"])) == ["/c/a/sub/z.pdf", "/c/a/x.txt"]  # not /c/ab
    assert ScopeIndex(DOCS).select(Scope.of(paths=["/c/"])) is None


def test_a_year_or_type_that_is_none_is_named() -> None:
    with pytest.raises(ScopeError, match="'17'"):
        Scope.of(years=["17"])
    with pytest.raises(ScopeError, match="'docs' is not a document type: use txt, md, pdf, docx, html"):
        Scope.of(types=["pdf", "docs"])


def test_choices_are_the_years_and_types_present() -> None:
    assert years_and_types(DOCS.values()) == ([2017, 2016], ["docx", "pdf", "txt"])


# -- asking within a scope, on a real index --------------------------------------------------------

DATED = ("Kabelbaan Namen.\n\nDatum indiening: 2016-03-01\n\nVraag\nWat kost de kabelbaan in Namen?\n\n"
         "Antwoord\nDe kabelbaan in Namen kost 12 miljoen euro.\n")


def test_a_question_scoped_by_year_and_type_is_answered_from_those_documents_only(
        make_assistant: Callable[..., Assistant], docs: Path) -> None:
    (docs / "kabelbaan.txt").write_text(DATED, encoding="utf-8")
    a = make_assistant(**ANSWER_ALL)
    a.ingest([docs])
    documents = a.index.documents()
    assert documents[str(docs / "kabelbaan.txt")].date == "2016-03-01"
    assert {r.year for r in documents.values()} == {None, 2016, 2017}  # the seed states no date

    everywhere = a.ask("Wat kost de kabelbaan in Namen?")
    assert everywhere.retrieved[0].passage.source == str(docs / "kabelbaan.txt")
    in_2017 = a.ask("Wat kost de kabelbaan in Namen?", scope=Scope.of(years=["2017"]))
    assert in_2017.retrieved and all(documents[h.passage.source].year == 2017 for h in in_2017.retrieved)
    seed_2016 = a.ask(SEED_QUESTION, scope=Scope.of(years=["2016"]))
    assert {h.passage.source for h in seed_2016.retrieved} == {str(docs / "kabelbaan.txt")}
    with pytest.raises(ScopeError, match="types pdf"):
        a.ask(SEED_QUESTION, scope=Scope.of(types=["pdf"]))


def test_an_index_from_before_dates_gets_them_on_the_next_ingest_without_embedding(
        make_assistant: Callable[..., Assistant], docs: Path) -> None:
    a = make_assistant()
    a.ingest([docs])
    a.index.close()
    db = sqlite3.connect(data_dir_of(a) / "catalog.sqlite3")  # as an older vraagbaak left it
    db.execute("ALTER TABLE documents DROP COLUMN date")
    db.execute("DELETE FROM meta WHERE key = 'metadata_rules'")
    db.commit()
    db.close()

    again = make_assistant()
    assert all(r.date is None for r in again.index.documents().values())
    report = again.ingest([docs])
    assert (report.unchanged, report.embedded) == (len(SMALL_SET) + 1, 0)
    years = {Path(s).name: r.year for s, r in again.index.documents().items()}
    assert years[SEED.name] is None
    assert {years[p.name] for p in SMALL_SET} == {2017}


def test_a_renamed_document_keeps_its_date(make_assistant: Callable[..., Assistant], docs: Path) -> None:
    a = make_assistant()
    a.ingest([docs])
    moved = docs / "hernoemd.txt"
    shutil.move(docs / SMALL_SET[0].name, moved)
    report = a.ingest([docs], sync=True)
    assert report.renamed == 1
    assert a.index.documents()[str(moved)].year == 2017


def test_a_wide_scope_finds_what_the_chroma_filter_finds(
        make_assistant: Callable[..., Assistant], docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = make_assistant()
    a.ingest([docs])
    dense = dense_of(a)
    sources = sorted(a.index.documents())[1:]
    vector = a.retriever.embedder.embed_query(SEED_QUESTION)
    narrow = [sources[0], "/nowhere/a.txt", "/nowhere/b.txt"]
    filtered = dense.search(vector, 8, sources)  # under the limit: Chroma's $in filter
    filtered_narrow = dense.search(vector, 30, narrow)
    assert filtered and {catalog_of(a).passages_by_id([h.passage_id])[h.passage_id].passage.source
                         for h in filtered} <= set(sources)
    monkeypatch.setattr(vectorstore.chroma, "_FILTER_SOURCES", 2)  # now "wide": search all, keep in scope
    assert [h.passage_id for h in dense.search(vector, 8, sources)] == [h.passage_id for h in filtered]
    # one document's passages are too few among the deeper search: the filter again
    assert [h.passage_id for h in dense.search(vector, 30, narrow)] == [h.passage_id for h in filtered_narrow]
