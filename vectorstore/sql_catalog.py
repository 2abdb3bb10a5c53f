"""The shared catalog: PostgreSQL (SQLAlchemy Core), read by many replicas, written by one writer at a time.

Chosen when ``catalog_url`` is set; the embedded default stays ``SqliteCatalog``. The semantics are
the same: one transaction per commit that also bumps the version, snapshot reads in a REPEATABLE
READ transaction, meta values and the run history in the database. The writer lock is a session
advisory lock held on a connection of its own, so the server drops it when the holder dies; it needs
a direct connection (a pooler in transaction mode, or ``idle_session_timeout``, would lose it).
Each collection has its own tables (``vb_<collection>_*``) and lock, so one database holds
several indexes.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    cast,
    create_engine,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.sql import Executable

from values.document import DocumentRecord, StoredPassage
from values.errors import ConfigError, StoreError
from values.passage import Passage
from vectorstore.documents_cache import DocumentsCache

_NAME_CHARS = 35  # the longest table or index name ("<prefix>_passages_source") stays within 63
_IN_CHUNK = 1000


def table_prefix(collection: str) -> str:
    """The prefix of a collection's table names; a name that had to be changed gets its hash too."""
    clean = re.sub(r"[^a-z0-9_]", "_", collection.lower())[:_NAME_CHARS]
    if clean != collection:  # "A-b" and "a_b" must not share tables
        clean = f"{clean}_{hashlib.sha256(collection.encode()).hexdigest()[:8]}"
    return f"vb_{clean}"


PassageWriter = Callable[[Connection, list[str], list[str]], None]
"""Writes rows of its own for passages just written: (the open transaction, their ids, their keyword texts)."""


def keyword_text(context: str, text: str) -> str:
    """The text a keyword engine indexes for a passage: its context, then its text."""
    return f"{context}\n{text}" if context else text


def lock_key(collection: str) -> int:
    """The advisory-lock key of a collection's writer lock (a signed 64-bit hash of its name)."""
    digest = hashlib.blake2b(f"vraagbaak writer {collection}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class _Tables:
    """One collection's tables (the columns of ``SqliteCatalog``'s schema)."""

    schema: MetaData
    meta: Table
    documents: Table
    passages: Table
    runs: Table

    @classmethod
    def named(cls, prefix: str) -> _Tables:
        schema = MetaData()
        meta = Table(f"{prefix}_meta", schema, Column("key", Text, primary_key=True),
                     Column("value", Text, nullable=False))
        documents = Table(
            f"{prefix}_documents", schema, Column("source", Text, primary_key=True),
            Column("content_hash", Text, nullable=False), Column("title", Text, nullable=False),
            Column("doc_type", Text, nullable=False), Column("encoding", Text),
            Column("size", BigInteger, nullable=False), Column("mtime", Double, nullable=False),
            Column("passages", Integer, nullable=False), Column("ingested_at", Double, nullable=False),
            Column("date", Text))
        Index(f"{prefix}_documents_hash", documents.c.content_hash)
        passages = Table(
            f"{prefix}_passages", schema, Column("id", Text, primary_key=True),
            Column("source", Text, nullable=False), Column("ord", Integer, nullable=False),
            Column("start", Integer, nullable=False), Column("end", Integer, nullable=False),
            Column("page", Integer), Column("section", Text), Column("item", Text),
            Column("kind", Text, nullable=False), Column("text", Text, nullable=False),
            Column("context", Text, nullable=False), Column("answer_id", Text),
            Column("dense", Boolean, nullable=False))
        Index(f"{prefix}_passages_source", passages.c.source, passages.c.ord)
        runs = Table(
            f"{prefix}_runs", schema, Column("id", Integer, primary_key=True, autoincrement=True),
            Column("started_at", Double, nullable=False), Column("seconds", Double, nullable=False),
            Column("report", Text, nullable=False), Column("settings", Text, nullable=False))
        return cls(schema, meta, documents, passages, runs)


class SqlCatalog:
    """The catalog of one collection in a PostgreSQL database, shared by every replica that names it."""

    def __init__(self, url: str, collection: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as e:
            raise ConfigError(f"catalog_url {url!r} is not a database URL: use "
                              "postgresql+psycopg://user@host:5432/dbname") from e
        self.url = parsed.render_as_string(hide_password=True)
        self.collection = collection
        if parsed.get_backend_name() != "postgresql":
            raise ConfigError(f"catalog_url {self.url} names {parsed.get_backend_name()!r}: a shared catalog "
                              "is PostgreSQL (postgresql+psycopg://…); unset it for the embedded SQLite one")
        self._engine = _engine(parsed, self.url)
        self._reads = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._snapshots = self._engine.execution_options(isolation_level="REPEATABLE READ",
                                                         postgresql_readonly=True)
        self._t = _Tables.named(table_prefix(collection))
        self._key = lock_key(collection)
        self._local = threading.local()
        self._companions: dict[str, PassageWriter] = {}
        self._documents = DocumentsCache(lambda: self.version, self.snapshot, self._read_documents)
        self._create()

    def __repr__(self) -> str:
        return f"SqlCatalog({self.url}, collection={self.collection!r})"

    def _create(self) -> None:
        """Create the collection's tables if they are missing (replicas starting at once take turns)."""
        with self._connected(self._engine) as conn, conn.begin():
            encoding = conn.execute(select(func.current_setting("server_encoding"))).scalar_one()
            if encoding != "UTF8":
                raise StoreError(f"the catalog database {self.url} has encoding {encoding}: "
                                 "create it with ENCODING 'UTF8'")
            conn.execute(select(func.pg_advisory_xact_lock(lock_key(f"schema {self.collection}"))))
            self._t.schema.create_all(conn, checkfirst=True)

    @property
    def passages_table(self) -> Table:
        """The collection's passages table, for an engine that indexes it in the database (``pg_keyword``)."""
        return self._t.passages

    def also_write(self, name: str, writer: PassageWriter) -> None:
        """Have ``writer`` write beside every batch of passages, in the transaction that writes them.

        For an engine that keeps rows of its own per passage (``pg_bm25``'s postings): they commit
        with the passages or not at all. Its rows must reference the passage ids with ``ON DELETE
        CASCADE ON UPDATE CASCADE``, so removals, replacements and renames need nothing of it.
        One writer per ``name``: a second engine over the same catalog replaces the first.
        """
        self._companions[name] = writer

    @contextmanager
    def schema_change(self) -> Iterator[Connection]:
        """A transaction that holds the collection's schema lock: replicas starting at once change it in turn."""
        with self._connected(self._engine) as conn, conn.begin():
            conn.execute(select(func.pg_advisory_xact_lock(lock_key(f"schema {self.collection}"))))
            yield conn

    def read(self, statement: Executable) -> list[tuple[Any, ...]]:
        """Rows of one statement (in this thread's snapshot or transaction, else on its own)."""
        return self._rows(statement)

    @contextmanager
    def _connected(self, engine: Engine) -> Iterator[Connection]:
        """A pooled connection; a server that cannot be reached (or goes away) is a StoreError naming it."""
        try:
            with engine.connect() as conn:
                yield conn
        except OperationalError as e:
            reason = str(e.orig or e).strip().splitlines()[0]
            raise StoreError(f"cannot use the catalog database {self.url} ({reason}): "
                             "check catalog_url (VRAAGBAAK_CATALOG_URL) and that the server is up") from e

    @property
    def _current(self) -> Connection | None:
        """The connection of this thread's open transaction or snapshot, if any."""
        conn: Connection | None = getattr(self._local, "conn", None)
        return conn

    @contextmanager
    def _in(self, conn: Connection, writing: bool = False) -> Iterator[None]:
        """Run this thread's statements on ``conn``; ``writing``: a write transaction (``documents`` reads afresh)."""
        self._local.conn, self._local.writing = conn, writing
        try:
            yield
        finally:
            self._local.conn, self._local.writing = None, False

    def _rows(self, statement: Executable, params: Sequence[Mapping[str, Any]] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement in this thread's transaction, else on its own (autocommit)."""
        if self._current is not None:
            return _fetch(self._current, statement, params)
        with self._connected(self._reads) as conn:
            return _fetch(conn, statement, params)

    def close(self) -> None:
        """Close the pooled connections (the catalog reconnects when used again)."""
        self._engine.dispose()

    @contextmanager
    def writer_lock(self, wait: bool = True) -> Iterator[None]:
        """Serialise writers across replicas: an advisory lock on a connection held for the whole write.

        Re-entrant within one thread, like the file lock of ``SqliteCatalog``.
        """
        if getattr(self._local, "locks", 0):
            self._local.locks += 1
            try:
                yield
            finally:
                self._local.locks -= 1
            return
        with self._connected(self._reads) as conn:
            if wait:
                conn.execute(select(func.pg_advisory_lock(self._key)))
            elif not conn.execute(select(func.pg_try_advisory_lock(self._key))).scalar_one():
                raise StoreError(f"another ingest is running on {self.url} (collection {self.collection!r})")
            self._local.locks = 1
            try:
                yield
            finally:
                self._local.locks = 0
                conn.execute(select(func.pg_advisory_unlock(self._key)))

    @contextmanager
    def transaction(self) -> Iterator[_SqlWrite]:
        """One atomic write; bumps the index version in the same transaction so readers know to refresh."""
        meta = self._t.meta
        bump = insert(meta).values(key="version", value="1")
        bump = bump.on_conflict_do_update(
            index_elements=[meta.c.key], set_={"value": cast(cast(meta.c.value, BigInteger) + 1, Text)})
        with self._connected(self._engine) as conn, conn.begin(), self._in(conn, writing=True):
            yield _SqlWrite(conn, self._t, list(self._companions.values()))
            conn.execute(bump)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction (REPEATABLE READ): every query inside sees one committed state.

        Nested inside another transaction on this thread, it joins that one.
        """
        if self._current is not None:
            yield
            return
        with self._connected(self._snapshots) as conn, conn.begin(), self._in(conn):
            yield

    # -- meta -------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """Increases with every committed change; readers compare it to refresh caches."""
        return int(self.get_meta("version") or 0)

    def get_meta(self, key: str) -> str | None:
        """A stored value, or None."""
        rows = self._rows(select(self._t.meta.c.value).where(self._t.meta.c.key == key))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a value (at once, unless this thread is inside a transaction)."""
        statement = insert(self._t.meta).values(key=key, value=value)
        self._rows(statement.on_conflict_do_update(index_elements=[self._t.meta.c.key],
                                                   set_={"value": statement.excluded.value}))

    # -- documents --------------------------------------------------------------------------
    def documents(self) -> Mapping[str, DocumentRecord]:
        """Every indexed document by source path, read once per version (``DocumentsCache``); read-only."""
        if getattr(self._local, "writing", False):
            return self._read_documents()
        return self._documents.get()

    def _read_documents(self) -> dict[str, DocumentRecord]:
        return {row[0]: DocumentRecord(*row) for row in self._rows(select(*self._t.documents.c))}

    def document_count(self) -> int:
        """How many documents are indexed."""
        return int(self._rows(select(func.count()).select_from(self._t.documents))[0][0])

    def passage_count(self) -> int:
        """How many passages are indexed."""
        return int(self._rows(select(func.count()).select_from(self._t.passages))[0][0])

    def passage_ids(self, source: str | None = None, dense_only: bool = False) -> set[str]:
        """Ids of all passages (or one document's)."""
        p = self._t.passages
        query = select(p.c.id)
        if source is not None:
            query = query.where(p.c.source == source)
        if dense_only:
            query = query.where(p.c.dense.is_(True))
        return {row[0] for row in self._rows(query)}

    def dense_ids_of(self, sources: Iterable[str]) -> dict[str, str]:
        """The passages with a vector of many documents at once: passage id -> source."""
        p = self._t.passages
        wanted = list(dict.fromkeys(sources))
        out: dict[str, str] = {}
        for at in range(0, len(wanted), _IN_CHUNK):
            query = select(p.c.id, p.c.source).where(p.c.dense.is_(True), p.c.source.in_(wanted[at:at + _IN_CHUNK]))
            out.update((row[0], row[1]) for row in self._rows(query))
        return out

    # -- passages ---------------------------------------------------------------------------
    def _passages(self) -> Any:
        p, d = self._t.passages, self._t.documents
        return select(*p.c, d.c.title, d.c.doc_type).join_from(p, d, p.c.source == d.c.source)

    def passages_by_id(self, ids: Iterable[str]) -> dict[str, StoredPassage]:
        """Rows for the given ids; ids that are not (or no longer) indexed are absent."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, StoredPassage] = {}
        for at in range(0, len(wanted), _IN_CHUNK):
            query = self._passages().where(self._t.passages.c.id.in_(wanted[at:at + _IN_CHUNK]))
            out.update((row[0], _row(row)) for row in self._rows(query))
        return out

    def passages_of(self, source: str) -> list[StoredPassage]:
        """One document's passages in order."""
        p = self._t.passages
        return [_row(row) for row in self._rows(self._passages().where(p.c.source == source).order_by(p.c.ord))]

    def keyword_rows(self) -> list[tuple[str, str, str]]:
        """(id, source, text to index) for every passage, in SQLite's order (sources by code point)."""
        p = self._t.passages
        query = select(p.c.id, p.c.source, p.c.context, p.c.text).order_by(p.c.source.collate("C"), p.c.ord)
        return [(r[0], r[1], keyword_text(r[2], r[3])) for r in self._rows(query)]

    # -- runs -------------------------------------------------------------------------------
    def record_run(self, started_at: float, seconds: float, report: dict[str, object],
                   settings: dict[str, object]) -> None:
        """Append one ingest run to the history."""
        self._rows(self._t.runs.insert().values(started_at=started_at, seconds=seconds, report=json.dumps(report),
                                                settings=json.dumps(settings, default=str)))

    def last_runs(self, limit: int = 5) -> list[dict[str, object]]:
        """The most recent ingest runs, newest first."""
        r = self._t.runs
        rows = self._rows(select(r.c.started_at, r.c.seconds, r.c.report, r.c.settings)
                          .order_by(r.c.id.desc()).limit(limit))
        return [{"started_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row[0])),
                 "seconds": round(row[1], 2), **json.loads(row[2]), "settings": json.loads(row[3])}
                for row in rows]


class _SqlWrite:
    """The writes of one open catalog transaction (see ``SqlCatalog.transaction``)."""

    def __init__(self, conn: Connection, tables: _Tables, companions: Sequence[PassageWriter] = ()) -> None:
        self._conn = conn
        self._t = tables
        self._companions = companions

    def replace_document(self, record: DocumentRecord, rows: Iterable[StoredPassage]) -> None:
        """Drop the document's old passages, write the new ones."""
        p, d = self._t.passages, self._t.documents
        stored = list(rows)
        values = [{"id": r.passage_id, "source": r.passage.source, "ord": r.ord, "start": r.passage.start,
                   "end": r.passage.end, "page": r.passage.page, "section": r.passage.section,
                   "item": r.passage.item, "kind": r.passage.kind, "text": r.passage.text,
                   "context": r.passage.context, "answer_id": r.answer_id, "dense": r.dense} for r in stored]
        document = {c.name: getattr(record, c.name) for c in d.c}
        if any("\x00" in v for row in [document, *values] for v in row.values() if isinstance(v, str)):
            raise StoreError(f"{record.source}: its text holds NUL characters, which PostgreSQL cannot store")
        self._conn.execute(delete(p).where(p.c.source == record.source))
        if values:
            passages = insert(p)
            self._conn.execute(passages.on_conflict_do_update(  # as SQLite's INSERT OR REPLACE
                index_elements=[p.c.id], set_={c.name: passages.excluded[c.name] for c in p.c if c.name != "id"}),
                values)
            for companion in self._companions:
                companion(self._conn, [r.passage_id for r in stored],
                          [keyword_text(r.passage.context, r.passage.text) for r in stored])
        documents = insert(d).values(document)
        self._conn.execute(documents.on_conflict_do_update(
            index_elements=[d.c.source], set_={c.name: documents.excluded[c.name] for c in d.c if c.name != "source"}))

    def set_dates(self, dates: Mapping[str, str | None]) -> None:
        """Record the dates documents state (metadata read again)."""
        d = self._t.documents
        if dates:
            self._conn.execute(update(d).where(d.c.source == bindparam("b_source")).values(date=bindparam("b_date")),
                               [{"b_source": source, "b_date": date} for source, date in dates.items()])

    def remove_document(self, source: str) -> None:
        """Forget a document and its passages."""
        self._conn.execute(delete(self._t.passages).where(self._t.passages.c.source == source))
        self._conn.execute(delete(self._t.documents).where(self._t.documents.c.source == source))

    def move_document(self, old: str, new: str, mtime: float, new_ids: Mapping[str, str]) -> None:
        """Re-point a renamed document and give its passages new ids.

        ``new_ids`` maps each old passage id to the one the new path gives: ids hash the source,
        and a file later created at the old path must not collide with the moved passages.
        """
        p, d = self._t.passages, self._t.documents
        self._conn.execute(update(d).where(d.c.source == old).values(source=new, mtime=mtime))
        moves = [{"b_old": pid, "b_id": new_ids[pid], "b_answer": new_ids.get(answer, answer) if answer else None}
                 for pid, answer in self._conn.execute(select(p.c.id, p.c.answer_id).where(p.c.source == old))]
        if moves:
            self._conn.execute(update(p).where(p.c.id == bindparam("b_old")).values(
                id=bindparam("b_id"), source=new, answer_id=bindparam("b_answer")), moves)


def _engine(url: URL, shown: str) -> Engine:
    """The connection pool; a driver that is not installed is a ConfigError saying what to install."""
    try:
        return create_engine(url, pool_pre_ping=True)  # a replica outlives a database restart
    except (ImportError, NoSuchModuleError) as e:
        raise ConfigError(f"catalog_url {shown} needs its database driver: pip install 'vraagbaak[shared]' "
                          f"(psycopg for postgresql+psycopg://) [{e}]") from e


def _fetch(conn: Connection, statement: Executable,
           params: Sequence[Mapping[str, Any]] | None) -> list[tuple[Any, ...]]:
    result = conn.execute(statement, params) if params else conn.execute(statement)
    return [tuple(row) for row in result] if result.returns_rows else []


def _row(row: tuple[Any, ...]) -> StoredPassage:
    (pid, source, ord_, start, end, page, section, item, kind, text, context, answer_id, dense,
     title, doc_type) = row
    passage = Passage(source=source, start=start, end=end, text=text, page=page, section=section,
                      item=item, kind=kind, context=context, title=title, doc_type=doc_type)
    return StoredPassage(passage, pid, ord_, bool(dense), answer_id)
