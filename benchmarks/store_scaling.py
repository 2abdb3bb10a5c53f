"""The dense store at 20k, 200k and 1M passages through a real `chroma run`: inserts, scoped queries, replicas.

Vectors are NOT made by the embedder (2.6 passages/s here would take days): they are random
384-d unit vectors drawn around 70 topic centres and a per-document centre (cosine to a
neighbour of the same document about 0.7), one per answer of the synthetic corpus
(``benchmarks/synthetic_corpus.py``). The collection grows from size to size; at each size it
measures, with the same query vectors interleaved round by round:

- ``unscoped``: top 40 (``VRAAGBAAK_CANDIDATES``) over everything, through ``DenseStore.search``;
- each scope (one document, a folder+year, a year, a ministry folder, a file type), by strategy:
  ``today`` (``Scope.select`` over the catalog's documents, then ``DenseStore.search``: a source
  ``$in`` filter, or a 4x over-fetch when more than 500 sources), ``where`` (year/type/folder as
  Chroma metadata, one ``where`` filter), ``ids`` (the catalog's passage ids of the scope as the
  query's ``ids``), ``exact`` (fetch the scope's vectors by id, cosine in the app; small scopes)
  and ``collection`` (a collection holding only that year: per-scope collections);
- ``partitioned``: the real ``vectorstore.partitions.PartitionedDenseStore`` (``dense_partition="year"``),
  fed the same vectors into one collection per year: unscoped over every partition in parallel
  threads (one per partition; ``partitioned-8``: 8 threads, ``-seq``: one after another; the
  2026-12-03 runs had 8 by default and named 32 ``partitioned-32``), scoped through
  the scope's years' partitions with the class's defaults (``partitioned-filter``: never exact,
  Chroma's filter in each partition; ``partitioned-exact``: exact up to 2,000 passages);
- since the 2026-12-03 scopes work: ``today-index`` (the scope resolved on ``ScopeIndex``, built once
  per catalog version, then ``DenseStore.search``), ``partitioned-before`` (main's partitioned path:
  ``Scope.select``, Chroma's filter in each partition), ``partitioned-index`` (the scope index alone),
  ``partitioned`` (now: the scope index, and a partition a scope covers in part searched deeper or
  among the scope's ids), ``partitioned-ids`` / ``partitioned-deep`` (only one of the two); and with
  ``--profile`` the parts of a scoped query timed one by one (scope resolution, each kind of Chroma
  request on one partition, the fan-out, the real SQLite catalog's reads at that size);
- recall@40 of each strategy against the exact top 40 within the scope;
- a fresh replica (a new process) to ready: open the client and collection, read the scope table
  (the documents' source/year/type/folder, as the catalog gives them) and answer one query; its RSS;
- the Chroma server's RSS, and insert throughput per 20k passages.

Results go to ``--out`` (JSON) after every step, so a cut-off run still reports.

    nice -n 10 python benchmarks/store_scaling.py --sizes 20000,200000,1000000 --out benchmarks/store_scaling.json
    nice -n 10 python benchmarks/store_scaling.py --store partitioned --sizes 1000000 --out /tmp/partitioned.json
    python benchmarks/store_scaling.py --merge /tmp/partitioned.json benchmarks/store_scaling.json  # its cases in
    python benchmarks/store_scaling.py --plot benchmarks/store_scaling.json   # the PNGs next to it

One store built once and queried again (the 1M build takes ~45 minutes): start ``chroma run``
yourself, build with ``--build-only``, then query with ``--existing`` (the same seed and batch
regenerate the catalog and vectors, nothing is inserted)::

    nice -n 15 chroma run --path /tmp/s1m --host 127.0.0.1 --port 8711 &
    nice -n 15 python benchmarks/store_scaling.py --store partitioned --sizes 1000000 --build-only --embedded 0 \
        --server 8711 --data /tmp/s1m --out /tmp/build.json
    nice -n 15 python benchmarks/store_scaling.py --store partitioned --sizes 1000000 --existing --server 8711 \
        --data /tmp/s1m --profile --queries 40 --embedded 0 --only 'partitioned(-before|-index|-ids|-deep)?$' \
        --out /tmp/1m.json
    python benchmarks/store_scaling.py --merge /tmp/1m.json benchmarks/store_scaling.json --key scopes
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from langchain_core.embeddings import Embeddings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_corpus import SyntheticPassage, passages, topics  # noqa: E402

from assistant.scope import Scope, ScopeIndex  # noqa: E402
from values.document import DocumentRecord, StoredPassage  # noqa: E402
from values.passage import Passage  # noqa: E402
from vectorstore.chroma import ChromaConfig, DenseStore, open_client  # noqa: E402
from vectorstore.partitions import PartitionedDenseStore  # noqa: E402
from vectorstore.sqlite_catalog import SqliteCatalog  # noqa: E402

DIM = 384
K = 40
COLLECTION = "scale"
EMBEDDER = "synthetic-random-384"
ROOT = "/archief"
BATCH = 4000


class NoEmbedder(Embeddings):
    """The vectors are given; embedding text is never wanted here."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("the benchmark gives vectors; it never embeds")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("the benchmark gives vectors; it never embeds")


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


class Vectors:
    """Clustered random unit vectors: topic centre + document offset + passage noise, by seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.centres = unit(np.random.default_rng(seed).standard_normal((len(topics()), DIM)))

    def _doc_centre(self, source: str, topic: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, zlib.crc32(source.encode())])
        return self.centres[topic] + 0.8 * rng.standard_normal(DIM) / np.sqrt(DIM)

    def of(self, batch: list[SyntheticPassage], at: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 1, at])
        centres = np.stack([self._doc_centre(p.source, p.topic) for p in batch])
        return unit(centres + 0.6 * rng.standard_normal((len(batch), DIM)) / np.sqrt(DIM))

    def queries(self, n: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 2])
        picks = self.centres[rng.integers(0, len(self.centres), n)]
        return unit(picks + 1.0 * rng.standard_normal((n, DIM)) / np.sqrt(DIM))


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return round(total / 1024, 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(path: Path, port: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        raise SystemExit("the `chroma` console script of chromadb is not installed")
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("chroma run did not listen within 120 s")


class Running:
    """A `chroma run` started by someone else (``--server``): found by its data folder, never stopped here."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.pid = next((int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and _serves(d, folder)), 0)

    def terminate(self) -> None:
        """Leave it running: it serves the next query run."""

    def wait(self, timeout: float) -> None:
        """Nothing to wait for."""


def _serves(proc: Path, folder: Path) -> bool:
    try:
        args = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"run" in args and str(folder.resolve()).encode() in [a.rstrip(b"/") for a in args]


@dataclass
class Catalog:
    """What the catalog knows, kept in memory: documents (for ``Scope.select``) and passage ids per document.

    It also answers the reads ``PartitionedDenseStore`` makes of a real catalog (version,
    documents with their passage counts, a document's passage ids).
    """

    records: dict[str, DocumentRecord]
    ids: dict[str, list[str]]
    version: int = 0
    _counted: tuple[int, dict[str, DocumentRecord]] = field(default_factory=lambda: (-1, {}))

    def add(self, p: SyntheticPassage) -> None:
        source = f"{ROOT}/{p.source}"
        if source not in self.records:
            self.records[source] = DocumentRecord(source, "", "", p.doc_type, "utf-8", 0, 0.0, 0, 0.0,
                                                  f"{p.year}-01-01")
            self.ids[source] = []
        self.ids[source].append(p.passage_id)
        self.version += 1

    def snapshot(self) -> AbstractContextManager[None]:
        return nullcontext()

    def documents(self) -> dict[str, DocumentRecord]:
        if self._counted[0] != self.version:
            self._counted = (self.version, {s: replace(r, passages=len(self.ids[s])) for s, r in self.records.items()})
        return self._counted[1]

    def passage_ids(self, source: str | None = None, dense_only: bool = False) -> set[str]:
        return set(self.ids[source]) if source else {i for ids in self.ids.values() for i in ids}

    def dense_ids_of(self, sources: list[str]) -> dict[str, str]:
        return {i: s for s in sources for i in self.ids[s]}

    def passages_by_id(self, ids: object) -> dict[str, StoredPassage]:
        raise AssertionError("no id is in two partitions here")


def metadata(p: SyntheticPassage) -> dict[str, str | int]:
    return {"source": f"{ROOT}/{p.source}", "kind": "answer", "year": p.year, "type": p.doc_type,
            "ministry": p.folder.split("/")[0], "folder": p.folder}


class Run:
    """One growing collection on one server, measured at each size."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results: dict[str, Any] = {
            "vectors": "random 384-d unit vectors around 70 topic centres and per-document centres; no embedder",
            "k": K, "batch": args.batch, "queries": args.queries, "sizes": {}, "insert": []}
        self.vectors = Vectors(args.seed)
        self.queries = self.vectors.queries(args.queries)
        self.catalog = Catalog({}, {})
        self.stream: Iterator[SyntheticPassage] = passages(args.seed)
        self.held: list[np.ndarray] = []  # every vector, for the exact top 40 (recall)
        self.held_meta: list[tuple[str, int, str, str]] = []  # (source, year, type, folder) per vector
        self.held_ids: list[str] = []

    def save(self) -> None:
        Path(self.args.out).write_text(json.dumps(self.results, indent=1))

    def grow(self, collection: Any, year_collection: Any, parted: PartitionedDenseStore | None, size: int) -> None:
        """Insert passages until the collection (and/or the partitions) hold ``size``, timing each store's inserts."""
        single = self.args.store != "partitioned"
        window_count = 0
        spent = {"insert": 0.0, "insert_partitioned": 0.0}
        while len(self.held_ids) < size:
            batch = [next(self.stream) for _ in range(min(self.args.batch, size - len(self.held_ids)))]
            for p in batch:
                self.catalog.add(p)
            vectors = self.vectors.of(batch, len(self.held_ids))
            metas = [metadata(p) for p in batch]
            ids, texts = [p.passage_id for p in batch], [p.text for p in batch]
            if self.args.existing:
                pass  # the store holds these already (an earlier run, same seed and batch): regenerate only
            elif single:
                started = time.perf_counter()
                collection.add(ids=ids, embeddings=vectors, documents=texts, metadatas=metas)
                in_year = [i for i, p in enumerate(batch) if p.year == self.args.year]
                if in_year:
                    year_collection.add(ids=[batch[i].passage_id for i in in_year], embeddings=vectors[in_year],
                                        documents=[batch[i].text for i in in_year],
                                        metadatas=[metas[i] for i in in_year])
                spent["insert"] += time.perf_counter() - started
            if parted is not None and not self.args.existing:
                started = time.perf_counter()
                parted.add_vectors(ids, texts, vectors.tolist(), metas, [p.year for p in batch])  # type: ignore[arg-type]
                spent["insert_partitioned"] += time.perf_counter() - started
            self.held.append(vectors)
            self.held_ids += ids
            self.held_meta += [(m["source"], int(m["year"]), str(m["type"]), str(m["folder"])) for m in metas]  # type: ignore[misc]
            window_count += len(batch)
            if window_count >= 20000 or len(self.held_ids) == size:
                for key, seconds in spent.items():
                    if seconds:
                        self.results.setdefault(key, []).append(
                            {"at": len(self.held_ids), "passages": window_count, "seconds": round(seconds, 2),
                             "per_second": round(window_count / seconds, 1)})
                print(f"  inserted {len(self.held_ids):,}: " + ", ".join(
                    f"{k} {window_count / v:,.0f} passages/s" for k, v in spent.items() if v), flush=True)
                self.save()
                window_count = 0
                spent = dict.fromkeys(spent, 0.0)

    def scopes(self) -> dict[str, tuple[Scope, dict[str, object], Callable[[tuple[str, int, str, str]], bool]]]:
        """Each scope: the vraagbaak Scope, the equivalent Chroma where filter, and a test for the exact top."""
        first = next(iter(self.catalog.records))
        year, folder = self.args.year, f"EZK/{self.args.year}"
        return {
            "document": (Scope.of(paths=[first]), {"source": first}, lambda m: m[0] == first),
            f"folder {folder}": (Scope.of(paths=[f"{ROOT}/{folder}"]), {"folder": folder}, lambda m: m[3] == folder),
            f"year {year}": (Scope.of(years=[year]), {"year": year}, lambda m: m[1] == year),
            "folder EZK": (Scope.of(paths=[f"{ROOT}/EZK"]), {"ministry": "EZK"}, lambda m: m[3].startswith("EZK/")),
            "type pdf": (Scope.of(types=["pdf"]), {"type": "pdf"}, lambda m: m[2] == "pdf"),
        }

    def measure(self, size: int, dense: DenseStore, collection: Any, year_collection: Any,
                parted: PartitionedDenseStore | None, port: int, server: subprocess.Popen[bytes] | Running) -> None:
        """Query latency and recall per scope and strategy, a fresh replica, RSS; saved under ``sizes[size]``."""
        out: dict[str, Any] = {"passages": len(self.held_ids), "documents": len(self.catalog.records)}
        self.results["sizes"][str(size)] = out
        matrix = np.concatenate(self.held)
        metas = self.held_meta
        ids = np.array(self.held_ids)
        records = self.catalog.records
        single = self.args.store != "partitioned"
        cases: dict[str, Callable[[np.ndarray], list[str]]] = {}
        started = time.perf_counter()
        index = ScopeIndex(records)  # what the app builds once per catalog version
        out["scope_index_build_s"] = round(time.perf_counter() - started, 3)
        if single:
            cases["unscoped"] = lambda q: [h.passage_id for h in dense.search(q.tolist(), K)]
        sequential = None
        if parted is not None:
            sequential = PartitionedDenseStore(lambda: parted._client, COLLECTION, NoEmbedder(), EMBEDDER, DIM,
                                               self.catalog, embedded=False, threads=1)  # type: ignore[arg-type]
            filtered = PartitionedDenseStore(lambda: parted._client, COLLECTION, NoEmbedder(), EMBEDDER, DIM,
                                             self.catalog, embedded=False, exact_max=0)  # type: ignore[arg-type]
            exact_up_to_2000 = PartitionedDenseStore(lambda: parted._client, COLLECTION, NoEmbedder(), EMBEDDER,
                                                     DIM, self.catalog, embedded=False, exact_max=2000)  # type: ignore[arg-type]
            before = PartitionedDenseStore(lambda: parted._client, COLLECTION, NoEmbedder(), EMBEDDER, DIM,
                                           self.catalog, embedded=False, deep_max=0, ids_max=0)  # type: ignore[arg-type]
            deep_store = PartitionedDenseStore(lambda: parted._client, COLLECTION, NoEmbedder(), EMBEDDER, DIM,
                                               self.catalog, embedded=False, deep_share=0)  # type: ignore[arg-type]
            ids_store = PartitionedDenseStore(lambda: parted._client, COLLECTION, NoEmbedder(), EMBEDDER, DIM,
                                           self.catalog, embedded=False, deep_max=0, ids_max=10**7)  # type: ignore[arg-type]
            cases["unscoped | partitioned"] = lambda q: [h.passage_id for h in parted.search(q.tolist(), K)]
            cases["unscoped | partitioned-seq"] = lambda q: [h.passage_id for h in sequential.search(q.tolist(), K)]
            eight = PartitionedDenseStore(lambda: parted._client, COLLECTION, NoEmbedder(), EMBEDDER, DIM,
                                          self.catalog, embedded=False, threads=8)  # type: ignore[arg-type]
            cases["unscoped | partitioned-8"] = lambda q: [h.passage_id for h in eight.search(q.tolist(), K)]
        exact_masks: dict[str, np.ndarray | None] = dict.fromkeys(cases)
        members: dict[str, int] = dict.fromkeys(cases, len(ids))
        for name, (scope, where, test) in self.scopes().items():
            mask = np.fromiter((test(m) for m in metas), bool, len(metas))
            scope_ids = ids[mask].tolist()
            members[name] = len(scope_ids)

            def today(q: np.ndarray, scope: Scope = scope) -> list[str]:
                chosen = scope.select(records)
                return [h.passage_id for h in dense.search(q.tolist(), K, chosen)]

            def by_where(q: np.ndarray, where: dict[str, object] = where) -> list[str]:
                got = collection.query(query_embeddings=[q.tolist()], n_results=K, where=where, include=["distances"])
                return list(got["ids"][0])

            def by_ids(q: np.ndarray, scope: Scope = scope) -> list[str]:
                chosen = scope.select(records) or list(records)
                wanted = [i for s in chosen for i in self.catalog.ids[s]]
                got = collection.query(query_embeddings=[q.tolist()], n_results=min(K, len(wanted)), ids=wanted,
                                       include=["distances"])
                return list(got["ids"][0])

            def exact(q: np.ndarray, scope: Scope = scope) -> list[str]:
                chosen = scope.select(records) or list(records)
                wanted = [i for s in chosen for i in self.catalog.ids[s]]
                got = collection.get(ids=wanted, include=["embeddings"])
                scores = np.asarray(got["embeddings"], dtype=np.float32) @ q
                return [got["ids"][i] for i in np.argsort(-scores)[:K]]

            def today_index(q: np.ndarray, scope: Scope = scope) -> list[str]:
                return [h.passage_id for h in dense.search(q.tolist(), K, index.select(scope))]

            if single:
                cases[f"{name} | today"] = today
                cases[f"{name} | today-index"] = today_index
                cases[f"{name} | where"] = by_where
                if len(scope_ids) <= self.args.ids_max:
                    cases[f"{name} | ids"] = by_ids
                if len(scope_ids) <= self.args.exact_max:
                    cases[f"{name} | exact"] = exact
                if name.startswith("year"):
                    cases[f"{name} | collection"] = lambda q: list(year_collection.query(
                        query_embeddings=[q.tolist()], n_results=K, include=["distances"])["ids"][0])
            if parted is not None:
                def by_partition(q: np.ndarray, scope: Scope = scope,
                                 store: PartitionedDenseStore = parted) -> list[str]:
                    return [h.passage_id for h in store.search(q.tolist(), K, scope.select(records))]

                def indexed(q: np.ndarray, scope: Scope = scope, store: PartitionedDenseStore = parted) -> list[str]:
                    return [h.passage_id for h in store.search(q.tolist(), K, index.select(scope))]

                # before: main's path (Scope.select over the documents, Chroma's filter in each partition)
                cases[f"{name} | partitioned-before"] = partial(by_partition, store=before)
                cases[f"{name} | partitioned-index"] = partial(indexed, store=before)  # the scope index alone
                cases[f"{name} | partitioned"] = indexed  # the scope index, and partitions searched deeper
                cases[f"{name} | partitioned-ids"] = partial(indexed, store=ids_store)  # never deeper: the scope's ids
                cases[f"{name} | partitioned-deep"] = partial(indexed, store=deep_store)  # deeper whatever the share
                cases[f"{name} | partitioned-8"] = partial(indexed, store=eight)  # now, in 8 threads
                if len(scope_ids) <= 2000:  # else all three take the same path
                    cases[f"{name} | partitioned-filter"] = partial(indexed, store=filtered)
                    cases[f"{name} | partitioned-exact"] = partial(indexed, store=exact_up_to_2000)
            for case in [c for c in cases if c.startswith(name + " |")]:
                exact_masks[case] = mask
                members[case] = len(scope_ids)
        if self.args.only:
            cases = {c: run for c, run in cases.items() if re.search(self.args.only, c)}
        for case in cases:  # a warm-up query each
            cases[case](self.queries[0])
        seconds: dict[str, list[float]] = {c: [] for c in cases}
        recall: dict[str, list[float]] = {c: [] for c in cases}
        for n, q in enumerate(self.queries):
            scores = matrix @ q
            for case, run in cases.items():
                started = time.perf_counter()
                got = run(q)
                seconds[case].append(time.perf_counter() - started)
                if n < self.args.recall_queries:
                    mask = exact_masks[case]
                    pool = np.flatnonzero(mask) if mask is not None else np.arange(len(ids))
                    best = set(ids[pool[np.argsort(-scores[pool])[:K]]].tolist())
                    recall[case].append(len(best & set(got)) / max(1, len(best)))
        table = {}
        for case in cases:
            table[case] = {"p50_ms": round(1000 * statistics.median(seconds[case]), 1),
                           "p95_ms": round(1000 * percentile(seconds[case], 0.95), 1),
                           "recall": round(statistics.mean(recall[case]), 3) if recall[case] else None,
                           "passages_in_scope": members.get(case, len(ids))}
            print(f"  {case:>34}: p50 {table[case]['p50_ms']:7.1f} ms  p95 {table[case]['p95_ms']:7.1f} ms  "
                  f"recall@{K} {table[case]['recall']}  ({table[case]['passages_in_scope']:,} passages)", flush=True)
        out["queries"] = table
        if self.args.profile and parted is not None:
            out["profile"] = self.profile(parted, index)
        out["chroma_rss_mb"] = rss_mb(server.pid)
        out["bench_rss_mb"] = rss_mb(os.getpid())
        if parted is not None:
            out["partitions"] = len(parted._parts)
            started = time.perf_counter()  # what a replica's start adds: list the partitions, open each
            PartitionedDenseStore(lambda: parted._client, COLLECTION, NoEmbedder(), EMBEDDER, DIM, self.catalog,
                                  embedded=False).close()  # type: ignore[arg-type]
            out["partitioned_open_s"] = round(time.perf_counter() - started, 3)
        self.save()
        if not single:
            return
        out["replica"] = self.replica(port)
        print(f"  replica ready in {out['replica']['ready_s']} s (RSS {out['replica']['rss_mb']} MB); "
              f"chroma RSS {out['chroma_rss_mb']} MB", flush=True)
        self.save()

    def profile(self, parted: PartitionedDenseStore, index: ScopeIndex) -> dict[str, Any]:
        """Where a scoped query's time goes: scope resolution, and each kind of Chroma request on one partition."""
        def timed(call: Callable[[np.ndarray], object], n: int = 15) -> dict[str, float]:
            call(self.queries[0])
            took = []
            for q in self.queries[1:n + 1]:
                started = time.perf_counter()
                call(q)
                took.append(1000 * (time.perf_counter() - started))
            return {"p50_ms": round(statistics.median(took), 2), "p95_ms": round(percentile(took, 0.95), 2)}

        report: dict[str, Any] = {}
        records = self.catalog.documents()
        for name, (scope, _, _) in self.scopes().items():
            report[f"resolve {name} | Scope.select"] = timed(lambda q, scope=scope: scope.select(records), 5)
            report[f"resolve {name} | ScopeIndex.select"] = timed(lambda q, scope=scope: index.select(scope), 5)
        started = time.perf_counter()
        parted._layout = None
        parted._scope_layout()
        report["partition layout (once per catalog version)"] = {"s": round(time.perf_counter() - started, 3)}
        part = parted._parts[str(self.args.year)]
        held = part.count()
        collection = part._collection
        sources = sorted({m[0] for m in self.held_meta if m[1] == self.args.year})
        for n in (40, 160, 640, 1000, 2560):
            report[f"partition {held:,}: unfiltered top {n}"] = timed(
                lambda q, n=n: collection.query(query_embeddings=[q.tolist()], n_results=n, include=["distances"]))
            report[f"partition {held:,}: unfiltered top {n} with sources"] = timed(
                lambda q, n=n: part._query(q.tolist(), n, None, with_source=True))
        for m in (1, 10, 100, 300, 1000):
            report[f"partition {held:,}: filter $in {m} sources, top {K}"] = timed(
                lambda q, m=m: part.search(q.tolist(), K, sources[:m]) if m <= 500 else
                part._query(q.tolist(), K, {"source": {"$in": sources[:m]}}))
        folder_sources = [s for s in sources if s.startswith(f"{ROOT}/EZK/")]  # the one-year folder's
        for n in (160, 640):
            def two_step(q: np.ndarray, n: int = n) -> object:
                top = collection.query(query_embeddings=[q.tolist()], n_results=n, include=["distances"])["ids"][0]
                return collection.get(ids=top, where={"source": {"$in": folder_sources}}, include=[])
            report[f"partition {held:,}: unfiltered top {n}, then get those in {len(folder_sources)} sources"] = \
                timed(two_step)
        folder_ids = [i for s in folder_sources for i in self.catalog.ids[s]]
        report[f"partition {held:,}: query ids= the {len(folder_ids):,} of {len(folder_sources)} sources, top {K}"] = \
            timed(lambda q: collection.query(query_embeddings=[q.tolist()], n_results=K, ids=folder_ids,
                                             include=["distances"]))
        report[f"partition {held:,}: filter $in the {len(folder_sources)} sources, top {K}"] = timed(
            lambda q: part._query(q.tolist(), K, {"source": {"$in": folder_sources}}))
        ids = [i for s in sources[:200] for i in self.catalog.ids[s]]
        for m in (8, 100, 1000):
            report[f"partition {held:,}: get {m} vectors by id"] = timed(
                lambda q, m=m: part.vectors(ids[:m], documents=False))
        report[f"partition {held:,}: catalog passage ids of one document"] = timed(
            lambda q: self.catalog.passage_ids(sources[0], dense_only=True))
        for threads in (1, 8, 32):
            store = PartitionedDenseStore(lambda: parted._client, COLLECTION, NoEmbedder(), EMBEDDER, DIM,
                                          self.catalog, embedded=False, threads=threads)  # type: ignore[arg-type]
            report[f"all {len(parted._parts)} partitions, top {K} each, {threads} threads"] = timed(
                lambda q, store=store: store.search(q.tolist(), K))
            store.close()
        report.update(self.sqlite_reads())
        for name, took in report.items():
            print(f"  {name:>58}: {took}", flush=True)
        return report

    def sqlite_reads(self) -> dict[str, Any]:
        """What the reads a scoped query makes of the real embedded catalog cost at this size (SqliteCatalog)."""
        report: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="scale-catalog-") as folder:
            catalog = SqliteCatalog(Path(folder) / "catalog.sqlite3")
            started = time.perf_counter()
            with catalog.transaction() as write:
                for source, record in self.catalog.documents().items():
                    write.replace_document(record, [
                        StoredPassage(Passage(source, 0, 1, "x", kind="answer"), pid, n, True, None)
                        for n, pid in enumerate(self.catalog.ids[source])])
            report["sqlite catalog: written (once)"] = {"s": round(time.perf_counter() - started, 1)}
            started = time.perf_counter()
            records = catalog.documents()
            report["sqlite catalog: documents() (once per version)"] = {"s": round(time.perf_counter() - started, 3)}
            index = ScopeIndex(records)
            for name, (scope, _, _) in self.scopes().items():
                chosen = index.select(scope) or []
                started = time.perf_counter()
                owners = catalog.dense_ids_of(chosen)
                report[f"sqlite catalog: dense_ids_of {name} ({len(chosen):,} sources, {len(owners):,} ids), cold"] = {
                    "ms": round(1000 * (time.perf_counter() - started), 1)}
            catalog.close()
        return report

    def replica(self, port: int) -> dict[str, Any]:
        """A new process opens the store and catalog and answers one scoped query; its timings and RSS."""
        table = Path(self.args.out).with_suffix(".catalog.jsonl")
        with table.open("w") as f:
            for r in self.catalog.records.values():
                f.write(json.dumps([r.source, r.doc_type, r.date]) + "\n")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--replica", str(port), str(table), str(self.args.year)],
                              capture_output=True, text=True, check=True)
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        report["ready_s"] = round(time.perf_counter() - started, 2)
        return report


def replica(port: int, table: Path, year: int) -> None:
    """The replica side: print a JSON line with its timings (from process start) and RSS."""
    opened = time.perf_counter()
    dense = DenseStore(lambda: open_client(ChromaConfig(COLLECTION, None, "127.0.0.1", port, False)),
                       COLLECTION, NoEmbedder(), EMBEDDER, DIM, embedded=False)
    connected = time.perf_counter()
    records = {}
    for line in table.open():
        source, doc_type, date = json.loads(line)
        records[source] = DocumentRecord(source, "", "", doc_type, "utf-8", 0, 0.0, 0, 0.0, date)
    loaded = time.perf_counter()
    q = Vectors(0).queries(1)[0].tolist()
    dense.search(q, K)
    first = time.perf_counter()
    dense.search(q, K, Scope.of(years=[year]).select(records))
    scoped = time.perf_counter()
    print(json.dumps({"open_s": round(connected - opened, 3), "catalog_s": round(loaded - connected, 3),
                      "first_query_s": round(first - loaded, 3), "first_scoped_s": round(scoped - first, 3),
                      "rss_mb": rss_mb(os.getpid())}))


def embedded(args: argparse.Namespace, size: int) -> dict[str, Any]:
    """The embedded mode (PersistentClient in a temp folder) at ``size``: insert rate, p50/p95 unscoped and by year."""
    vectors, stream = Vectors(args.seed), passages(args.seed)
    with tempfile.TemporaryDirectory(prefix="scale-embedded-") as folder:
        client = chromadb.PersistentClient(path=folder, settings=ChromaSettings(anonymized_telemetry=False))
        collection = client.create_collection(COLLECTION, metadata={"hnsw:space": "cosine", "embedder": EMBEDDER,
                                                                    "dimension": DIM})
        catalog = Catalog({}, {})
        started, done = time.perf_counter(), 0
        while done < size:
            batch = [next(stream) for _ in range(min(args.batch, size - done))]
            for p in batch:
                catalog.add(p)
            collection.add(ids=[p.passage_id for p in batch], embeddings=vectors.of(batch, done),
                           documents=[p.text for p in batch], metadatas=[metadata(p) for p in batch])
            done += len(batch)
        insert = done / (time.perf_counter() - started)
        dense = DenseStore(lambda: client, COLLECTION, NoEmbedder(), EMBEDDER, DIM, embedded=True)
        records = catalog.documents()
        index = ScopeIndex(records)
        first = next(iter(records))
        scopes = {"document": Scope.of(paths=[first]),
                  f"folder EZK/{args.year}": Scope.of(paths=[f"{ROOT}/EZK/{args.year}"]),
                  f"year {args.year}": Scope.of(years=[args.year]), "folder EZK": Scope.of(paths=[f"{ROOT}/EZK"]),
                  "type pdf": Scope.of(types=["pdf"])}
        cases: dict[str, Callable[[], list[str] | None]] = {"unscoped": lambda: None}
        for name, scope in scopes.items():
            cases[f"{name} | today"] = partial(scope.select, records)
            cases[f"{name} | today-index"] = partial(index.select, scope)
        seconds: dict[str, list[float]] = {case: [] for case in cases}
        for q in vectors.queries(args.queries):
            for case, sources in cases.items():
                at = time.perf_counter()
                dense.search(q.tolist(), K, sources())
                seconds[case].append(time.perf_counter() - at)
        return {"passages": size, "insert_per_second": round(insert, 1),
                **{case: {"p50_ms": round(1000 * statistics.median(v), 1),
                          "p95_ms": round(1000 * percentile(v, 0.95), 1)} for case, v in seconds.items()}}


def merge(source: Path, into: Path, key: str | None = None) -> None:
    """Add a partitioned run's query cases, partition count and insert rates to another run's results.

    With ``key``: keep the run whole under ``results[key]`` instead (its sizes, and its embedded figures).
    """
    got, results = json.loads(source.read_text()), json.loads(into.read_text())
    if key:
        kept = results.setdefault(key, {})
        kept.update(got["sizes"])
        if got.get("embedded"):
            kept["embedded"] = got["embedded"]
        into.write_text(json.dumps(results, indent=1))
        print(f"merged {source} into {into} under {key!r}")
        return
    for size, measured in got["sizes"].items():
        target = results["sizes"].setdefault(size, {"passages": measured["passages"],
                                                    "documents": measured["documents"]})
        target.setdefault("queries", {}).update(measured.get("queries", {}))
        for key in ("partitions", "partitioned_open_s", "chroma_rss_mb", "bench_rss_mb"):
            if key in measured:
                target[key if key.startswith("partition") else f"{key}_partitioned_run"] = measured[key]
    if got.get("insert_partitioned"):
        results["insert_partitioned"] = got["insert_partitioned"]
    into.write_text(json.dumps(results, indent=1))
    print(f"merged {source} into {into}")


def plot(path: Path) -> None:
    """PNG plots next to the results: insert rate by collection size, and p95 per scope and strategy by size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = json.loads(path.read_text())
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("insert", "one collection"), ("insert_partitioned", "partitioned by year")):
        if results.get(key):
            ax.plot([r["at"] for r in results[key]], [r["per_second"] for r in results[key]], marker=".", label=label)
    ax.legend(fontsize=8)
    ax.set(xlabel="passages in the collection", ylabel="inserted passages/s (per 20k window)",
           title=f"chroma run: inserts, batches of {results['batch']}\n(random vectors, no embedder; loaded machine)")
    ax.set_xscale("log")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path.parent / "store_scaling_insert.png", dpi=110)
    sizes = sorted(results["sizes"], key=int)
    cases = sorted({c for s in sizes for c in results["sizes"][s].get("queries", {})})
    scopes = sorted({c.split(" | ")[0] for c in cases})
    fig, axes = plt.subplots(2, (len(scopes) + 1) // 2, figsize=(13, 7), sharey=True)
    for ax, scope in zip(axes.flat, scopes, strict=False):
        for case in [c for c in cases if c.split(" | ")[0] == scope]:
            xs = [int(s) for s in sizes if case in results["sizes"][s].get("queries", {})]
            ys = [results["sizes"][str(x)]["queries"][case]["p95_ms"] for x in xs]
            ax.plot(xs, ys, marker="o", label=case.split(" | ")[-1])
        ax.axhline(300, color="red", lw=0.8, ls="--")
        ax.set(title=scope, xscale="log", yscale="log", xlabel="passages")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.flat[len(scopes):]:
        ax.axis("off")
    axes.flat[0].set_ylabel("query p95, ms (red: 300 ms target)")
    fig.suptitle("chroma run: top-40 query p95 by scope and strategy (random vectors, no embedder; "
                 "machine loaded by other jobs: upper bounds)")
    fig.tight_layout()
    fig.savefig(path.parent / "store_scaling_queries.png", dpi=110)
    print(f"wrote {path.parent / 'store_scaling_insert.png'} and {path.parent / 'store_scaling_queries.png'}")
    if results.get("scopes"):
        plot_scopes(results["scopes"], path.parent / "store_scaling_scopes.png")


def plot_scopes(runs: dict[str, Any], out: Path) -> None:
    """Bars: p50 and p95 per scope kind, main's partitioned path against this one's, at each size measured."""
    import matplotlib.pyplot as plt

    sizes = sorted((s for s in runs if s.isdigit()), key=int)
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4.5), sharey=True, squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        queries = runs[size]["queries"]
        scopes = [c.split(" | ")[0] for c in queries if c.endswith(" | partitioned-before")]
        labels = ["unscoped", *scopes]
        for offset, (variant, colour) in enumerate((("partitioned-before", "#bbbbbb"), ("partitioned", "#3070b0"))):
            cases = ["unscoped | partitioned", *(f"{s} | {variant}" for s in scopes)]
            xs = [i + (offset - 0.5) * 0.38 for i in range(len(labels))]
            ax.bar(xs, [queries[c]["p95_ms"] for c in cases], 0.36, color=colour, alpha=0.45)
            ax.bar(xs, [queries[c]["p50_ms"] for c in cases], 0.36, color=colour,
                   label=f"{'main' if offset == 0 else 'now'} (p50 dark, p95 light)")
        ax.axhline(300, color="red", lw=0.8, ls="--")
        ax.set_xticks(range(len(labels)), [label.replace("folder ", "folder\n") for label in labels], fontsize=8)
        ax.set(title=f"{int(size):,} passages, 32 year partitions", yscale="log")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("top-40 dense query, ms (red: 300 ms target)")
    fig.suptitle("chroma run, dense_partition=year: scoped queries before and after "
                 "(random vectors; shared, loaded machine)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000,1000000")
    parser.add_argument("--out", default="benchmarks/store_scaling.json")
    parser.add_argument("--data", type=Path, help="the server's folder (default: a temp folder, removed after)")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--recall-queries", type=int, default=20)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--year", type=int, default=2017)
    parser.add_argument("--ids-max", type=int, default=50000, help="largest scope the `ids` strategy is tried on")
    parser.add_argument("--exact-max", type=int, default=2000, help="largest scope the `exact` strategy is tried on")
    parser.add_argument("--embedded", type=int, default=20000, help="also measure embedded mode at this size (0: no)")
    parser.add_argument("--store", choices=["both", "single", "partitioned"], default="both",
                        help="one collection (and its strategies), the partitioned store, or both side by side")
    parser.add_argument("--server", type=int, metavar="PORT",
                        help="use the `chroma run` on 127.0.0.1:PORT (serving --data) instead of starting one")
    parser.add_argument("--existing", action="store_true",
                        help="the store already holds the passages (built by --build-only, same seed and batch): "
                             "insert nothing, regenerate the catalog and the vectors")
    parser.add_argument("--only", help="measure only the cases whose name matches this regular expression")
    parser.add_argument("--profile", action="store_true",
                        help="also time the parts of a scoped query (scope resolution, each Chroma request kind)")
    parser.add_argument("--build-only", action="store_true", help="insert up to the sizes, measure nothing")
    parser.add_argument("--plot", type=Path, help="only draw the PNGs of a results file")
    parser.add_argument("--merge", nargs=2, type=Path, metavar=("FROM", "INTO"),
                        help="copy a --store partitioned run's cases and inserts into another results file")
    parser.add_argument("--key", help="with --merge: keep the run whole under this key (e.g. scopes)")
    parser.add_argument("--replica", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plot:
        plot(args.plot)
        return
    if args.merge:
        merge(*args.merge, key=args.key)
        return
    if args.replica:
        replica(int(args.replica[0]), Path(args.replica[1]), int(args.replica[2]))
        return
    run = Run(args)
    if args.embedded:
        print(f"embedded mode at {args.embedded:,} passages", flush=True)
        run.results["embedded"] = embedded(args, args.embedded)
        print(f"  {run.results['embedded']}", flush=True)
        run.save()
    folder = args.data or Path(tempfile.mkdtemp(prefix="scale-chroma-"))
    port = args.server or free_port()
    server = Running(args.server, folder) if args.server else start_server(folder, port)
    try:
        client = open_client(ChromaConfig(COLLECTION, None, "127.0.0.1", port, False))
        dense = DenseStore(lambda: client, COLLECTION, NoEmbedder(), EMBEDDER, DIM, embedded=False)
        collection = client.get_collection(COLLECTION)
        year_collection = client.get_or_create_collection(f"{COLLECTION}-{args.year}",
                                                          metadata={"hnsw:space": "cosine"})
        parted = None
        if args.store != "single":  # its partitions are ``scale.<year>``: no clash with the two above
            parted = PartitionedDenseStore(lambda: client, COLLECTION, NoEmbedder(), EMBEDDER, DIM,
                                           run.catalog, embedded=False)  # type: ignore[arg-type]
        run.results["store"] = args.store
        for size in sorted(int(s) for s in args.sizes.split(",")):
            print(f"growing to {size:,} passages", flush=True)
            run.grow(collection, year_collection, parted, size)
            if not args.build_only:
                run.measure(size, dense, collection, year_collection, parted, port, server)
    finally:
        server.terminate()
        server.wait(timeout=60)
        if args.data is None and not args.server:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
