"""The dense leg split into one Chroma collection per document year: scoped questions at 1M passages.

Measured through `chroma run` at 1M passages (benchmarks/README.md, "The dense store at scale"), a year
filter on one big collection took 0.4-4 s and lost recall; a collection holding only that year
answered in 16 ms with recall 1.0. So a passage lives in the collection of its document's year
(``<collection>.<year>``, undated documents in ``<collection>.undated``): a question scoped by
year asks only those partitions, an unscoped one asks all of them in parallel and merges by
similarity, a document or folder scope asks only the partitions of its years, a small scope
exactly (its vectors fetched by id, cosine here). In a partition a wider scope covers only in
part, Chroma's filter costs what 5-7 unfiltered searches cost (benchmarks/README.md, "Scoped
questions at 1M"): a scope holding a small share of it is searched among its passage ids there,
a larger share unfiltered and deeper, keeping the hits the catalog says are the scope's.

The year of a passage comes from the writer (``add(..., years)``); which partitions a scope
spans, and how many passages it holds, from the catalog (cached per catalog version). A
document whose year changes gets its vectors in the new partition first (``place``), then the
catalog commits, then ``settle`` removes the other copies: the order of ``PassageIndex.write``.
A crash in between leaves an id in two partitions; ``ids`` (the orphan sweep) keeps the copy in
the partition of the year the catalog committed and deletes the rest.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

import chromadb
import numpy as np
from chromadb.errors import InternalError, NotFoundError
from langchain_core.embeddings import Embeddings

from values.errors import EmbedderMismatchError, StoreError
from vectorstore.catalog import Catalog
from vectorstore.chroma import DenseHit, DenseStore, is_partition, server_faults

UNDATED = "undated"
# a scope of at most this many passages is scored exactly (its vectors fetched by id): as fast as
# the filter for one document, better at p95 at 500k; slower from ~50 passages on (benchmarks/README.md)
EXACT_MAX = 100
# a partition is searched unfiltered at most this deep for a scope's passages, else restricted to the scope's
# ids in it (up to IDS_MAX of them) or through Chroma's filter
DEEP_MAX = 4000
IDS_MAX = 5000
DEEP_SHARE = 0.2  # a scope holding less of a partition than this is searched among its ids there, not deeper
_ROOM = 1.5  # how much deeper than the scope's expected share of a partition's nearest
_THREADS = 32  # measured over 32 partitions: one thread each beat 8 at p50 (and mostly p95), 8 beat one after another
_J = TypeVar("_J")
_R = TypeVar("_R")


def partition_of(year: int | None) -> str:
    """The partition a document of ``year`` (None: undated) lives in."""
    return UNDATED if year is None else str(year)


@dataclass(frozen=True)
class _Job:
    """One partition's part of a search: all of it, the scope's (by ids, else the filter), or searched deeper."""

    store: DenseStore
    sources: list[str] | None  # the scope's sources in the partition; None: all of them
    depth: int = 0  # > 0: the ``depth`` nearest unfiltered, keeping the scope's own


@dataclass(frozen=True)
class _Layout:
    """What the catalog says at one version: each source's partition and passage count, sources by partition."""

    version: int
    partition: dict[str, str]
    passages: dict[str, int]
    sources: dict[str, set[str]]
    held: dict[str, int]  # passages per partition (keyword-only ones too: a share, not a count of vectors)


class PartitionedDenseStore:
    """Passage vectors in one Chroma collection per document year, behind ``DenseStore``'s interface."""

    def __init__(self, connect: Callable[[], chromadb.ClientAPI], collection: str, embedder: Embeddings,
                 embedder_name: str, dimension: int, catalog: Catalog, *, embedded: bool, server: str = "",
                 exact_max: int = EXACT_MAX, deep_max: int = DEEP_MAX, ids_max: int = IDS_MAX,
                 deep_share: float = DEEP_SHARE, threads: int = _THREADS) -> None:
        self._connect = connect
        self.server = server or "(unnamed)"
        self._name = collection
        self._embedder = embedder
        self._embedder_name = embedder_name
        self._dimension = dimension
        self._catalog = catalog
        self.embedded = embedded
        self.exact_max = exact_max
        self.deep_max = deep_max
        self.ids_max = ids_max
        self.deep_share = deep_share
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="partition") if threads > 1 else None
        self._client = connect()
        self._parts: dict[str, DenseStore] = {}  # replaced whole, never changed in place: threads read it
        self._lock = threading.RLock()
        self._layout: _Layout | None = None
        # passage id -> source of the documents scopes asked for, and their ids by source, at a catalog version
        self._owners: tuple[int, dict[str, str], dict[str, list[str]]] = (-1, {}, {})
        self._listed_at = -1  # the catalog version the partitions were last listed at
        self._open(fresh=True)

    # -- partitions ------------------------------------------------------------------------
    def _collection_name(self, part: str) -> str:
        return f"{self._name}.{part}"

    def _new_store(self, part: str) -> DenseStore:
        client = self._client  # one client for every partition: an embedded one is re-opened only by ``reopen``
        return DenseStore(lambda: client, self._collection_name(part), self._embedder, self._embedder_name,
                          self._dimension, embedded=self.embedded, server=self.server)

    def _store(self, part: str) -> DenseStore:
        """The partition's store, creating its collection on first use."""
        store = self._parts.get(part)
        if store is None:
            with self._lock:
                store = self._parts.get(part) or self._new_store(part)
                self._parts = {**self._parts, part: store}  # one assignment: a reader sees old or new, whole
        return store

    @server_faults
    def _open(self, fresh: bool = False) -> None:
        """List the partitions the server (or folder) holds; open those new (all when ``fresh``).

        A partition dropped and created again (another process's rebuild) has a new id: it is opened again.
        """
        with self._lock:
            version = self._catalog.version
            held = {} if fresh else self._parts
            parts: dict[str, DenseStore] = {}
            new: list[str] = []
            for found in sorted(self._client.list_collections(), key=lambda c: c.name):
                if not is_partition(found.name, self._name):
                    continue
                part = found.name[len(self._name) + 1:]
                store = held.get(part)
                if store is not None and store.collection_id == found.id:
                    parts[part] = store
                else:
                    new.append(part)
            parts.update(zip(new, self._each(self._new_store, new), strict=True))  # a few round trips each
            self._parts = dict(sorted(parts.items()))
            self._listed_at = version

    def _current(self) -> dict[str, DenseStore]:
        """The partitions, listed again when another writer (process or replica) may have added one."""
        if self._catalog.version != self._listed_at:
            self._open()
        return self._parts

    @property
    def mismatch(self) -> EmbedderMismatchError | None:
        """The first partition built by another embedder, if any (raised by ``check``)."""
        return next((p.mismatch for p in self._parts.values() if p.mismatch is not None), None)

    def check(self) -> None:
        """Raise the embedder mismatch found on opening, if any."""
        for store in self._parts.values():
            store.check()

    @server_faults
    def ping(self) -> None:
        """Raise StoreError when a Chroma server does not answer (an embedded store always does)."""
        if not self.embedded:
            self._client.heartbeat()

    def reopen(self) -> None:
        """Read the partitions from disk again (embedded), or just list and re-open them (server)."""
        if self.embedded:
            self._client = self._connect()
        self._open(fresh=self.embedded)

    @server_faults
    def reset(self) -> None:
        """Drop every partition, and the single collection an unpartitioned index of this name used."""
        for name in [self._name, *(self._collection_name(p) for p in self._parts)]:
            try:
                self._client.delete_collection(name)
            except NotFoundError:
                pass  # never created, or a crash after the delete
        with self._lock:
            self._parts = {}
            self._layout = None

    # -- writing ---------------------------------------------------------------------------
    def add(self, ids: list[str], texts: list[str], metadatas: list[dict[str, str | int]],
            years: Sequence[int | None] | None = None) -> None:
        """Embed ``texts`` and upsert each into the partition of its document's year."""
        if not ids:
            return
        self.check()
        vectors = self._embedder.embed_documents(texts)
        self.add_vectors(ids, texts, vectors, metadatas, years)

    def add_vectors(self, ids: list[str], texts: list[str], vectors: list[list[float]],
                    metadatas: list[dict[str, str | int]], years: Sequence[int | None] | None = None) -> None:
        """Upsert already computed vectors into their years' partitions."""
        by_part: dict[str, list[int]] = {}
        for at, year in enumerate(years if years is not None else [None] * len(ids)):
            by_part.setdefault(partition_of(year), []).append(at)
        def upsert(part: str) -> None:
            rows = by_part[part]
            self._store(part).add_vectors([ids[i] for i in rows], [texts[i] for i in rows],
                                          [vectors[i] for i in rows], [metadatas[i] for i in rows])

        for part in by_part:
            self._store(part)  # created here, not in the threads
        self._each(upsert, list(by_part))

    def copy(self, new_ids: dict[str, str], source: str) -> None:
        """Store the vectors of ``new_ids``' keys again under its values, each in the partition it is in."""
        left = dict(new_ids)
        for store in list(self._parts.values()):
            held = store.present(list(left))
            if held:
                store.copy({i: left.pop(i) for i in held}, source)
        if left:
            missing = sorted(left)
            raise StoreError(f"{len(missing)} vectors of {source} are missing from Chroma "
                             f"(e.g. {missing[0]}); run `vraagbaak ingest` again to re-index it")

    def delete(self, ids: list[str]) -> None:
        """Remove vectors by id from every partition that holds them (asked in the threads)."""
        if ids:
            self._each(lambda store: store.delete(store.present(ids)), list(self._parts.values()))

    def place(self, years: Mapping[str, int | None]) -> None:
        """Copy vectors into the partition of their document's new year (before the catalog records it)."""
        wanted: dict[str, list[str]] = {}
        for pid, year in years.items():
            wanted.setdefault(partition_of(year), []).append(pid)
        for part, ids in wanted.items():
            target = self._store(part)
            missing = sorted(set(ids) - set(target.present(ids)))
            for store in [s for p, s in list(self._parts.items()) if p != part]:
                got = store.vectors(missing)
                if got[0]:
                    target.add_vectors(*got)
                    missing = sorted(set(missing) - set(got[0]))

    def settle(self, years: Mapping[str, int | None]) -> None:
        """Remove the copies of ids outside the partition of their document's year (after the catalog committed)."""
        def clean(job: tuple[str, DenseStore]) -> None:
            elsewhere = [pid for pid, year in years.items() if partition_of(year) != job[0]]
            job[1].delete(job[1].present(elsewhere))

        if years:
            self._each(clean, list(self._parts.items()))

    # -- reading ---------------------------------------------------------------------------
    def count(self) -> int:
        """How many vectors the partitions hold together."""
        return sum(store.count() for store in list(self._parts.values()))

    def ids(self) -> set[str]:
        """Every id in the partitions (for the orphan sweep); an id in two keeps only its committed year's copy."""
        seen: dict[str, list[str]] = {}
        for part, store in list(self._parts.items()):
            for pid in store.ids():
                seen.setdefault(pid, []).append(part)
        twice = {pid: parts for pid, parts in seen.items() if len(parts) > 1}
        if twice:
            rows = self._catalog.passages_by_id(twice)
            records = self._catalog.documents()
            for pid, parts in twice.items():
                row = rows.get(pid)
                record = records.get(row.passage.source) if row is not None else None
                keep = partition_of(record.year) if record is not None else None
                for part in parts:
                    if part != keep:
                        self._parts[part].delete([pid])
        return set(seen)

    def _scope_layout(self) -> _Layout:
        """Each indexed source's partition and passage count, read again when the catalog moved."""
        version = self._catalog.version
        layout = self._layout
        if layout is None or layout.version != version:
            with self._catalog.snapshot():
                version = self._catalog.version
                records = self._catalog.documents()
            partition = {s: partition_of(r.year) for s, r in records.items()}
            sources: dict[str, set[str]] = {}
            for source, part in partition.items():
                sources.setdefault(part, set()).add(source)
            passages = {s: r.passages for s, r in records.items()}
            held = {part: sum(passages[s] for s in chosen) for part, chosen in sources.items()}
            layout = _Layout(version, partition, passages, sources, held)
            self._layout = layout
        return layout

    def _owned(self, sources: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Passage id -> source, and source -> ids, for (at least) the vectors of ``sources``, once per version.

        What a partition searched deeper checks its hits against: asking Chroma for each hit's
        source costs more than the search (benchmarks/README.md). It grows with the documents
        scopes ask for, up to every passage id (about 100 MB at 1M passages).
        """
        with self._lock:
            version, owners, by_source = self._owners
            missing = [s for s in sources if s not in by_source]
            if missing or version != self._catalog.version:
                with self._catalog.snapshot():
                    now = self._catalog.version
                    if now != version:
                        owners, by_source, missing = {}, {}, sources
                    got = self._catalog.dense_ids_of(missing)
                grouped: dict[str, list[str]] = {s: [] for s in missing}
                for pid, source in got.items():
                    grouped[source].append(pid)
                owners.update(got)  # readers only look up: safe to grow in place
                by_source.update(grouped)
                self._owners = (now, owners, by_source)
            return owners, by_source

    def search(self, vector: list[float], k: int, sources: list[str] | None = None) -> list[DenseHit]:
        """The ``k`` nearest passages, optionally only from ``sources``: only their years' partitions are asked.

        A partition the scope covers whole is searched unfiltered; a scope of at most
        ``exact_max`` passages is scored exactly; otherwise each partition is searched deeper
        unfiltered, keeping the scope's own (``_plan``, ``_owned``, ``_merge``), or, where that
        would go deeper than ``deep_max``, restricted to the scope's ids or through Chroma's
        filter: a filtered query costs several unfiltered ones (benchmarks/README.md, "Scoped
        questions at 1M").
        """
        self.check()
        parts = self._current()
        if not sources:
            return self._merge(k, [_Job(store, None) for store in parts.values()], vector)
        layout = self._scope_layout()
        wanted: dict[str, list[str]] = {}
        for source in sources:
            part = layout.partition.get(source)
            if part is not None and part in parts:
                wanted.setdefault(part, []).append(source)
        total = sum(layout.passages.get(s, 0) for s in sources)
        if total <= self.exact_max:
            return self._exact(vector, k, [(parts[p], chosen) for p, chosen in wanted.items()])
        jobs = [self._plan(parts[p], p, chosen, layout, k, total) for p, chosen in wanted.items()]
        partial = [s for job in jobs for s in job.sources or ()]
        return self._merge(k, jobs, vector, *(self._owned(partial) if partial else ({}, {})))

    def _plan(self, store: DenseStore, part: str, chosen: list[str], layout: _Layout, k: int, total: int) -> _Job:
        """How to search one partition for ``chosen`` (of a scope of ``total`` passages).

        A scope holding less than ``deep_share`` of the partition is searched among its ids (a
        folder's passages gather near some topics: for other questions a deeper search finds
        too few of them and goes deeper again, and loses recall in HNSW's tail). Otherwise it
        is searched deep enough that, were the scope's passages spread evenly, the partition's
        likely part of the top ``k`` (twice its share, and 4 more) comes back with room to
        spare; ``_merge`` asks again when that was not deep enough.
        """
        if len(chosen) == len(layout.sources.get(part, ())):
            return _Job(store, None)
        in_scope = max(1, sum(layout.passages.get(s, 0) for s in chosen))
        if in_scope < self.deep_share * layout.held.get(part, 0) and in_scope <= self.ids_max:
            return _Job(store, chosen)  # a small share: restricted to its ids (``_merge``)
        want = min(k, math.ceil(2 * k * in_scope / max(1, total)) + 4)
        depth = math.ceil(_ROOM * want * max(in_scope, layout.held.get(part, 0)) / in_scope)
        return _Job(store, chosen, depth if depth <= self.deep_max else 0)

    def _merge(self, k: int, jobs: list[_Job], vector: list[float], owners: Mapping[str, str] | None = None,
               by_source: Mapping[str, list[str]] | None = None) -> list[DenseHit]:
        """The ``k`` best of each partition's own best, by similarity (then id: a stable order).

        A partition searched deeper returns the scope's hits among its ``depth`` nearest (by
        ``owners``: passage id -> source). When fewer than ``k`` came back and its deepest is
        still above the ``k``-th best found overall, the scope may have better passages further
        down: that partition is searched 4 times deeper, and past ``deep_max`` restricted to the
        scope's ids in it (up to ``ids_max``) or through the filter. So the result is what the
        filter in every partition would give (up to HNSW's approximation).
        """
        def one(job: _Job) -> tuple[list[DenseHit], float | None]:
            if job.depth:
                got = job.store.search(vector, job.depth)
                mine = set(job.sources or ())
                kept = [h for h in got if (owners or {}).get(h.passage_id) in mine][:k]
                short = len(kept) < k and len(got) == job.depth  # found too few, and the partition holds more
                return kept, got[-1].similarity if short else None
            if job.sources is not None and by_source is not None:
                ids = [i for s in job.sources for i in by_source.get(s, ())]
                if len(ids) <= self.ids_max:
                    try:
                        return job.store.search_ids(vector, k, ids), None
                    except InternalError as e:  # Chroma fails the query on an id it does not hold
                        if "Error finding id" not in str(e):
                            raise
                        # a writer replaced or moved one since the catalog gave it: the filter finds by source
            return job.store.search(vector, k, job.sources), None

        def best(found: list[tuple[list[DenseHit], float | None]]) -> list[DenseHit]:
            return sorted((h for hits, _ in found for h in hits), key=lambda h: (-h.similarity, h.passage_id))[:k]

        found = self._each(one, jobs)
        hits = best(found)
        while True:
            floor = hits[-1].similarity if len(hits) == k else -math.inf
            again = [at for at, (_, deepest) in enumerate(found) if deepest is not None and deepest >= floor]
            if not again:
                return hits
            for at in again:
                deeper = 4 * jobs[at].depth
                jobs[at] = replace(jobs[at], depth=deeper if deeper <= self.deep_max else 0)
            for at, result in zip(again, self._each(lambda at: one(jobs[at]), again), strict=True):
                found[at] = result
            hits = best(found)

    def _each(self, call: Callable[[_J], _R], jobs: list[_J]) -> list[_R]:
        """``call`` on each job, in the threads when there are several (a partition each: they wait on Chroma)."""
        if self._pool is not None and len(jobs) > 1:
            return list(self._pool.map(call, jobs))
        return [call(job) for job in jobs]

    def _exact(self, vector: list[float], k: int, wanted: list[tuple[DenseStore, list[str]]]) -> list[DenseHit]:
        """Cosine against every vector of a small scope, fetched by id from its partitions."""
        got_ids: list[str] = []
        rows: list[np.ndarray] = []
        for store, chosen in wanted:
            ids = sorted(i for s in chosen for i in self._catalog.passage_ids(s, dense_only=True))
            found = store.vectors(ids, documents=False)
            if found[0]:
                got_ids += found[0]
                rows.append(np.asarray(found[2], dtype=np.float32))
        if not got_ids:
            return []
        matrix = np.concatenate(rows)
        query = np.asarray(vector, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
        scores = (matrix @ query) / np.where(norms == 0, 1.0, norms)
        order = sorted(range(len(got_ids)), key=lambda i: (-float(scores[i]), got_ids[i]))[:k]
        return [DenseHit(got_ids[i], float(scores[i])) for i in order]

    def close(self) -> None:
        """Stop the search threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
