"""The keyword leg inside the shared catalog: PostgreSQL full-text search over the passages table.

A generated ``tsvector`` column over each passage's context and text (what bm25s indexes) with a
GIN index, so a passage is searchable in the transaction that writes it: every replica sees an
ingest at its commit, nothing is rebuilt and nothing lives in local files. The text search
configuration is Dutch Snowball with ``unaccent`` before it; where the extension cannot be
created it is plain Dutch, and an accented word then matches only as written (``accent_folding``
says which). Ranking is ``ts_rank_cd`` (cover density; no IDF, so not BM25) over an OR of the
question's words, as BM25 lets any word match. The words are the ``Tokenizer``'s (folded, its
stopwords dropped) before stemming: PostgreSQL stems them itself, with an older Snowball Dutch
than PyStemmer's, so only its own stems match its index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Text, any_, cast, column, exists, func, literal, select, table, text
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSVECTOR
from sqlalchemy.exc import NotSupportedError, OperationalError, ProgrammingError

from values.text import Tokenizer
from vectorstore.keyword_leg import KeywordHit
from vectorstore.sql_catalog import SqlCatalog, lock_key

CONFIG = "vraagbaak_dutch"
COLUMN = "keywords"
NORMALIZATION = 1  # rank / (1 + log length): best of 0, 1, 2, 32 on dev (benchmarks/keyword_engines.py)


class PostgresKeyword:
    """Full-text search in the catalog's own database, always in step with its last commit."""

    def __init__(self, catalog: SqlCatalog, tokenize: Tokenizer, normalization: int = NORMALIZATION) -> None:
        self.catalog = catalog
        self.tokenize = tokenize
        self.normalization = normalization  # ts_rank_cd's bit mask
        passages = catalog.passages_table
        with catalog.schema_change() as conn:
            self.accent_folding = _configuration(conn)
            _column(conn, passages.name)
        self._t = table(passages.name, column("id", Text), column("source", Text), column(COLUMN, TSVECTOR))
        self._config = cast(literal(CONFIG), REGCONFIG)

    def __repr__(self) -> str:
        return f"PostgresKeyword({self.catalog!r}, accent_folding={self.accent_folding})"

    def _matches(self, terms: str) -> Any:
        return self._t.c[COLUMN].op("@@")(func.to_tsquery(self._config, terms))

    def search(self, query: str, k: int, sources: list[str] | None = None) -> list[KeywordHit]:
        """The ``k`` best-ranked passages holding any of the query's words, optionally only from ``sources``."""
        words = list(dict.fromkeys(self.tokenize.words(query)))
        if not words or k < 1:
            return []
        terms = " | ".join(words)  # \w\w+ words hold no tsquery operator
        rank = func.ts_rank_cd(self._t.c[COLUMN], func.to_tsquery(self._config, terms),
                               self.normalization)
        statement = select(self._t.c.id, rank).where(self._matches(terms))
        if sources:
            statement = statement.where(self._t.c.source == any_(literal(sources, ARRAY(Text))))
        rows = self.catalog.read(statement.order_by(rank.desc(), self._t.c.id).limit(k))
        return [KeywordHit(str(pid), float(score)) for pid, score in rows if score > 0]

    def known_share(self, query: str) -> float:
        """Share of the query's stems (as bm25s counts them) of which some word occurs in an indexed passage."""
        words = self.tokenize.words(query)
        by_stem: dict[str, str] = {}
        for word, stem in zip(words, self.tokenize.stem(words), strict=True):
            by_stem.setdefault(stem, word)
        if not by_stem:
            return 0.0
        known = self.catalog.read(select(*(exists().where(self._matches(w)) for w in by_stem.values())))[0]
        return sum(bool(k) for k in known) / len(by_stem)

    def refresh(self) -> None:
        """Nothing to do: the index is the catalog's, updated in the writing transaction."""

    def clear(self) -> None:
        """Nothing to do: the index goes with the catalog's passages."""


def _configuration(conn: Connection) -> bool:
    """Create the Dutch configuration once per database; True when it folds accents (``unaccent``)."""
    conn.execute(select(func.pg_advisory_xact_lock(lock_key("text search configuration"))))
    if not conn.execute(text("SELECT 1 FROM pg_ts_config WHERE cfgname = :name"), {"name": CONFIG}).first():
        folding = True
        try:
            with conn.begin_nested():  # not installed (Debian ships it in postgresql-contrib), or not allowed
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS unaccent"))
        except (OperationalError, ProgrammingError, NotSupportedError):
            folding = False
        conn.execute(text(f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = pg_catalog.dutch)"))
        if folding:
            conn.execute(text(f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} "
                              "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, dutch_stem"))
    folded = conn.execute(select(func.to_tsvector(cast(literal(CONFIG), REGCONFIG), "é"))).scalar_one()
    return str(folded) == "'e':1"


def _column(conn: Connection, name: str) -> None:
    """Add the generated column and its GIN index to the passages table (once: it rewrites the table)."""
    quoted = conn.dialect.identifier_preparer.quote
    if conn.execute(text("SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                         "AND table_name = :t AND column_name = :c"), {"t": name, "c": COLUMN}).first():
        return  # ALTER TABLE would take an exclusive lock even with IF NOT EXISTS
    document = "CASE WHEN context = '' THEN text ELSE context || E'\\n' || text END"  # as keyword_rows joins them
    conn.execute(text(f"ALTER TABLE {quoted(name)} ADD COLUMN IF NOT EXISTS {COLUMN} tsvector "
                      f"GENERATED ALWAYS AS (to_tsvector('{CONFIG}'::regconfig, {document})) STORED"))
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS {quoted(name + '_tsv')} ON {quoted(name)} "
                      f"USING gin ({COLUMN})"))
