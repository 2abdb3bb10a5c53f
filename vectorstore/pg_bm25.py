"""The keyword leg as BM25 inside the shared catalog: postings written in the passages' own transaction.

bm25s's ranking, computed by one SQL statement: Lucene BM25 (k1 1.5, b 0.75, idf
ln(1 + (N - df + 0.5) / (df + 0.5)), a passage's length its number of tokens, a question's token
counted as often as the question holds it) over the same tokens (``Tokenizer``: folded, stopwords
dropped, PyStemmer's Dutch stems) of the same text (context, then text). So it ranks as bm25s does,
but a commit is searchable by every replica at once and a replica has nothing to build.

The postings (term, passage, tf, the passage's length) are written by the catalog's own writing
transaction (``SqlCatalog.also_write``); foreign keys with ``ON DELETE/UPDATE CASCADE`` take them
along when a document is removed, replaced or renamed, so no path of the catalog leaves a stale
one, and a killed writer leaves none half-written. N and the sum of the lengths live in a one-row
table that statement triggers keep in step; a term's df is counted from its postings per query.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    any_,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from values.text import Tokenizer
from vectorstore.keyword_leg import KeywordHit
from vectorstore.sql_catalog import SqlCatalog, keyword_text

K1, B = 1.5, 0.75  # bm25s's defaults, as vectorstore/keyword.py builds it
_BATCH = 2000  # passages per statement when indexing a catalog's passages written before this engine


def has_postings(catalog: SqlCatalog) -> bool:
    """Whether the collection has BM25 postings tables (some process has used this engine on it)."""
    name = f"{_prefix(catalog)}_bm25_docs"
    return catalog.read(select(func.to_regclass(name).is_not(None)))[0][0] is True


def _prefix(catalog: SqlCatalog) -> str:
    return catalog.passages_table.name.removesuffix("_passages")


class PostgresBM25:
    """BM25 over postings in the catalog's own database, always in step with its last commit."""

    def __init__(self, catalog: SqlCatalog, tokenize: Tokenizer) -> None:
        self.catalog = catalog
        self.tokenize = tokenize
        self._passages = catalog.passages_table
        prefix = _prefix(catalog)
        schema, self._docs, self._terms, self._stats = _tables(prefix, self._passages.name)
        with catalog.schema_change() as conn:
            schema.create_all(conn, tables=[self._docs, self._terms, self._stats], checkfirst=True)
            _triggers(conn, self._docs.name, self._stats.name, f"{prefix}_bm25_count")
            conn.execute(pg_insert(self._stats).values(id=1, passages=0, tokens=0).on_conflict_do_nothing())
        catalog.also_write("bm25", self._write)
        self._index_missing()

    def __repr__(self) -> str:
        return f"PostgresBM25({self.catalog!r})"

    # -- writing ---------------------------------------------------------------------------------
    def _write(self, conn: Connection, ids: list[str], texts: list[str]) -> None:
        """The postings of passages just written, in their transaction."""
        d, t = self._docs, self._terms
        counts = [Counter(self.tokenize(body)) for body in texts]
        lengths = [sum(c.values()) for c in counts]
        # an id written in place (INSERT … ON CONFLICT DO UPDATE) keeps no postings of its old text
        conn.execute(delete(d).where(d.c.passage_id == any_(_array(ids, Text))))
        rows = _rows(passage_id=(ids, Text), length=(lengths, Integer))
        written = insert(d).from_select(["passage_id", "length"], select(*rows.c)).returning(d.c.passage_id, d.c.doc)
        doc_of: dict[str, int] = dict(conn.execute(written).all())
        terms: list[str] = []
        docs: list[int] = []
        tfs: list[int] = []
        sizes: list[int] = []
        for pid, count, length in zip(ids, counts, lengths, strict=True):
            for term, tf in count.items():
                terms.append(term)
                docs.append(doc_of[pid])
                tfs.append(tf)
                sizes.append(length)
        if terms:
            postings = _rows(term=(terms, Text), doc=(docs, BigInteger), tf=(tfs, Integer), length=(sizes, Integer))
            conn.execute(insert(t).from_select(["term", "doc", "tf", "length"], select(*postings.c)))

    def _index_missing(self) -> None:
        """Write the postings of passages committed without them (the catalog predates this engine).

        Under the writer lock, so that no ingest writes the same passages meanwhile; a catalog
        whose every passage has its postings (the usual start of a replica) costs one query.
        """
        p, d = self._passages, self._docs
        missing = select(p.c.id, p.c.context, p.c.text).where(~exists().where(d.c.passage_id == p.c.id))
        if not self.catalog.read(select(exists(missing)))[0][0]:
            return
        with self.catalog.writer_lock(), self.catalog.schema_change() as conn:
            rows = conn.execute(missing).all()
            for at in range(0, len(rows), _BATCH):
                batch = rows[at:at + _BATCH]
                self._write(conn, [r[0] for r in batch], [keyword_text(r[1], r[2]) for r in batch])

    # -- reading ---------------------------------------------------------------------------------
    def search(self, query: str, k: int, sources: list[str] | None = None) -> list[KeywordHit]:
        """The ``k`` best BM25 matches, optionally only from ``sources``."""
        weights = Counter(self.tokenize(query))
        if not weights or k < 1:
            return []
        d, t, s = self._docs, self._terms, self._stats
        q = _rows(term=(list(weights), Text), weight=(list(weights.values()), Integer))
        # N and the mean length as scalar subqueries, computed once (a join to the one-row table
        # would leave the planner guessing its size)
        n = cast(select(s.c.passages).scalar_subquery(), Double)
        avgdl = select(cast(s.c.tokens, Double) / func.greatest(s.c.passages, 1)).scalar_subquery()
        df = select(cast(func.count(), Double).label("df")).where(t.c.term == q.c.term).lateral()
        idf = (q.c.weight * func.ln(1 + (n - df.c.df + 0.5) / (df.c.df + 0.5))).label("idf")
        w = select(q.c.term, idf).select_from(q.join(df, true())).where(df.c.df > 0).cte("w")
        p = select(t.c.doc, t.c.tf, t.c.length).where(t.c.term == w.c.term).lateral("p")  # index-only, per term
        tf = cast(p.c.tf, Double)
        norm = literal(K1, Double) * (literal(1 - B, Double) + literal(B, Double) * cast(p.c.length, Double) / avgdl)
        score = func.sum(w.c.idf * tf / (tf + norm)).label("score")
        top = select(p.c.doc, score).select_from(w.join(p, true()))
        if sources:
            passages = self._passages
            top = top.where(p.c.doc.in_(select(d.c.doc).join_from(d, passages, passages.c.id == d.c.passage_id)
                                        .where(passages.c.source == any_(_array(sources, Text)))))
        ranked = top.group_by(p.c.doc).order_by(score.desc(), p.c.doc).limit(k).subquery()
        statement = (select(d.c.passage_id, ranked.c.score).join_from(ranked, d, d.c.doc == ranked.c.doc)
                     .order_by(ranked.c.score.desc(), ranked.c.doc))
        with self.catalog.snapshot():
            # JIT compiles for longer (0.45 s) than the statement runs once the postings grow
            self.catalog.read(text("SET LOCAL jit = off"))
            rows = self.catalog.read(statement)
        return [KeywordHit(str(pid), float(value)) for pid, value in rows if value > 0]

    def known_share(self, query: str) -> float:
        """Share of the query's stems (stopwords removed) that some indexed passage holds."""
        stems = list(set(self.tokenize(query)))
        if not stems:
            return 0.0
        t = self._terms
        q = _rows(term=(stems, Text))
        known = self.catalog.read(select(func.count()).select_from(q).where(exists().where(t.c.term == q.c.term)))
        return int(known[0][0]) / len(stems)

    def refresh(self) -> None:
        """Nothing to do: the postings are the catalog's, written in the writing transaction."""

    def clear(self) -> None:
        """Nothing to do: the postings go with the catalog's passages."""


def _tables(prefix: str, passages_name: str) -> tuple[MetaData, Table, Table, Table]:
    """The engine's tables: a number and a length per passage, the postings, and N with the total length."""
    schema = MetaData()
    passages = Table(passages_name, schema, Column("id", Text, primary_key=True))  # only to refer to
    docs = Table(
        f"{prefix}_bm25_docs", schema, Column("doc", BigInteger, Identity(always=True), primary_key=True),
        Column("passage_id", Text, ForeignKey(passages.c.id, ondelete="CASCADE", onupdate="CASCADE"),
               nullable=False, unique=True),
        Column("length", Integer, nullable=False))
    terms = Table(
        f"{prefix}_bm25_terms", schema, Column("term", Text, nullable=False),
        Column("doc", BigInteger, ForeignKey(docs.c.doc, ondelete="CASCADE"), nullable=False),
        Column("tf", Integer, nullable=False), Column("length", Integer, nullable=False),
        # a term's postings with their tf and length in the index itself: index-only scans
        PrimaryKeyConstraint("term", "doc", postgresql_include=["tf", "length"]))
    Index(f"{prefix}_bm25_doc", terms.c.doc)  # for the cascade when a passage goes
    stats = Table(f"{prefix}_bm25_stats", schema, Column("id", Integer, primary_key=True),
                  Column("passages", BigInteger, nullable=False), Column("tokens", BigInteger, nullable=False))
    return schema, docs, terms, stats


def _array(values: list[Any], item: Any) -> Any:
    return literal(values, ARRAY(item))


def _rows(**columns: tuple[list[Any], Any]) -> Any:
    """Rows from one array per column (``unnest``): a whole batch in one statement, however many rows."""
    arrays = [_array(values, item) for values, item in columns.values()]
    return func.unnest(*arrays).table_valued(*columns).render_derived()


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _triggers(conn: Connection, docs: str, stats: str, function: str) -> None:
    """Statement triggers that keep N and the total length in step with the docs table, cascades included."""
    docs, stats, function = _quote(conn, docs), _quote(conn, stats), _quote(conn, function)
    conn.execute(text(f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE sign integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
        BEGIN
            UPDATE {stats} SET passages = passages + sign * c.n, tokens = tokens + sign * c.total
            FROM (SELECT count(*) AS n, coalesce(sum(length), 0) AS total FROM changed) c WHERE c.n > 0;
            RETURN NULL;
        END $$"""))
    conn.execute(text(f"CREATE OR REPLACE TRIGGER bm25_added AFTER INSERT ON {docs} REFERENCING NEW TABLE AS changed "
                      f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"))
    conn.execute(text(f"CREATE OR REPLACE TRIGGER bm25_removed AFTER DELETE ON {docs} REFERENCING OLD TABLE AS changed "
                      f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"))
