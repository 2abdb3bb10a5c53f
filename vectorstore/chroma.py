"""Chroma access through langchain-chroma: embedded PersistentClient or a Chroma server."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import chromadb
import httpx
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import InternalError, NotFoundError
from filelock import FileLock
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from values.errors import EmbedderMismatchError, StoreError

_T = TypeVar("_T")
_FILTER_SOURCES = 500  # a scope wider than this searches everything first, then filters
_OVERFETCH = 4
# HNSW's candidate list per query. Chroma's default (100) for a top 40 missed a passage that was
# 5th by exact cosine in one process of two over the same 528-passage index (the graph is rebuilt
# from Chroma's log on opening, with threads): the same question got other passages after a
# restart, or on another replica. 200 gave the exact top 40 in every process (benchmarks/README.md).
SEARCH_EF = 200
OPEN_LOCK = ".vraagbaak-open.lock"  # in the Chroma folder: serialises opening it across processes


@dataclass(frozen=True)
class ChromaConfig:
    """Where the collection lives: ``path`` for embedded, or ``host``/``port`` for a server."""

    collection: str
    path: Path | None
    host: str | None
    port: int
    ssl: bool


@dataclass(frozen=True)
class DenseHit:
    """A passage id with its cosine similarity to the question."""

    passage_id: str
    similarity: float
    source: str | None = None  # only when asked for


def is_partition(name: str, collection: str) -> bool:
    """Whether ``name`` is a year partition of ``collection`` (``<collection>.<year>`` or ``<collection>.undated``)."""
    part = name[len(collection) + 1:]
    return name.startswith(collection + ".") and (part == "undated" or (part.isdigit() and len(part) == 4))


def open_client(config: ChromaConfig) -> chromadb.ClientAPI:
    """A Chroma client: HttpClient when a host is set, else a PersistentClient on ``path`` with its own view.

    chromadb shares one in-memory system per path within a process, which is stale once another
    process has written; dropping that cache (not stopping the systems, so searches under way stay
    intact) makes the new client read the files again. Chroma offers no other way to do that
    (chroma-core/chroma#2536, #3792); ``clear_system_cache`` is public but documented for tests.
    """
    settings = ChromaSettings(anonymized_telemetry=False)
    if config.host:
        try:
            return chromadb.HttpClient(host=config.host, port=config.port, ssl=config.ssl, settings=settings)
        except (ValueError, ConnectionError) as e:
            raise StoreError(
                f"cannot reach the Chroma server at {config.host}:{config.port} ({e}); "
                "start it with `chroma run --path DIR --host 127.0.0.1 --port N` or unset VRAAGBAAK_CHROMA_HOST"
            ) from e
    if config.path is None:
        raise StoreError("no Chroma path and no Chroma host configured")
    config.path.mkdir(parents=True, exist_ok=True)
    SharedSystemClient.clear_system_cache()
    try:
        # Chroma migrates a new folder's database without a lock of its own: two processes
        # opening it at once (two ingests started together) fail with "table collections already exists"
        with FileLock(config.path / OPEN_LOCK):
            return chromadb.PersistentClient(path=str(config.path), settings=settings)
    except InternalError as e:
        if "disk is full" not in str(e):
            raise
        raise StoreError(f"cannot open the vectors in {config.path}: the disk is full ({e}); "
                         "free space on it, then start again (nothing indexed is lost)") from e


def _server_faults(method: Callable[..., _T]) -> Callable[..., _T]:
    """A Chroma server that went away (stopped, restarting, network) is a StoreError naming it.

    chromadb's HttpClient lets httpx's transport errors through raw; the client object itself
    stays usable, so once the server is back the next call succeeds without a restart.
    """
    @functools.wraps(method)
    def wrapped(self: DenseStore, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except httpx.TransportError as e:
            raise StoreError(f"the Chroma server at {self.server} does not answer ({type(e).__name__}: {e}); "
                             "start it again (`chroma run ...`): vraagbaak carries on once it is back, "
                             "and an ingest cut off by it is repaired by the next run") from e
    return wrapped


class DenseStore:
    """The dense leg: passage vectors in one Chroma collection that records its embedder.

    ``connect`` opens a client; an embedded (PersistentClient) store calls it again in ``reopen``
    because an embedded client keeps the vector index in memory and never sees another process's
    writes. A collection built by another embedder is kept as ``mismatch`` (raised by ``check``)
    rather than raised here, so that ``ingest --rebuild`` can still reset it.
    """

    def __init__(self, connect: Callable[[], chromadb.ClientAPI], collection: str, embedder: Embeddings,
                 embedder_name: str, dimension: int, *, embedded: bool, server: str = "") -> None:
        self._connect = connect
        self.server = server or "(unnamed)"  # host:port, for the errors of a server that went away
        self._name = collection
        self._embedder = embedder
        self._metadata = {"hnsw:space": "cosine", "hnsw:search_ef": SEARCH_EF, "embedder": embedder_name,
                          "dimension": dimension}
        self.embedded = embedded
        self._client = connect()
        self.mismatch: EmbedderMismatchError | None = None
        self._open()

    @_server_faults
    def _open(self) -> None:
        # langchain-chroma embeds and upserts (``add``); the rest goes to the collection itself
        self._chroma = Chroma(client=self._client, collection_name=self._name, embedding_function=self._embedder,
                              collection_metadata=self._metadata)
        self._collection = self._client.get_collection(self._name, embedding_function=None)
        hnsw = (self._collection.configuration or {}).get("hnsw") or {}
        if int(hnsw.get("ef_search") or 0) < SEARCH_EF:  # an index made before: search it as deep as a new one
            self._collection.modify(configuration={"hnsw": {"ef_search": SEARCH_EF}})
        built_by = (self._collection.metadata or {}).get("embedder")
        built_dim = (self._collection.metadata or {}).get("dimension")
        wanted_by, wanted_dim = self._metadata["embedder"], self._metadata["dimension"]
        self.mismatch = None
        if built_by is not None and (built_by != wanted_by or built_dim != wanted_dim):
            self.mismatch = EmbedderMismatchError(
                f"the index in collection {self._name!r} was built with embedder {built_by!r} "
                f"(dimension {built_dim}); the configured embedder is {wanted_by!r} (dimension "
                f"{wanted_dim}). Set VRAAGBAAK_EMBEDDER={built_by} or rebuild with `vraagbaak ingest --rebuild PATH`."
            )

    @property
    def collection_id(self) -> object:
        """The collection's id: another after the collection was dropped and created again."""
        return self._collection.id

    def check(self) -> None:
        """Raise the embedder mismatch found on opening, if any."""
        if self.mismatch is not None:
            raise EmbedderMismatchError(str(self.mismatch))

    @_server_faults
    def ping(self) -> None:
        """Raise StoreError when a Chroma server does not answer (an embedded store always does)."""
        if not self.embedded:
            self._client.heartbeat()

    def reopen(self) -> None:
        """Read the collection from disk again (embedded), or just re-open it (server)."""
        if self.embedded:
            self._client = self._connect()
        self._open()

    @_server_faults
    def reset(self) -> None:
        """Drop the collection and create it empty (for this store's embedder).

        The year partitions an index of this name kept while ``dense_partition = "year"`` go too:
        switching back to one collection rebuilds the index, and they would hold its old vectors
        (and the server's memory) for ever.
        """
        leftover = [c.name for c in self._client.list_collections() if is_partition(c.name, self._name)]
        for name in [self._name, *leftover]:
            try:
                self._client.delete_collection(name)
            except NotFoundError:
                pass  # a crash after the delete and before the re-create
        self._open()

    @_server_faults
    def add(self, ids: list[str], texts: list[str], metadatas: list[dict[str, str | int]],
            years: Sequence[int | None] | None = None) -> None:
        """Embed ``texts`` and upsert them under ``ids`` (re-adding an id replaces it).

        ``years`` (each passage's document year) is what a partitioned store files by; one
        collection holds every year.
        """
        if ids:
            self.check()
            self._chroma.add_texts(texts=texts, metadatas=metadatas, ids=ids)

    @_server_faults
    def add_vectors(self, ids: list[str], texts: list[str], vectors: list[list[float]],
                    metadatas: list[dict[str, str | int]], years: Sequence[int | None] | None = None) -> None:
        """Upsert already computed vectors (``years`` as in ``add``: one collection ignores them)."""
        if ids:
            self._collection.upsert(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)  # type: ignore[arg-type]

    @_server_faults
    def copy(self, new_ids: dict[str, str], source: str) -> None:
        """Upsert the stored vectors of ``new_ids``' keys under its values, now for ``source``."""
        old = list(new_ids)
        for at in range(0, len(old), 5000):
            chunk = old[at:at + 5000]
            got = self._collection.get(ids=chunk, include=["embeddings", "documents", "metadatas"])
            if len(got["ids"]) != len(chunk):
                missing = sorted(set(chunk) - set(got["ids"]))
                raise StoreError(f"{len(missing)} vectors of {source} are missing from Chroma "
                                 f"(e.g. {missing[0]}); run `vraagbaak ingest` again to re-index it")
            metas = [{**(m or {}), "source": source} for m in got["metadatas"] or []]
            self.add_vectors([new_ids[i] for i in got["ids"]], list(got["documents"] or []),
                             [list(map(float, v)) for v in got["embeddings"]],  # type: ignore[union-attr]
                             metas)  # type: ignore[arg-type]

    def place(self, years: Mapping[str, int | None]) -> None:
        """Nothing to move when a document's year changes: one collection holds every year."""

    def settle(self, years: Mapping[str, int | None]) -> None:
        """Nothing to clean after a document's year changed: one collection holds every year."""

    @_server_faults
    def present(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` the collection holds."""
        out: list[str] = []
        for at in range(0, len(ids), 5000):
            out += self._collection.get(ids=list(ids[at:at + 5000]), include=[])["ids"]
        return out

    @_server_faults
    def vectors(self, ids: Sequence[str], documents: bool = True) -> tuple[
            list[str], list[str], list[list[float]], list[dict[str, str | int]]]:
        """The stored ids, texts (empty without ``documents``), vectors and metadata of those of ``ids`` held."""
        got_ids: list[str] = []
        texts: list[str] = []
        vectors: list[list[float]] = []
        metas: list[dict[str, str | int]] = []
        for at in range(0, len(ids), 5000):
            chunk = list(ids[at:at + 5000])
            got = (self._collection.get(ids=chunk, include=["embeddings", "documents", "metadatas"]) if documents
                   else self._collection.get(ids=chunk, include=["embeddings"]))
            got_ids += got["ids"]
            vectors += [list(map(float, v)) for v in got["embeddings"]]  # type: ignore[union-attr]
            if documents:
                texts += list(got["documents"] or [])
                metas += [dict(m or {}) for m in got["metadatas"] or []]  # type: ignore[arg-type]
        return got_ids, texts, vectors, metas

    @_server_faults
    def delete(self, ids: list[str]) -> None:
        """Remove vectors by id (unknown ids are ignored)."""
        for at in range(0, len(ids), 5000):
            self._collection.delete(ids=ids[at:at + 5000])

    @_server_faults
    def ids(self) -> set[str]:
        """Every id in the collection (for the orphan sweep)."""
        out: set[str] = set()
        offset = 0
        while True:
            batch = self._collection.get(include=[], limit=10000, offset=offset)["ids"]
            out.update(batch)
            if len(batch) < 10000:
                return out
            offset += len(batch)

    def close(self) -> None:
        """Nothing to release: the client closes with the process."""

    @_server_faults
    def count(self) -> int:
        """How many vectors the collection holds."""
        return int(self._collection.count())

    @_server_faults
    def search(self, vector: list[float], k: int, sources: list[str] | None = None) -> list[DenseHit]:
        """The ``k`` nearest passages, optionally only from ``sources``.

        A long ``$in`` filter is slow in Chroma (about 25 ms per 1,000 sources), so a wide scope
        first searches everything, a few times deeper, and keeps the hits in scope; only when
        too few are left does it fall back to the filter.
        """
        self.check()  # no count() first: Chroma returns fewer than ``n_results`` when it holds fewer
        if not sources:
            return self._query(vector, k, None)
        if len(sources) > _FILTER_SOURCES:
            wanted = set(sources)
            depth = k * _OVERFETCH
            everything = self._query(vector, depth, None, with_source=True)
            kept = [h for h in everything if h.source in wanted]
            if len(kept) >= k or len(everything) < depth:
                return kept[:k]
        return self._query(vector, k, {"source": {"$in": sources}})

    @_server_faults
    def search_ids(self, vector: list[float], k: int, ids: list[str]) -> list[DenseHit]:
        """The ``k`` nearest among the vectors ``ids`` (Chroma's ``ids`` restriction: no metadata filter)."""
        self.check()
        if not ids:
            return []
        return self._query(vector, min(k, len(ids)), None, ids=ids)

    def _query(self, vector: list[float], n: int, where: dict[str, object] | None,
               with_source: bool = False, ids: list[str] | None = None) -> list[DenseHit]:
        if n == 0:
            return []
        result = self._collection.query(query_embeddings=[vector], n_results=n, where=where, ids=ids,  # type: ignore[arg-type]
                                        include=["distances", "metadatas"] if with_source else ["distances"])
        ids, distances = result["ids"][0], (result["distances"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0] if with_source else [None] * len(ids)
        return [DenseHit(i, 1.0 - float(d), str(m["source"]) if m else None)
                for i, d, m in zip(ids, distances, metas, strict=True)]
