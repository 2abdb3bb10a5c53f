"""The shared catalog against a real PostgreSQL (initdb in a temp dir, on a Unix socket of its own):
the same behaviour tests run on SqliteCatalog and SqlCatalog, the advisory writer lock, two replicas
sharing one catalog and one `chroma run` server, and an ingest killed mid-transaction repaired."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from assistant.assistant import Assistant
from assistant.settings import Settings
from tests.conftest import SEED_QUESTION
from tests.fakes import FakeEmbedder
from tests.servers import SUPERUSER
from tests.store_view import catalog_of, data_dir_of, dense_of
from tests.test_incremental import finds_seed_answer, index_state
from values.document import DocumentRecord, StoredPassage
from values.errors import ConfigError, StoreError
from values.passage import Passage
from values.text import Tokenizer
from vectorstore.catalog import Catalog
from vectorstore.sql_catalog import SqlCatalog, lock_key, table_prefix
from vectorstore.sqlite_catalog import SqliteCatalog
from vraagbaak.compose import build_index, make_catalog

pytestmark = pytest.mark.slow

# -- conformance: the same tests on both catalogs ----------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def open_catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Catalog]]:
    """Opens a handle on one store (a fresh one per test): every call another handle, as another process would."""
    opened: list[Catalog] = []
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None

    def open_() -> Catalog:
        catalog: Catalog = (SqliteCatalog(tmp_path / "catalog.sqlite3") if url is None
                            else SqlCatalog(url, "vraagbaak"))
        opened.append(catalog)
        return catalog

    yield open_
    for catalog in opened:
        catalog.close()


@pytest.fixture
def catalog(open_catalog: Callable[[], Catalog]) -> Catalog:
    return open_catalog()


def document(source: str, n: int, *, mtime: float = 1712345678.123456, title: str = "Titel") -> tuple[
        DocumentRecord, list[StoredPassage]]:
    """A document of ``n`` passages: every third keyword-only, the second redirecting to the third."""
    passages = [Passage(source=source, start=10 * i, end=10 * i + 7, text=f"tekst {i} van {Path(source).name}",
                        page=i or None, section="ANTWOORD" if i else None, item=str(i) if i else None,
                        kind="question" if i % 3 == 2 else "text", context="Context é" if i % 2 else "",
                        title=title, doc_type="txt") for i in range(n)]
    rows = [StoredPassage(p, p.passage_id, i, i % 3 != 2,
                          passages[2].passage_id if i == 1 and n > 2 else None) for i, p in enumerate(passages)]
    record = DocumentRecord(source, f"hash of {source}", title, "txt", None if n % 2 else "utf-8", 1234, mtime,
                            n, 1712345699.25, None)
    return record, rows


def write(catalog: Catalog, *documents: tuple[DocumentRecord, list[StoredPassage]]) -> None:
    with catalog.transaction() as tx:
        for record, rows in documents:
            tx.replace_document(record, rows)


def test_a_new_catalog_is_empty(catalog: Catalog) -> None:
    assert catalog.version == 0
    assert (catalog.documents(), catalog.document_count(), catalog.passage_count()) == ({}, 0, 0)
    assert catalog.passage_ids() == set() and catalog.keyword_rows() == [] and catalog.last_runs() == []
    assert catalog.get_meta("version") is None and catalog.passages_by_id(["nope"]) == {}


def test_a_written_document_reads_back_exactly(catalog: Catalog) -> None:
    record, rows = document("/docs/a.txt", 5)
    write(catalog, (record, rows))
    assert catalog.version == 1
    assert catalog.documents() == {record.source: record}  # floats, None and text round-trip exactly
    assert catalog.passages_of(record.source) == rows
    assert (catalog.document_count(), catalog.passage_count()) == (1, 5)
    assert catalog.passage_ids() == catalog.passage_ids(record.source) == {r.passage_id for r in rows}
    assert catalog.passage_ids(dense_only=True) == {r.passage_id for r in rows if r.dense}
    assert catalog.dense_ids_of([record.source, "/docs/other.txt"]) == {r.passage_id: record.source
                                                                        for r in rows if r.dense}
    assert catalog.passage_ids("/docs/other.txt") == set()
    wanted = [rows[3].passage_id, "gone", rows[0].passage_id, rows[3].passage_id]
    assert catalog.passages_by_id(wanted) == {rows[3].passage_id: rows[3], rows[0].passage_id: rows[0]}
    assert rows[1].answer_id == rows[2].passage_id and catalog.passages_by_id([rows[1].passage_id]) == {
        rows[1].passage_id: rows[1]}


def test_many_ids_are_read_in_chunks(catalog: Catalog) -> None:
    record, rows = document("/docs/big.txt", 1203)
    write(catalog, (record, rows))
    found = catalog.passages_by_id([r.passage_id for r in reversed(rows)])
    assert len(found) == 1203 and found[rows[1202].passage_id] == rows[1202]


def test_replacing_a_document_drops_its_old_passages(catalog: Catalog) -> None:
    write(catalog, document("/docs/a.txt", 5), document("/docs/b.txt", 2))
    record, rows = document("/docs/a.txt", 2, title="Nieuw")
    write(catalog, (record, rows))
    assert catalog.version == 2
    assert catalog.passages_of("/docs/a.txt") == rows and catalog.documents()["/docs/a.txt"] == record
    assert catalog.passage_count() == 4 and len(catalog.passages_of("/docs/b.txt")) == 2


def test_removing_a_document(catalog: Catalog) -> None:
    write(catalog, document("/docs/a.txt", 3), document("/docs/b.txt", 2))
    with catalog.transaction() as tx:
        tx.remove_document("/docs/a.txt")
        tx.remove_document("/docs/never-indexed.txt")
    assert set(catalog.documents()) == {"/docs/b.txt"} and catalog.passage_count() == 2
    assert catalog.passages_of("/docs/a.txt") == [] and catalog.version == 2


def test_moving_a_document_gives_its_passages_new_ids(catalog: Catalog) -> None:
    record, rows = document("/docs/a.txt", 4)
    write(catalog, (record, rows))
    new_ids = {r.passage_id: f"new-{r.ord}" for r in rows}
    with catalog.transaction() as tx:
        tx.move_document("/docs/a.txt", "/docs/moved.txt", 99.5, new_ids)
    assert set(catalog.documents()) == {"/docs/moved.txt"}
    assert catalog.documents()["/docs/moved.txt"].mtime == 99.5
    moved = catalog.passages_of("/docs/moved.txt")
    assert [r.passage_id for r in moved] == ["new-0", "new-1", "new-2", "new-3"]
    assert [r.passage.source for r in moved] == ["/docs/moved.txt"] * 4
    assert moved[1].answer_id == "new-2" and moved[0].answer_id is None
    assert [r.passage.text for r in moved] == [r.passage.text for r in rows]
    assert catalog.passages_by_id([rows[0].passage_id]) == {} and catalog.version == 2


def test_dates_are_set_in_one_transaction(catalog: Catalog) -> None:
    write(catalog, document("/docs/a.txt", 1), document("/docs/b.txt", 1))
    with catalog.transaction() as tx:
        tx.set_dates({"/docs/a.txt": "2017-03", "/docs/b.txt": None, "/docs/gone.txt": "2001"})
    documents = catalog.documents()
    assert (documents["/docs/a.txt"].date, documents["/docs/b.txt"].date) == ("2017-03", None)
    assert documents["/docs/a.txt"].year == 2017 and "/docs/gone.txt" not in documents


def test_a_failed_transaction_changes_nothing(catalog: Catalog) -> None:
    write(catalog, document("/docs/a.txt", 2))
    with pytest.raises(RuntimeError), catalog.transaction() as tx:
        tx.remove_document("/docs/a.txt")
        tx.replace_document(*document("/docs/b.txt", 3))
        raise RuntimeError("the embedder died")
    assert set(catalog.documents()) == {"/docs/a.txt"} and catalog.passage_count() == 2 and catalog.version == 1


def test_a_transaction_reads_its_own_writes(catalog: Catalog) -> None:
    """The index reads a document's old ids inside the transaction that replaces it."""
    with catalog.transaction() as tx:
        tx.replace_document(*document("/docs/a.txt", 3))
        assert len(catalog.passage_ids("/docs/a.txt")) == 3 and catalog.document_count() == 1
        with catalog.snapshot():  # joins the open transaction
            assert catalog.passage_count() == 3


def document_reads(catalog: Catalog) -> list[str]:
    """The statements that read every document, as this thread's handle sends them from now on."""
    seen: list[str] = []
    if isinstance(catalog, SqliteCatalog):
        catalog._db.set_trace_callback(lambda sql: seen.append(sql) if sql == "SELECT * FROM documents" else None)
    else:
        assert isinstance(catalog, SqlCatalog)
        sqlalchemy.event.listen(catalog._engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: (
            seen.append(sql) if sql.startswith("SELECT vb_vraagbaak_documents.source") else None))
    return seen


def test_the_documents_are_read_once_per_version_and_shared_read_only(catalog: Catalog) -> None:
    write(catalog, document("/docs/a.txt", 2))
    reads = document_reads(catalog)
    first = catalog.documents()
    assert catalog.documents() is first and len(reads) == 1
    with catalog.snapshot():
        assert catalog.documents() is first and len(reads) == 1
    with pytest.raises(TypeError):
        first["/docs/b.txt"] = first["/docs/a.txt"]  # type: ignore[index]
    write(catalog, document("/docs/b.txt", 1))
    second = catalog.documents()
    assert set(second) == {"/docs/a.txt", "/docs/b.txt"} and set(first) == {"/docs/a.txt"} and len(reads) == 2
    assert catalog.documents() is second and len(reads) == 2


def test_a_commit_by_another_handle_gives_fresh_documents(open_catalog: Callable[[], Catalog]) -> None:
    """Another process's commit bumps the version in the database: the next read sees it."""
    reader, writer = open_catalog(), open_catalog()
    write(writer, document("/docs/a.txt", 1))
    reads = document_reads(reader)
    assert set(reader.documents()) == {"/docs/a.txt"}
    write(writer, document("/docs/b.txt", 1))
    assert set(reader.documents()) == {"/docs/a.txt", "/docs/b.txt"} and len(reads) == 2
    with writer.transaction() as tx:
        tx.remove_document("/docs/a.txt")
    assert set(reader.documents()) == {"/docs/b.txt"} and len(reads) == 3


def test_a_snapshot_gets_its_own_versions_documents_while_other_threads_read_newer(
        open_catalog: Callable[[], Catalog]) -> None:
    catalog, writer = open_catalog(), open_catalog()
    write(writer, document("/docs/a.txt", 1))
    pinned, go_on = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def old_reader() -> None:
        with catalog.snapshot():
            seen["version"] = catalog.version  # the first read pins the snapshot
            pinned.set()
            go_on.wait(10)
            seen["documents"] = set(catalog.documents())

    thread = threading.Thread(target=old_reader)
    thread.start()
    try:
        assert pinned.wait(10)
        write(writer, document("/docs/b.txt", 1))
        assert set(catalog.documents()) == {"/docs/a.txt", "/docs/b.txt"}  # the shared copy is version 2's now
    finally:
        go_on.set()
        thread.join()
    assert seen == {"version": 1, "documents": {"/docs/a.txt"}}
    assert set(catalog.documents()) == {"/docs/a.txt", "/docs/b.txt"}


def test_a_transaction_reads_its_own_documents_and_leaves_no_stale_copy(catalog: Catalog) -> None:
    write(catalog, document("/docs/a.txt", 1))
    before = catalog.documents()
    with catalog.transaction() as tx:
        tx.replace_document(*document("/docs/b.txt", 1))
        assert set(catalog.documents()) == {"/docs/a.txt", "/docs/b.txt"}  # same version number, not yet bumped
    assert set(before) == {"/docs/a.txt"} and set(catalog.documents()) == {"/docs/a.txt", "/docs/b.txt"}
    after = catalog.documents()
    with pytest.raises(RuntimeError), catalog.transaction() as tx:
        tx.remove_document("/docs/a.txt")
        assert set(catalog.documents()) == {"/docs/b.txt"}
        raise RuntimeError("the embedder died")
    assert catalog.documents() is after


def test_meta_values_are_stored_at_once_for_every_handle(open_catalog: Callable[[], Catalog]) -> None:
    one, other = open_catalog(), open_catalog()
    one.set_meta("writer", "dirty")
    one.set_meta("writer", "finished")
    one.set_meta("calibration", '{"a": 1}')
    assert other.get_meta("writer") == "finished" and other.get_meta("calibration") == '{"a": 1}'
    assert other.get_meta("missing") is None and other.version == 0  # meta alone is no commit


def test_every_commit_bumps_the_version_once_for_every_handle(open_catalog: Callable[[], Catalog]) -> None:
    one, other = open_catalog(), open_catalog()
    for n in range(1, 4):
        write(one, document(f"/docs/{n}.txt", 1))
        assert one.version == other.version == n
    with one.transaction():
        pass  # an empty commit is a commit too
    assert other.version == 4


def test_runs_newest_first(catalog: Catalog) -> None:
    for n in range(7):
        catalog.record_run(1700000000.0 + n, 1.23456 * n, {"added": n, "failed": []}, {"path": Path(f"/p{n}")})
    runs = catalog.last_runs()
    assert [r["added"] for r in runs] == [6, 5, 4, 3, 2] and len(catalog.last_runs(10)) == 7
    assert runs[0]["seconds"] == 7.41 and runs[0]["settings"] == {"path": "/p6"} and runs[0]["failed"] == []
    assert runs[0]["started_at"] == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1700000006.0))


def test_keyword_rows_in_code_point_order_with_context(catalog: Catalog) -> None:
    sources = ["/docs/é.txt", "/docs/b.txt", "/docs/B.txt", "/docs/a b.txt", "/docs/Z.txt"]
    write(catalog, *(document(s, 3) for s in sources))
    rows = catalog.keyword_rows()
    assert [r[1] for r in rows] == [s for s in sorted(sources) for _ in range(3)]
    first = catalog.passages_of(sorted(sources)[0])
    assert rows[:3] == [(r.passage_id, r.passage.source, r.passage.embed_text) for r in first]
    assert rows[1][2].startswith("Context é\n")


def test_a_snapshot_keeps_one_committed_state(open_catalog: Callable[[], Catalog]) -> None:
    reader, writer = open_catalog(), open_catalog()
    write(writer, document("/docs/a.txt", 2))
    with reader.snapshot():
        assert reader.version == 1
        write(writer, document("/docs/b.txt", 3))
        assert writer.version == 2  # committed
        assert reader.version == 1 and set(reader.documents()) == {"/docs/a.txt"} and reader.passage_count() == 2
        assert reader.keyword_rows() == [r for r in reader.keyword_rows() if r[1] == "/docs/a.txt"]
    assert reader.version == 2 and reader.passage_count() == 5


def test_a_reader_never_sees_an_open_transaction(open_catalog: Callable[[], Catalog]) -> None:
    catalog = open_catalog()
    write(catalog, document("/docs/a.txt", 3))
    inside, release = threading.Event(), threading.Event()

    def remove() -> None:
        with catalog.transaction() as tx:
            tx.remove_document("/docs/a.txt")
            inside.set()
            release.wait(10)

    writer = threading.Thread(target=remove)
    writer.start()
    try:
        assert inside.wait(10)
        for reader in (catalog, open_catalog()):  # another thread of this process, another handle
            assert len(reader.passages_of("/docs/a.txt")) == 3 and reader.version == 1
    finally:
        release.set()
        writer.join()
    assert catalog.passages_of("/docs/a.txt") == [] and catalog.version == 2


def test_the_writer_lock_excludes_a_second_writer(open_catalog: Callable[[], Catalog]) -> None:
    one, other = open_catalog(), open_catalog()
    with one.writer_lock():
        with one.writer_lock(wait=False):  # re-entrant in the holder's thread
            pass
        with pytest.raises(StoreError, match="another ingest is running"), other.writer_lock(wait=False):
            pytest.fail("two writers at once")
    with other.writer_lock(wait=False):  # released
        pass


def test_a_failed_write_releases_the_lock(open_catalog: Callable[[], Catalog]) -> None:
    one, other = open_catalog(), open_catalog()
    with pytest.raises(RuntimeError), one.writer_lock():
        raise RuntimeError("ingest failed")
    with other.writer_lock(wait=False):
        pass


# -- the PostgreSQL catalog's own ---------------------------------------------------------------
def test_the_lock_is_re_entrant_in_a_thread_only_and_a_thread_takes_it_alone(pg_url: str) -> None:
    catalog = SqlCatalog(pg_url, "vraagbaak")
    errors: list[BaseException] = []

    def try_lock() -> None:
        try:
            with catalog.writer_lock(wait=False):
                pass
        except StoreError as e:
            errors.append(e)

    with catalog.writer_lock():
        thread = threading.Thread(target=try_lock)
        thread.start()
        thread.join(10)
    assert len(errors) == 1, "another thread of the same process is another writer"
    catalog.close()


def waiting_for_advisory_lock(url: str) -> int:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as db:
            return int(db.execute(sqlalchemy.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar_one())
    finally:
        engine.dispose()


def test_a_waiting_writer_goes_on_when_the_holder_lets_go(pg_url: str) -> None:
    first, second = SqlCatalog(pg_url, "vraagbaak"), SqlCatalog(pg_url, "vraagbaak")
    order: list[str] = []

    def wait_for_lock() -> None:
        with second.writer_lock():
            order.append("second")

    with first.writer_lock():
        waiter = threading.Thread(target=wait_for_lock)
        waiter.start()
        deadline = time.monotonic() + 30
        while not waiting_for_advisory_lock(pg_url):  # the server shows the second writer queued
            assert time.monotonic() < deadline and waiter.is_alive()
            time.sleep(0.05)
        order.append("first")
    waiter.join(30)
    assert order == ["first", "second"]
    first.close()
    second.close()


HOLDER = r'''
import sys, time
from vectorstore.sql_catalog import SqlCatalog
with SqlCatalog(sys.argv[1], sys.argv[2]).writer_lock():
    print("held", flush=True)
    time.sleep(600)
'''


def test_the_lock_dies_with_the_holders_connection(pg_url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, pg_url, "vraagbaak"], stdout=subprocess.PIPE, text=True)
    catalog = SqlCatalog(pg_url, "vraagbaak")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match="another ingest is running"), catalog.writer_lock(wait=False):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)  # kill -9: no unlock, no goodbye to the server
        holder.wait(30)
    deadline = time.monotonic() + 30
    while True:  # the server notices the closed socket and drops the session's locks
        try:
            with catalog.writer_lock(wait=False):
                break
        except StoreError:
            assert time.monotonic() < deadline, "the dead holder's lock was never released"
            time.sleep(0.05)
    catalog.close()


def test_collections_have_their_own_tables_and_locks(pg_url: str) -> None:
    one, other = SqlCatalog(pg_url, "vraagbaak"), SqlCatalog(pg_url, "Kamer-2017")
    write(one, document("/docs/a.txt", 2))
    assert other.document_count() == 0 and other.version == 0 and one.version == 1
    with one.writer_lock(), other.writer_lock(wait=False):  # two indexes never block each other
        pass
    tables = set(sqlalchemy.inspect(sqlalchemy.create_engine(pg_url)).get_table_names())
    assert {"vb_vraagbaak_meta", "vb_vraagbaak_documents", "vb_vraagbaak_passages", "vb_vraagbaak_runs"} <= tables
    assert {t for t in tables if not t.startswith("vb_vraagbaak_")} == {
        f"{table_prefix('Kamer-2017')}_{name}" for name in ("meta", "documents", "passages", "runs")}
    one.close()
    other.close()


def test_table_names_stay_apart_and_within_postgresql_limits() -> None:
    assert table_prefix("vraagbaak") == "vb_vraagbaak"
    assert table_prefix("a-b") != table_prefix("a_b") != table_prefix("A_b")
    long = table_prefix("x" * 500)
    assert len(f"{long}_passages_source") <= 63 and long != table_prefix("x" * 499)
    assert lock_key("a") != lock_key("b") and -(2 ** 63) <= lock_key("vraagbaak") < 2 ** 63


def test_two_handles_creating_the_tables_at_once(pg_url: str) -> None:
    opened: list[SqlCatalog] = []
    errors: list[BaseException] = []

    def open_() -> None:
        try:
            opened.append(SqlCatalog(pg_url, "samen"))
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            errors.append(e)

    threads = [threading.Thread(target=open_) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(opened) == 6
    for catalog in opened:
        catalog.close()


def test_an_unreachable_database_is_named_without_its_password(postgres: Path, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"catalog database postgresql\+psycopg://vraagbaak:\*\*\*@") as e:
        SqlCatalog(f"postgresql+psycopg://vraagbaak:geheim@/nowhere?host={tmp_path}", "vraagbaak")
    assert "geheim" not in str(e.value) and "VRAAGBAAK_CATALOG_URL" in str(e.value)
    with pytest.raises(StoreError, match="does not exist") as e:  # the server is up, the database is not
        SqlCatalog(f"postgresql+psycopg://{SUPERUSER}:geheim@/missing?host={postgres}", "vraagbaak")
    assert "geheim" not in str(e.value)


def test_urls_that_are_no_postgresql_database_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not a database URL"):
        SqlCatalog("localhost:5432", "vraagbaak")
    with pytest.raises(ConfigError, match="is PostgreSQL"):
        SqlCatalog("sqlite:///catalog.db", "vraagbaak")
    with pytest.raises(ConfigError, match=r"vraagbaak\[shared\]"):
        SqlCatalog("postgresql+nosuchdriver://u@h/db", "vraagbaak")


def test_a_missing_driver_or_sqlalchemy_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigError, match=r"driver: pip install 'vraagbaak\[shared\]'"):
        SqlCatalog("postgresql+psycopg://u@h/db", "vraagbaak")
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    monkeypatch.delitem(sys.modules, "vectorstore.sql_catalog")
    with pytest.raises(ConfigError, match=r"needs SQLAlchemy 2 and psycopg: pip install 'vraagbaak\[shared\]'"):
        make_catalog(Settings(catalog_url="postgresql+psycopg://u@h/db"))


def test_text_postgresql_cannot_store_is_named(pg_url: str) -> None:
    catalog = SqlCatalog(pg_url, "vraagbaak")
    record, rows = document("/docs/a.txt", 1)
    bad = StoredPassage(Passage(source=record.source, start=0, end=3, text="a\x00b"), "id", 0, True, None)
    with pytest.raises(StoreError, match="/docs/a.txt: .*NUL"), catalog.transaction() as tx:
        tx.replace_document(record, [bad])
    assert catalog.version == 0
    catalog.close()


def test_settings_choose_the_catalog(make_settings: Callable[..., Settings], pg_url: str) -> None:
    embedded = make_catalog(make_settings())
    assert isinstance(embedded, SqliteCatalog)
    embedded.close()
    shared = make_catalog(make_settings(catalog_url=pg_url, collection="kamer"))
    assert isinstance(shared, SqlCatalog) and shared.collection == "kamer"
    shared.close()
    # a shared catalog beside vectors in one replica's data dir would be two indexes that disagree
    with pytest.raises(ConfigError, match="set chroma_host"):
        build_index(make_settings(catalog_url=pg_url), FakeEmbedder(), FakeEmbedder.dimension, Tokenizer())


# -- replicas ------------------------------------------------------------------------------------
NEW_DOC = ("Vraag\nHoeveel kost de nieuwe kabelbaan over de Maas in Namen?\n\n"
           "Antwoord\nDe kabelbaan over de Maas in Namen kost 12 miljoen euro en opent in 2027.\n")
NEW_QUESTION = "Wat kost de kabelbaan over de Maas in Namen?"


@pytest.fixture
def shared(pg_url: str, chroma_server: int) -> dict[str, Any]:
    """Settings every replica of one deployment shares: the catalog database and the Chroma server."""
    return {"catalog_url": pg_url, "chroma_host": "127.0.0.1", "chroma_port": chroma_server,
            "collection": f"t{uuid.uuid4().hex[:12]}"}


@pytest.mark.parametrize("engine", ["postgres-bm25", "postgres", "bm25s"])
def test_two_replicas_see_each_others_writes(make_assistant: Callable[..., Assistant], docs: Path,
                                             shared: dict[str, Any], tmp_path: Path, engine: str) -> None:
    a = make_assistant(data_dir=tmp_path / "a", keyword_engine=engine, **shared)
    b = make_assistant(data_dir=tmp_path / "b", keyword_engine=engine, **shared)
    assert b.readiness() is not None  # up before anything is indexed: empty
    assert a.ingest([docs]).added == 7
    answer = b.ask(SEED_QUESTION)  # no restart: B's keyword index is rebuilt from the shared catalog
    assert answer.answered and "75.000 euro" in answer.citations[0].hit.passage.text
    assert answer.index_version == a.index_version == b.index_version > 0

    (docs / "kabelbaan.txt").write_text(NEW_DOC, encoding="utf-8")
    assert a.ingest([docs]).added == 1
    assert b.search(NEW_QUESTION)[0].passage.source == str(docs / "kabelbaan.txt")
    assert b.ask(NEW_QUESTION).index_version == a.index_version
    assert b.remove(docs / "kabelbaan.txt") == 1  # and the other way round
    assert all(h.passage.source != str(docs / "kabelbaan.txt") for h in a.search(NEW_QUESTION))
    assert a.status()["documents"] == b.status()["documents"] == 7 and len(a.status()["runs"]) == 2

    with a.index.writing(), pytest.raises(StoreError, match="another ingest is running"), b.index.writing(wait=False):
        pass
    for replica in (a, b):  # a replica's data dir holds at most its bm25s index, nothing another replica needs
        kept = {p.name for p in data_dir_of(replica).iterdir()} if data_dir_of(replica).exists() else set()
        assert kept == ({"keyword"} if engine == "bm25s" else set())
        index_state(replica)


# Ingests through the real composition with the FakeEmbedder, killing itself (SIGKILL) right after
# the nth document written inside an open catalog transaction; small batches commit several times.
CHILD = r'''
import os, signal, sys
import ingest.pipeline
from assistant.settings import Settings
from tests.fakes import build
from vectorstore.sql_catalog import _SqlWrite

ingest.pipeline._BATCH_PASSAGES = 8
nth, calls, original = int(sys.argv[1]), [0], _SqlWrite.replace_document

def replace_document(self, *args):
    original(self, *args)
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)

_SqlWrite.replace_document = replace_document
build(Settings()).ingest([sys.argv[2]])
'''


def test_an_ingest_killed_mid_transaction_is_repaired_by_the_next(
        make_assistant: Callable[..., Assistant], docs: Path, shared: dict[str, Any], tmp_path: Path,
        embedding_cache: Path) -> None:
    env = {**os.environ, **{f"VRAAGBAAK_{k.upper()}": str(v) for k, v in shared.items()},
           "VRAAGBAAK_EMBEDDER": FakeEmbedder.name, "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(embedding_cache),
           "VRAAGBAAK_DATA_DIR": str(tmp_path / "killed")}
    child = subprocess.run([sys.executable, "-c", CHILD, "3", str(docs)], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, f"the kill point was never reached: {child.stderr[-2000:]}"

    partial = make_assistant(data_dir=tmp_path / "replica", **shared)  # another replica looks
    catalog = catalog_of(partial)
    assert 1 <= catalog.document_count() < 7, "the kill must have cut the run short after a commit"
    for source, record in catalog.documents().items():  # the open transaction was rolled back whole
        assert len(catalog.passages_of(source)) == record.passages
    assert catalog.passage_ids(dense_only=True) < dense_of(partial).ids(), "the killed batch left orphan vectors"
    assert catalog.get_meta("writer") == "dirty"

    committed = catalog.document_count()
    report = partial.ingest([docs])  # waits for the server to drop the dead writer's lock, then repairs
    assert not report.failed and (report.added, report.unchanged) == (7 - committed, committed)
    clean = make_assistant(data_dir=tmp_path / "clean", **{**shared, "collection": shared["collection"] + "-clean"})
    clean.ingest([docs])
    assert index_state(partial) == index_state(clean)  # no duplicate, no orphan, nothing half
    assert partial.index.vector_count() == clean.index.vector_count()
    assert catalog.get_meta("writer") == "finished" and finds_seed_answer(partial)


def test_the_cli_does_not_call_a_replica_on_a_shared_catalog_empty(tmp_path: Path) -> None:
    from values.errors import StoreError
    from vraagbaak.cli import require_index

    with pytest.raises(StoreError, match="empty"):
        require_index(Settings(data_dir=tmp_path / "local"))
    # the catalog of a replica lives in its database, not in its (empty) data dir
    require_index(Settings(data_dir=tmp_path / "replica", catalog_url="postgresql+psycopg://db.example/vraagbaak",
                           chroma_host="chroma.example"))
    assert not (tmp_path / "replica").exists()
