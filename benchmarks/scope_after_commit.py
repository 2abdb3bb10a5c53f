"""What the first scoped question after a commit pays the catalog, before and after the documents cache.

A real SQLite catalog of synthetic passages (``benchmarks/synthetic_corpus.py``, about 10 a
document) and the real ``PartitionedDenseStore`` (``dense_partition="year"``) over an empty
embedded Chroma: what is timed is the catalog's part of a scoped question, resolving the scope
and the partitions' layout. Chroma's search and the scope's ``dense_ids_of`` are the same on
both paths and left out (benchmarks/README.md, "The dense store at scale", has them at 1M).

- ``before``: main's path until this change: ``Assistant.select`` read the documents in a
  snapshot and built a ``ScopeIndex``, then the partitions' layout read them again
  (``documents()`` had no cache);
- ``after``: ``HybridRetriever.select`` and the same layout over the catalog's ``DocumentsCache``.

Each round commits one new document, then asks once on one path; the paths alternate (and take
turns going first), so machine load hits both alike. It also counts the documents queries each path sends.

    nice -n 10 python benchmarks/scope_after_commit.py --passages 200000 --rounds 10
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_scaling import NoEmbedder  # noqa: E402
from synthetic_corpus import passages  # noqa: E402

from assistant.retrieval import FusionWeights, HybridRetriever  # noqa: E402
from assistant.scope import Scope, ScopeIndex  # noqa: E402
from values.document import DocumentRecord, StoredPassage  # noqa: E402
from values.passage import Passage  # noqa: E402
from values.text import Tokenizer  # noqa: E402
from vectorstore.chroma import ChromaConfig, open_client  # noqa: E402
from vectorstore.index import IndexSettings, PassageIndex  # noqa: E402
from vectorstore.keyword import KeywordIndex  # noqa: E402
from vectorstore.partitions import PartitionedDenseStore  # noqa: E402
from vectorstore.sqlite_catalog import SqliteCatalog  # noqa: E402

ROOT = "/archief"
DIM = 384
K = 40


class MainCatalog:
    """The catalog as main had it: ``documents()`` read again on every call, in a snapshot."""

    def __init__(self, catalog: SqliteCatalog) -> None:
        self._catalog = catalog

    def documents(self) -> Mapping[str, DocumentRecord]:
        with self._catalog.snapshot():
            return self._catalog._read_documents()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)


def fill(catalog: SqliteCatalog, count: int) -> int:
    """Write ``count`` synthetic passages, a transaction per 500 documents; return how many documents."""
    batch: dict[str, list[Any]] = {}
    documents = 0

    def flush() -> None:
        with catalog.transaction() as write:
            for source, (p, rows) in batch.items():
                write.replace_document(record(source, p.doc_type, p.year, len(rows)), rows)
        batch.clear()

    for p in passages(seed=0, count=count):
        source = f"{ROOT}/{p.source}"
        if source not in batch:
            if len(batch) == 500:
                flush()
            batch[source] = (p, [])
            documents += 1
        rows = batch[source][1]
        rows.append(StoredPassage(Passage(source, 0, len(p.text), p.text, kind="answer"), p.passage_id,
                                  len(rows), True, None))
    flush()
    return documents


def record(source: str, doc_type: str, year: int, n: int) -> DocumentRecord:
    return DocumentRecord(source, f"hash {source}", source.rsplit("/", 1)[-1], doc_type, "utf-8", 1000,
                          0.0, n, time.time(), f"{year}-05-01")


def commit(catalog: SqliteCatalog, n: int) -> None:
    """One new document: a commit, as an ingest's last one."""
    source = f"{ROOT}/EZK/2016/new-{n}.txt"
    with catalog.transaction() as write:
        write.replace_document(record(source, "txt", 2016, 1), [
            StoredPassage(Passage(source, 0, 5, "nieuw", kind="answer"), f"{source}#1", 0, True, None)])


def counting(catalog: SqliteCatalog) -> list[str]:
    seen: list[str] = []
    catalog._db.set_trace_callback(lambda sql: seen.append(sql) if sql == "SELECT * FROM documents" else None)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scope-after-commit-") as folder:
        base = Path(folder)
        catalog = SqliteCatalog(base / "catalog.sqlite3")
        started = time.perf_counter()
        documents = fill(catalog, args.passages)
        print(f"{args.passages:,} passages in {documents:,} documents written in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        config = ChromaConfig(collection="bench", path=base / "chroma", host=None, port=8000, ssl=False)

        def dense_over(view: Any) -> PartitionedDenseStore:
            return PartitionedDenseStore(lambda: open_client(config), "bench", NoEmbedder(), "none", DIM, view,
                                         embedded=True)

        after_dense, before_dense = dense_over(catalog), dense_over(MainCatalog(catalog))
        settings = IndexSettings("none", DIM, 1000, 0, True, False, dense_partition="year")
        index = PassageIndex(catalog, after_dense, KeywordIndex(base / "keyword", catalog, Tokenizer()), settings,
                             folder)
        retriever = HybridRetriever(index, NoEmbedder(), FusionWeights(1.0, 1.0, 60, 1.0, K), K)
        main_catalog = MainCatalog(catalog)
        vector = [1.0 / DIM**0.5] * DIM

        def before(scope: Scope) -> None:  # Assistant.select on main, then the dense leg
            with catalog.snapshot():
                _, records = catalog.version, main_catalog.documents()
            before_dense.search(vector, K, ScopeIndex(records).select(scope))

        def after(scope: Scope) -> None:
            after_dense.search(vector, K, retriever.select(scope))

        scopes = {"year 2016": Scope.of(years=[2016]), "folder EZK": Scope.of(paths=[f"{ROOT}/EZK"])}
        paths: dict[str, Callable[[Scope], None]] = {"before": before, "after": after}
        seconds: dict[tuple[str, str], list[float]] = {(p, s): [] for p in paths for s in scopes}
        again: dict[str, list[float]] = {s: [] for s in scopes}
        reads: dict[str, list[int]] = {p: [] for p in paths}
        seen = counting(catalog)
        n = 0
        for round_ in range(args.rounds):
            for scope_name, scope in scopes.items():
                for path_name, path in sorted(paths.items(), reverse=round_ % 2 == 1):  # each first in turn
                    n += 1
                    commit(catalog, n)
                    gc.collect()  # the garbage of the path before is not this one's to collect
                    seen.clear()
                    took = timed(lambda: path(scope))  # noqa: B023
                    seconds[path_name, scope_name].append(took)
                    reads[path_name].append(len(seen))
                    if path_name == "after":  # the next question at the same version
                        again[scope_name].append(timed(lambda: path(scope)))  # noqa: B023
        print(f"\nthe catalog's part of the first scoped question after a commit, median (min-max) "
              f"of {args.rounds} rounds, {documents:,} documents")
        for scope_name in scopes:
            for path_name in paths:
                values = seconds[path_name, scope_name]
                print(f"  {scope_name:>10} {path_name:>6}: {ms(statistics.median(values))} "
                      f"({ms(min(values))}-{ms(max(values))})")
            print(f"  {scope_name:>10}  again: {ms(statistics.median(again[scope_name]))} (same version)")
        for path_name, counts in reads.items():
            print(f"  documents queries per first question, {path_name}: {sorted(set(counts))}")
        for dense in (after_dense, before_dense):
            dense.close()
        catalog.close()


def timed(call: Callable[[], None]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms"


if __name__ == "__main__":
    main()
