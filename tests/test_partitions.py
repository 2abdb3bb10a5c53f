"""The dense leg partitioned by document year (``dense_partition="year"``), embedded and over a real `chroma run`.

A partitioned index must find what one collection finds (same passages, same order) for
unscoped and scoped questions, ask only the partitions of a scope's years, and stay in step
with the catalog through every write: a date that changes, a removal, a rename, a rebuild, a
crash between the vectors and the catalog.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.assistant import Assistant
from assistant.scope import Scope, ScopeError
from tests.conftest import SEED, SMALL_SET
from tests.servers import chroma_run
from tests.store_view import catalog_of, dense_of
from vectorstore import partitions
from vectorstore.chroma import DenseStore
from vectorstore.partitions import PartitionedDenseStore, partition_of
from vectorstore.sqlite_catalog import SqliteCatalog

pytestmark = pytest.mark.slow

YEARS = [2015, 2016, 2016, 2017, 2018, None]  # one per Chamber document; None: its date line dropped
QUESTIONS = ["Hoeveel projectsubsidie ontvangt OTA van WVG?", "Welke maatregelen neemt de minister?",
             "Wat is de budgettaire impact?", "ongeregeldheden in Boma", "hoeveel voertuigen heeft de politie"]


def dated_docs(folder: Path) -> Path:
    """The seed document (undated) and six Chamber questions re-dated over four years, two in a sub-folder."""
    folder.mkdir()
    shutil.copy(SEED, folder)
    (folder / "sub").mkdir()
    for n, (path, year) in enumerate(zip(SMALL_SET, YEARS, strict=True)):
        text = path.read_text(encoding="utf-8")
        assert "Datum indiening: 2017-" in text
        text = text.replace("Datum indiening: 2017-", f"Datum indiening: {year}-" if year else "Ingediend: ")
        (folder / ("sub" if n % 3 == 0 else ".") / path.name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(params=["embedded", "server"])
def pair(request: pytest.FixtureRequest, make_assistant: Callable[..., Assistant],
         tmp_path: Path) -> Iterator[tuple[Assistant, Assistant, Path]]:
    """One collection and a partitioned one over the same documents: embedded, or in one `chroma run`."""
    docs = dated_docs(tmp_path / "docs")
    with chroma_run(tmp_path / "server") if request.param == "server" else _nothing() as port:
        server: dict[str, Any] = {"chroma_host": "127.0.0.1", "chroma_port": port} if port else {}
        single = make_assistant(data_dir=tmp_path / "single", collection="single", **server)
        parted = make_assistant(data_dir=tmp_path / "parted", collection="parted", dense_partition="year", **server)
        for a in (single, parted):
            a.ingest([docs])
        yield single, parted, docs


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def partitioned(a: Assistant) -> PartitionedDenseStore:
    dense = dense_of(a)
    assert isinstance(dense, PartitionedDenseStore)
    return dense  # type: ignore[return-value]


def in_step(a: Assistant) -> None:
    """Every committed dense passage has exactly one vector, in its document's year's partition; no other vector."""
    catalog = catalog_of(a)
    dense = partitioned(a)
    dense.reopen()  # what a new process sees
    want = {}
    for source, record in catalog.documents().items():
        for pid in catalog.passage_ids(source, dense_only=True):
            want[pid] = partition_of(record.year)
    got: dict[str, str] = {}
    for part, store in dense._parts.items():
        for pid in store._collection.get(include=[])["ids"]:
            assert pid not in got, f"{pid} in partitions {got[pid]} and {part}"
            got[pid] = part
    assert got == want
    assert a.index.vector_count() == len(want) > 0


def scopes(a: Assistant, docs: Path) -> list[Scope]:
    chamber = sorted(str(p) for p in docs.glob("*.txt") if p.name.startswith("bekamer"))
    return [Scope(), Scope.of(years=[2016]), Scope.of(years=[2015, 2018]), Scope.of(paths=[chamber[0]]),
            Scope.of(paths=[str(docs / "sub")]), Scope.of(paths=[str(docs / "sub")], years=[2017]),
            Scope.of(types=["txt"], years=[2017, 2016])]


def ranked(a: Assistant, question: str, scope: Scope) -> tuple[list[tuple[str, float]], list[str]]:
    """The dense leg's (id, similarity) top 40 and the fused retrieval's ids, for ``question`` in ``scope``."""
    sources = a.select(scope)
    vector = a.retriever.embedder.embed_query(question)
    dense = [(h.passage_id, round(h.similarity, 5)) for h in a.index.search_dense(vector, 40, sources)]
    return dense, [h.passage_id for h in a.retriever.retrieve(question, sources=sources).hits]


PATHS = {  # exact_max, deep_max, ids_max, how shallow the first search is (partitions._ROOM)
    "exact": (2000, 0, 0, 1.5),  # every scope here scored in the app
    "filter": (0, 0, 0, 1.5),  # Chroma's filter in each partition
    "ids": (0, 0, 10**6, 1.5),  # each partition's search restricted to the scope's ids in it
    "deeper": (0, 10_000, 0, 1.5),  # searched unfiltered, deeper, keeping the scope's own
    "deepening": (0, 10_000, 0, 0.01),  # so shallow at first that a partition is searched again, 4x deeper
    "too-shallow": (0, 2, 0, 0.01),  # ... and past deep_max asked again through the filter
    "by-share": (0, 10_000, 10**6, 1.5),  # by the share of a partition a scope holds (deep_share), as by default
}


@pytest.mark.parametrize("path", list(PATHS))
def test_same_passages_as_one_collection(pair: tuple[Assistant, Assistant, Path], path: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each way of searching a scope's partitions (``PATHS``) finds what one collection finds."""
    single, parted, docs = pair
    dense = partitioned(parted)
    dense.exact_max, dense.deep_max, dense.ids_max, room = PATHS[path]
    if path != "by-share":
        dense.deep_share = 0  # the paths as named, whatever share of a partition a scope holds
    monkeypatch.setattr(partitions, "_ROOM", room)
    planned_depths: set[int] = set()
    calls = {"deeper": 0, "deepened": 0, "filter": 0, "ids": 0}
    plan, search, search_ids = PartitionedDenseStore._plan, DenseStore.search, DenseStore.search_ids

    def planned(self: PartitionedDenseStore, *args: Any) -> Any:
        job = plan(self, *args)
        calls["deeper"] += job.depth > 0
        planned_depths.add(job.depth)
        return job

    def searched(self: DenseStore, vector: list[float], n: int, sources: list[str] | None = None) -> Any:
        if self._name.startswith("parted."):  # not the one collection's
            calls["filter"] += bool(sources)
            calls["deepened"] += not sources and n not in planned_depths and n != 40  # 40: a whole partition's
        return search(self, vector, n, sources)

    def searched_ids(self: DenseStore, *args: Any) -> Any:
        calls["ids"] += 1
        return search_ids(self, *args)

    monkeypatch.setattr(PartitionedDenseStore, "_plan", planned)
    monkeypatch.setattr(DenseStore, "search", searched)
    monkeypatch.setattr(DenseStore, "search_ids", searched_ids)
    assert set(dense._parts) == {"2015", "2016", "2017", "2018", "undated"}
    for scope in scopes(single, docs):
        for question in QUESTIONS:
            want_dense, want_hits = ranked(single, question, scope)
            got_dense, got_hits = ranked(parted, question, scope)
            # equal similarities may come in either order from HNSW: compare by (similarity, id)
            assert sorted(got_dense, key=lambda h: (-h[1], h[0])) == sorted(want_dense, key=lambda h: (-h[1], h[0]))
            assert got_hits == want_hits, (scope, question)
            assert got_dense and want_dense
    if path == "by-share":  # ids or deeper, partition by partition: the same passages is what counts
        assert calls["ids"] + calls["deeper"] > 0
        return
    assert (calls["deeper"] > 0) == (path in ("deeper", "deepening", "too-shallow"))
    assert (calls["deepened"] > 0) == (path == "deepening")
    assert (calls["filter"] > 0) == (path in ("filter", "too-shallow"))
    assert (calls["ids"] > 0) == (path == "ids")


def test_a_year_asks_only_its_partition(pair: tuple[Assistant, Assistant, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, parted, docs = pair
    asked: list[str] = []
    for name in ("search", "vectors"):
        original = getattr(DenseStore, name)

        def spy(self: DenseStore, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            asked.append(self._name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(DenseStore, name, spy)
    dense = partitioned(parted)
    for exact_max in (2000, 0):
        dense.exact_max = exact_max
        asked.clear()
        parted.retriever.retrieve(QUESTIONS[1], sources=Scope.of(years=[2016]).select(parted.documents()))
        assert asked == ["parted.2016"]
        asked.clear()
        parted.retriever.retrieve(QUESTIONS[1], sources=Scope.of(years=[2015, 2018]).select(parted.documents()))
        assert sorted(asked) == ["parted.2015", "parted.2018"]
        asked.clear()
        parted.retriever.retrieve(QUESTIONS[1], sources=parted.select(Scope.of(paths=[str(docs / "sub")])))
        assert sorted(set(asked)) == ["parted.2015", "parted.2017"]  # each once, or twice when searched too shallow
    asked.clear()
    parted.retriever.retrieve(QUESTIONS[1])
    assert sorted(asked) == ["parted.2015", "parted.2016", "parted.2017", "parted.2018", "parted.undated"]


def test_the_first_scoped_question_after_a_commit_reads_the_documents_once(
        make_assistant: Callable[..., Assistant], tmp_path: Path) -> None:
    """The scope and the partitions' layout share the catalog's documents (0.94 s a read at 1M passages)."""
    docs = dated_docs(tmp_path / "docs")
    a = make_assistant(dense_partition="year")
    a.ingest([docs])
    catalog = catalog_of(a)
    assert isinstance(catalog, SqliteCatalog)
    reads: list[str] = []
    catalog._db.set_trace_callback(lambda sql: reads.append(sql) if sql == "SELECT * FROM documents" else None)
    undated = next(r.source for r in a.documents().values() if r.year is None)
    with a.index.writing():
        a.index.set_dates({undated: "2016-04-01"})  # a commit, moving a document into the scope
    reads.clear()
    scope = Scope.of(years=[2016])
    for question in QUESTIONS[:2]:
        hits = a.search(question, k=3, scope=scope)
        assert hits and {h.passage.source for h in hits} <= set(a.select(scope) or ())
    assert undated in (a.select(scope) or ()) and len(reads) == 1


def deeper_is_filtered(a: Assistant, scope: Scope) -> None:
    """Searching a scope's partitions deeper finds what the filter finds: its id -> source map is of this version."""
    dense = partitioned(a)
    vector = a.retriever.embedder.embed_query(QUESTIONS[1])
    found = []
    dense.deep_share = 0
    for dense.exact_max, dense.deep_max, dense.ids_max in ((0, 10_000, 0), (0, 0, 0)):
        hits = a.index.search_dense(vector, 40, a.select(scope))
        found.append([(h.passage_id, round(h.similarity, 5)) for h in hits])
    assert found[0] == found[1] and found[0]
    assert dense._owners[0] == a.index.version and dense._owners[1], "a partition was searched deeper"


def test_writes_leave_no_orphan(pair: tuple[Assistant, Assistant, Path]) -> None:
    _, parted, docs = pair
    in_step(parted)
    undated = docs / SMALL_SET[5].name  # with the seed in the undated partition: a part of it in scope
    deeper_is_filtered(parted, Scope.of(paths=[str(undated), str(docs / "sub")]))
    with pytest.raises(ScopeError):
        parted.select(Scope.of(years=[2019]))
    moved = next(p for p in docs.glob("*.txt") if "Datum indiening: 2016-" in p.read_text(encoding="utf-8"))
    before = {r.passage_id for r in catalog_of(parted).passages_of(str(moved))}
    moved.write_text(moved.read_text(encoding="utf-8").replace("Datum indiening: 2016-", "Datum indiening: 2019-"),
                     encoding="utf-8")
    assert parted.ingest([docs]).updated == 1
    after = {r.passage_id for r in catalog_of(parted).passages_of(str(moved))}
    assert before & after, "some passages keep their ids: their vectors moved partitions under the same id"
    assert parted.documents()[str(moved)].year == 2019
    in_step(parted)
    sources = parted.select(Scope.of(years=[2019]))  # the scope index was built before the ingest: built again
    assert sources == [str(moved)] == Scope.of(years=[2019]).select(parted.documents())
    vector = parted.retriever.embedder.embed_query(QUESTIONS[1])
    assert {catalog_of(parted).passages_by_id([h.passage_id])[h.passage_id].passage.source
            for h in parted.index.search_dense(vector, 40, sources)} == {str(moved)}

    gone = docs / "sub" / SMALL_SET[3].name
    gone.unlink()
    assert parted.ingest([docs], sync=True).removed == 1
    in_step(parted)

    renamed = docs / "sub" / SMALL_SET[0].name
    renamed.rename(docs / "elsewhere.txt")
    undated.rename(docs / "undated.txt")
    assert parted.ingest([docs], sync=True).renamed == 2
    in_step(parted)
    deeper_is_filtered(parted, Scope.of(paths=[str(docs / "undated.txt")]))  # its passages have new ids

    parted.ingest([docs], rebuild=True)
    in_step(parted)


def test_a_new_year_date_read_again_moves_vectors(pair: tuple[Assistant, Assistant, Path]) -> None:
    _, parted, docs = pair
    record = next(r for r in parted.documents().values() if r.year == 2018)
    parted.index.set_dates({record.source: "2020-05-01"})  # what a metadata rules refresh does
    assert parted.documents()[record.source].year == 2020
    in_step(parted)


class Crash(BaseException):
    """Stands for the process dying: nothing catches it, no writer finishes."""


@pytest.mark.parametrize("point", ["after-vectors", "after-commit"])
def test_a_crash_in_the_write_is_repaired(pair: tuple[Assistant, Assistant, Path], point: str,
                                          monkeypatch: pytest.MonkeyPatch,
                                          make_assistant: Callable[..., Assistant]) -> None:
    _, parted, docs = pair
    changed = next(p for p in docs.rglob("*.txt") if "Datum indiening: 2015-" in p.read_text(encoding="utf-8"))
    changed.write_text(changed.read_text(encoding="utf-8").replace("Datum indiening: 2015-", "Datum indiening: 2021-")
                       + "\nEen nieuwe alinea over de begroting van 2021.\n", encoding="utf-8")
    (docs / "new.txt").write_text("Datum: 2014-02-03\n\nEen nieuw document over de politie.\n", encoding="utf-8")

    def crash(*args: Any, **kwargs: Any) -> None:
        raise Crash

    if point == "after-vectors":  # vectors in their partitions, the catalog not yet written
        monkeypatch.setattr(catalog_of(parted), "transaction", crash)
    else:  # the catalog committed, the old copies and stale vectors not yet gone
        monkeypatch.setattr(PartitionedDenseStore, "settle", crash)
    with pytest.raises(Crash):
        parted.ingest([docs])
    monkeypatch.undo()
    settings = {"data_dir": Path(parted.index.location), "collection": "parted", "dense_partition": "year"}
    if not dense_of(parted).embedded:
        settings |= {"chroma_host": "127.0.0.1", "chroma_port": int(dense_of(parted).server.rsplit(":", 1)[1])}
    again = make_assistant(**settings)
    again.ingest([docs])
    assert again.documents()[str(changed)].year == 2021
    assert again.documents()[str(docs / "new.txt")].year == 2014
    in_step(again)


def test_back_to_one_collection_drops_the_partitions(pair: tuple[Assistant, Assistant, Path],
                                                     make_assistant: Callable[..., Assistant]) -> None:
    single, parted, docs = pair
    settings: dict[str, Any] = {"data_dir": Path(parted.index.location), "collection": "parted"}
    if not dense_of(parted).embedded:
        settings |= {"chroma_host": "127.0.0.1", "chroma_port": int(dense_of(parted).server.rsplit(":", 1)[1])}
    again = make_assistant(**settings)  # dense_partition "none" now: a rebuild into one collection
    again.ingest([docs])
    client = dense_of(again)._client
    names = {c.name for c in client.list_collections()}
    assert "parted" in names and not {n for n in names if n.startswith("parted.")}
    assert again.index.vector_count() == single.index.vector_count()
    question = QUESTIONS[1]
    assert ranked(again, question, Scope())[1] == ranked(single, question, Scope())[1]


def test_an_id_gone_from_chroma_since_the_catalog_gave_it_is_searched_by_source(
        pair: tuple[Assistant, Assistant, Path]) -> None:
    _, parted, docs = pair
    dense = partitioned(parted)
    dense.exact_max, dense.deep_max, dense.ids_max, dense.deep_share = 0, 0, 10**6, 1.0
    scope = Scope.of(paths=[str(docs / SMALL_SET[5].name)])  # a part of the undated partition
    vector = parted.retriever.embedder.embed_query(QUESTIONS[1])
    want = parted.index.search_dense(vector, 40, parted.select(scope))
    source = parted.select(scope)[0]  # type: ignore[index]
    dense._owners[2][source].append("gone-" + "0" * 27)  # what a writer's delete after the catalog read leaves
    assert parted.index.search_dense(vector, 40, parted.select(scope)) == want and want
