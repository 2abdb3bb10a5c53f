"""BM25 inside the shared catalog against a real PostgreSQL: bm25s's ranking and scores on the samples,
a commit found by another process at once, no stale postings after removals, replacements and renames,
scoping, a killed writer leaving nothing, a catalog written before the engine, and ``auto`` choosing it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from assistant.settings import Settings
from tests.test_pg_keyword import DOCS, document, found, write
from values.document import DocumentRecord, StoredPassage
from values.errors import ConfigError
from values.passage import Passage
from values.text import Tokenizer
from vectorstore.keyword import KeywordIndex
from vectorstore.pg_bm25 import PostgresBM25
from vectorstore.pg_keyword import PostgresKeyword
from vectorstore.sql_catalog import SqlCatalog
from vectorstore.sqlite_catalog import SqliteCatalog
from vraagbaak.compose import make_keyword

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).parents[1] / "samples"
QUESTIONS = [
    "Hoeveel projectsubsidie ontvangt OTA van WVG?",
    "Hoeveel asielzoekers verblijven in de opvangcentra van Fedasil?",
    "Wat zijn de kosten van de kabelbaan in Namen?",
    "Welke maatregelen neemt de minister tegen fraude met sociale uitkeringen?",
    "Hoeveel treinen reden in 2016 met vertraging?",
    "belastingen België 2017 minister antwoord",
    "gemeente gemeente subsidie",  # a repeated word counts twice, as in bm25s
]


@pytest.fixture
def catalog(pg_url: str) -> Iterator[SqlCatalog]:  # noqa: F811
    catalog = SqlCatalog(pg_url, "vraagbaak")
    yield catalog
    catalog.close()


def samples(catalog: SqlCatalog) -> None:
    """The sample documents as one passage per paragraph, the first line (the title) as context."""
    with catalog.transaction() as tx:
        for path in sorted(SAMPLES.rglob("*.txt")):
            body = path.read_text(encoding="utf-8")
            title = body.splitlines()[0]
            rows, at = [], 0
            for n, paragraph in enumerate(body.split("\n\n")):
                passage = Passage(source=str(path), start=at, end=at + len(paragraph), text=paragraph,
                                  context=title if n else "", title=title, doc_type="txt")
                rows.append(StoredPassage(passage, passage.passage_id, n, True, None))
                at += len(paragraph) + 2
            tx.replace_document(DocumentRecord(str(path), path.name, title, "txt", "utf-8", len(body), 1.0,
                                               len(rows), 1.0), rows)


def postings_in_step(catalog: SqlCatalog) -> None:
    """The postings and statistics are exactly what the catalog's passages give: none stale, none missing."""
    tokenize = Tokenizer()
    expected = Counter[tuple[str, str, int, int]]()
    lengths = 0
    rows = catalog.keyword_rows()
    for pid, _, body in rows:
        tokens = tokenize(body)
        lengths += len(tokens)
        expected.update((term, pid, tf, len(tokens)) for term, tf in Counter(tokens).items())
    stored = catalog.read(text("SELECT t.term, d.passage_id, t.tf, t.length FROM vb_vraagbaak_bm25_terms t "
                               "JOIN vb_vraagbaak_bm25_docs d USING (doc)"))
    assert Counter(stored) == expected
    assert catalog.read(text("SELECT count(*) FROM vb_vraagbaak_bm25_docs"))[0][0] == len(rows)
    assert catalog.read(text("SELECT passages, tokens FROM vb_vraagbaak_bm25_stats")) == [(len(rows), lengths)]


def test_it_ranks_and_scores_as_bm25s_does(catalog: SqlCatalog, tmp_path: Path) -> None:
    leg = PostgresBM25(catalog, Tokenizer())
    samples(catalog)
    bm25s = KeywordIndex(tmp_path / "keyword", catalog, Tokenizer())
    assert catalog.passage_count() > 150
    for question in QUESTIONS:
        ours, theirs = leg.search(question, 10), bm25s.search(question, 40)
        assert len(ours) == min(10, len(theirs)) >= 5, question
        # the same scores in the same order (bm25s sums in float32), each passage with bm25s's score for
        # it: passages that tie may come in either order
        assert [h.score for h in ours] == pytest.approx([h.score for h in theirs[:len(ours)]], rel=1e-5)
        score_of = {h.passage_id: h.score for h in theirs}
        assert [score_of.get(h.passage_id) for h in ours] == pytest.approx([h.score for h in ours], rel=1e-5)
        assert leg.known_share(question) == bm25s.known_share(question)
        scope = sorted(leg.catalog.documents())[::2]  # and within a scope, as bm25s's weight mask gives it
        scoped, masked = leg.search(question, 10, scope), bm25s.search(question, 10, scope)
        assert [h.score for h in scoped] == pytest.approx([h.score for h in masked], rel=1e-5)
        assert {leg.catalog.passages_by_id([h.passage_id])[h.passage_id].passage.source for h in scoped} <= set(scope)
    assert leg.known_share("xylofoonorkest kabelbaan") == bm25s.known_share("xylofoonorkest kabelbaan") == 0.0
    assert leg.search("de het een", 10) == [] and leg.search("", 10) == [] and leg.known_share("de") == 0.0
    postings_in_step(catalog)


def test_accents_are_folded_and_the_context_indexed(catalog: SqlCatalog) -> None:
    leg = PostgresBM25(catalog, Tokenizer())
    write(catalog, *DOCS)
    # accents folded and words stemmed by the Tokenizer, the context indexed with the text
    assert found(leg, "financien Belgie")[0] == "/docs/belgie.txt"


def test_removals_replacements_and_renames_leave_no_stale_postings(catalog: SqlCatalog) -> None:
    leg = PostgresBM25(catalog, Tokenizer())
    write(catalog, *DOCS)
    postings_in_step(catalog)
    with catalog.transaction() as tx:
        tx.remove_document("/docs/kabel.txt")
    assert found(leg, "kabelbaan") == [] and leg.known_share("kabelbaan") == 0.0
    postings_in_step(catalog)
    with catalog.transaction() as tx:  # the same source, new text: its old words go with its old passage
        tx.replace_document(*document("/docs/gemeente.txt", "", "Het parkeerbeleid van de stad."))
    assert found(leg, "fietspaden") == [] and found(leg, "parkeerbeleid") == ["/docs/gemeente.txt"]
    postings_in_step(catalog)
    with catalog.transaction() as tx:  # the same passage written again in place (its id unchanged)
        tx.replace_document(*document("/docs/gemeente.txt", "", "Het parkeerbeleid van de stad."))
    postings_in_step(catalog)
    old = catalog.passage_ids("/docs/belgie.txt")
    with catalog.transaction() as tx:  # a rename gives the passages new ids: the postings follow
        tx.move_document("/docs/belgie.txt", "/docs/be.txt", 3.0, {pid: f"moved-{pid}" for pid in old})
    assert found(leg, "sociale zekerheid") == ["/docs/be.txt"]
    postings_in_step(catalog)
    with catalog.transaction() as tx:  # everything goes (a rebuild)
        for source in catalog.documents():
            tx.remove_document(source)
    assert leg.search("parkeerbeleid sociale", 10) == []
    postings_in_step(catalog)


# Writes a document inside an open catalog transaction, postings included, then kills itself (SIGKILL).
KILLED = r"""
import os, signal, sys
from tests.test_pg_keyword import DOCS, document
from values.text import Tokenizer
from vectorstore.pg_bm25 import PostgresBM25
from vectorstore.sql_catalog import SqlCatalog
from vectorstore.sqlite_catalog import SqliteCatalog
catalog = SqlCatalog(sys.argv[1], "vraagbaak")
PostgresBM25(catalog, Tokenizer())
with catalog.writer_lock(), catalog.transaction() as tx:
    tx.replace_document(*document("/docs/kabel.txt", *DOCS["/docs/kabel.txt"]))
    tx.remove_document("/docs/gemeente.txt")
    print("written", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_writer_killed_mid_transaction_leaves_no_posting(catalog: SqlCatalog, pg_url: str) -> None:  # noqa: F811
    leg = PostgresBM25(catalog, Tokenizer())
    write(catalog, "/docs/gemeente.txt")
    done = subprocess.run([sys.executable, "-c", KILLED, pg_url], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == -signal.SIGKILL and done.stdout.strip() == "written", done.stderr
    assert found(leg, "kabelbaan") == [] and found(leg, "fietspaden") == ["/docs/gemeente.txt"]
    postings_in_step(catalog)
    with catalog.writer_lock(wait=True):  # the server dropped the dead writer's lock; the next one writes
        write(catalog, "/docs/kabel.txt")
    assert found(leg, "kabelbaan") == ["/docs/kabel.txt"]
    postings_in_step(catalog)


def test_a_catalog_written_before_the_engine_is_indexed_when_it_starts(catalog: SqlCatalog, pg_url: str,  # noqa: F811
                                                                       tmp_path: Path) -> None:
    PostgresKeyword(catalog, Tokenizer())  # e.g. a deployment that ran keyword_engine postgres until now
    samples(catalog)
    leg = PostgresBM25(SqlCatalog(pg_url, "vraagbaak"), Tokenizer())
    postings_in_step(catalog)
    bm25s = KeywordIndex(tmp_path / "keyword", catalog, Tokenizer())
    assert leg.search(QUESTIONS[0], 1)[0].passage_id == bm25s.search(QUESTIONS[0], 1)[0].passage_id
    again = PostgresBM25(SqlCatalog(pg_url, "vraagbaak"), Tokenizer())  # nothing left to index: nothing doubled
    assert again.search(QUESTIONS[0], 1) == leg.search(QUESTIONS[0], 1)
    postings_in_step(catalog)


def test_auto_is_bm25_in_the_shared_catalog(make_settings: Callable[..., Settings], pg_url: str,  # noqa: F811
                                           tmp_path: Path) -> None:
    embedded = SqliteCatalog(tmp_path / "catalog.sqlite3")
    assert isinstance(make_keyword(make_settings(), embedded, Tokenizer()), KeywordIndex)  # the embedded default
    with pytest.raises(ConfigError, match="keyword_engine 'postgres-bm25'"):
        make_keyword(make_settings(keyword_engine="postgres-bm25"), embedded, Tokenizer())
    embedded.close()
    shared = SqlCatalog(pg_url, "vraagbaak")
    assert isinstance(make_keyword(make_settings(catalog_url=pg_url), shared, Tokenizer()), PostgresBM25)
    assert isinstance(make_keyword(make_settings(catalog_url=pg_url, keyword_engine="postgres-bm25"), shared,
                                   Tokenizer()), PostgresBM25)
    assert isinstance(make_keyword(make_settings(catalog_url=pg_url, keyword_engine="bm25s"), shared,
                                   Tokenizer()), KeywordIndex)
    shared.close()



def test_a_writer_reading_with_another_engine_still_writes_the_postings(
        make_settings: Callable[..., Settings], pg_url: str, catalog: SqlCatalog) -> None:  # noqa: F811
    other = SqlCatalog(pg_url, "vraagbaak")
    make_keyword(make_settings(catalog_url=pg_url, keyword_engine="bm25s"), other, Tokenizer())
    write(other, "/docs/gemeente.txt")  # no postings yet anywhere: none written
    leg = PostgresBM25(catalog, Tokenizer())  # a replica on postgres-bm25 starts: it indexes what is there
    ingest_job = SqlCatalog(pg_url, "vraagbaak")
    make_keyword(make_settings(catalog_url=pg_url, keyword_engine="postgres"), ingest_job, Tokenizer())
    write(ingest_job, "/docs/kabel.txt")  # an ingest job set to another engine keeps the postings in step
    assert found(leg, "kabelbaan fietspaden") == ["/docs/kabel.txt", "/docs/gemeente.txt"]
    postings_in_step(catalog)
    other.close()
    ingest_job.close()
