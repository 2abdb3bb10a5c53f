"""The PostgreSQL full-text keyword leg against a real PostgreSQL: Dutch stemming and accent folding,
scoping, a passage committed by another process found at once, a removed document gone, and the
composition root choosing the engine."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.settings import Settings
from tests.fakes import FakeEmbedder
from values.document import DocumentRecord, StoredPassage
from values.errors import ConfigError
from values.passage import Passage
from values.text import Tokenizer
from vectorstore.keyword import KeywordIndex
from vectorstore.pg_keyword import PostgresKeyword
from vectorstore.sql_catalog import SqlCatalog
from vectorstore.sqlite_catalog import SqliteCatalog
from vraagbaak.compose import build_index, make_keyword

pytestmark = pytest.mark.slow

DOCS = {
    "/docs/belgie.txt": ("Financiën van België",
                         "De Belgische regeringen hebben de sociale-zekerheidsbijdragen in 2017 verlaagd."),
    "/docs/kabel.txt": ("Kabelbaan", "De kabelbaan over de Maas in Namen kost twaalf miljoen euro."),
    "/docs/gemeente.txt": ("", "De gemeenten ontvangen een subsidie voor fietspaden langs de provinciewegen."),
}


def document(source: str, context: str, text: str) -> tuple[DocumentRecord, list[StoredPassage]]:
    """A one-passage document."""
    passage = Passage(source=source, start=0, end=len(text), text=text, context=context, title=context,
                      doc_type="txt")
    record = DocumentRecord(source, f"hash {text}", context, "txt", "utf-8", len(text), 1.0, 1, 2.0)
    return record, [StoredPassage(passage, passage.passage_id, 0, True, None)]


def write(catalog: SqlCatalog, *sources: str) -> None:
    with catalog.transaction() as tx:
        for source in sources:
            tx.replace_document(*document(source, *DOCS[source]))


@pytest.fixture
def catalog(pg_url: str) -> Iterator[SqlCatalog]:  # noqa: F811
    catalog = SqlCatalog(pg_url, "vraagbaak")
    yield catalog
    catalog.close()


@pytest.fixture
def leg(catalog: SqlCatalog) -> PostgresKeyword:
    write(catalog, *DOCS)
    return PostgresKeyword(catalog, Tokenizer())


def found(leg: Any, query: str, sources: list[str] | None = None) -> list[str]:
    """The sources of the hits, best first."""
    ids = [h.passage_id for h in leg.search(query, 10, sources)]
    rows = leg.catalog.passages_by_id(ids)
    return [rows[i].passage.source for i in ids]


def test_a_dutch_question_finds_its_passage_across_accents_and_inflections(leg: PostgresKeyword) -> None:
    assert leg.accent_folding  # Debian's PostgreSQL ships unaccent
    # "Belgie" and "financien" unaccented, "regering" and "bijdrage" inflected otherwise than in the text
    assert found(leg, "Welke regering verlaagde de bijdrage voor de sociale zekerheid in Belgie?")[0] == \
        "/docs/belgie.txt"
    assert found(leg, "financien")[0] == "/docs/belgie.txt"  # the context is indexed with the text
    assert found(leg, "Krijgt een gemeente subsidie voor een fietspad?") == ["/docs/gemeente.txt"]
    assert found(leg, "wat kost de kabelbaan")[0] == "/docs/kabel.txt"
    assert leg.search("de het een", 10) == [] and leg.search("", 10) == []  # stopwords only


def test_any_word_may_match_and_known_share_counts_stems(leg: PostgresKeyword) -> None:
    # OR semantics: an unknown word does not stop the known one from matching
    assert found(leg, "kabelbaan xylofoonorkest") == ["/docs/kabel.txt"]
    assert leg.known_share("kabelbaan xylofoonorkest") == 0.5
    assert leg.known_share("gemeente gemeenten subsidie") == 1.0  # one stem, as bm25s counts it
    assert leg.known_share("the weather in London") == 0.0 and leg.known_share("de") == 0.0


@pytest.mark.parametrize("engine", ["postgres", "postgres-bm25"])
def test_scoping_keeps_to_the_sources_given(catalog: SqlCatalog, engine: str) -> None:
    from vectorstore.pg_bm25 import PostgresBM25

    leg = (PostgresBM25 if engine == "postgres-bm25" else PostgresKeyword)(catalog, Tokenizer())
    write(catalog, *DOCS)
    query = "kabelbaan subsidie regeringen"
    assert set(found(leg, query)) == set(DOCS)
    assert found(leg, query, ["/docs/gemeente.txt"]) == ["/docs/gemeente.txt"]
    assert set(found(leg, query, ["/docs/kabel.txt", "/docs/belgie.txt", "/docs/nope.txt"])) == {
        "/docs/kabel.txt", "/docs/belgie.txt"}
    assert found(leg, query, ["/docs/nope.txt"]) == []


WRITER = r"""
import sys
from tests.test_pg_keyword import write
from values.text import Tokenizer
from vectorstore.sql_catalog import SqlCatalog
catalog = SqlCatalog(sys.argv[1], "vraagbaak")
if sys.argv[2] == "postgres-bm25":
    from vectorstore.pg_bm25 import PostgresBM25
    PostgresBM25(catalog, Tokenizer())  # its postings are written with the passages
write(catalog, "/docs/kabel.txt")
print("committed", flush=True)
"""


@pytest.mark.parametrize("engine", ["postgres", "postgres-bm25"])
def test_a_passage_committed_by_another_process_is_found_at_once(catalog: SqlCatalog, pg_url: str,  # noqa: F811
                                                                 engine: str) -> None:
    from vectorstore.pg_bm25 import PostgresBM25

    leg = (PostgresBM25 if engine == "postgres-bm25" else PostgresKeyword)(catalog, Tokenizer())
    write(catalog, "/docs/gemeente.txt")
    assert found(leg, "kabelbaan") == [] and leg.known_share("kabelbaan") == 0.0
    done = subprocess.run([sys.executable, "-c", WRITER, pg_url, engine], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parents[1])
    assert done.stdout.strip() == "committed", done.stderr
    # no refresh, no wait: the commit is the index's update (for BM25, N and the lengths with it)
    assert found(leg, "kabelbaan") == ["/docs/kabel.txt"] and leg.known_share("kabelbaan") == 1.0


def test_a_removed_or_replaced_document_is_no_longer_found(leg: PostgresKeyword, catalog: SqlCatalog) -> None:
    with catalog.transaction() as tx:
        tx.remove_document("/docs/kabel.txt")
    assert found(leg, "kabelbaan") == [] and leg.known_share("kabelbaan") == 0.0
    with catalog.transaction() as tx:  # the same source, new text: its old words go with its old passage
        tx.replace_document(*document("/docs/gemeente.txt", "", "Het parkeerbeleid van de stad."))
    assert found(leg, "fietspaden") == [] and found(leg, "parkeerbeleid") == ["/docs/gemeente.txt"]


def test_a_second_engine_on_the_same_table_reuses_its_column(catalog: SqlCatalog, pg_url: str) -> None:  # noqa: F811
    first = PostgresKeyword(catalog, Tokenizer())
    write(catalog, "/docs/kabel.txt")
    again = PostgresKeyword(SqlCatalog(pg_url, "vraagbaak"), Tokenizer())
    assert again.accent_folding == first.accent_folding and found(again, "kabelbaan") == ["/docs/kabel.txt"]


def test_settings_choose_the_engine(make_settings: Callable[..., Settings], pg_url: str,  # noqa: F811
                                    tmp_path: Path) -> None:
    shared = SqlCatalog(pg_url, "vraagbaak")
    embedded = SqliteCatalog(tmp_path / "catalog.sqlite3")
    assert isinstance(make_keyword(make_settings(), embedded, Tokenizer()), KeywordIndex)
    assert isinstance(make_keyword(make_settings(catalog_url=pg_url, keyword_engine="bm25s"), shared, Tokenizer()),
                      KeywordIndex)
    assert isinstance(make_keyword(make_settings(catalog_url=pg_url, keyword_engine="postgres"), shared,
                                   Tokenizer()), PostgresKeyword)
    with pytest.raises(ConfigError, match="keyword_engine 'postgres'"):
        make_keyword(make_settings(keyword_engine="postgres"), embedded, Tokenizer())
    with pytest.raises(ConfigError, match="keyword_engine 'postgres'"):  # the whole graph refuses it as well
        build_index(make_settings(keyword_engine="postgres"), FakeEmbedder(), FakeEmbedder.dimension, Tokenizer())
    shared.close()
    embedded.close()
