"""Chroma access through langchain-chroma: embedded PersistentClient or a Chroma server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from values.errors import EmbedderMismatchError, StoreError

_FILTER_SOURCES = 500  # a scope wider than this searches everything first, then filters
_OVERFETCH = 4


@dataclass(frozen=True)
class ChromaConfig:
    """Where the collection lives: ``path`` for embedded, or ``host``/``port`` for a server."""

    collection: str
    path: Path | None = None
    host: str | None = None
    port: int = 8000
    ssl: bool = False


@dataclass(frozen=True)
class DenseHit:
    """A passage id with its cosine similarity to the question."""

    passage_id: str
    similarity: float
    source: str | None = None  # only when asked for


def open_client(config: ChromaConfig) -> chromadb.ClientAPI:
    """A Chroma client: HttpClient when a host is set, else a PersistentClient on ``path``."""
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
    return chromadb.PersistentClient(path=str(config.path), settings=settings)


class DenseStore:
    """The dense leg: passage vectors in one Chroma collection that records its embedder."""

    def __init__(self, client: chromadb.ClientAPI, config: ChromaConfig, embedder: Embeddings,
                 embedder_name: str, dimension: int) -> None:
        self._chroma = Chroma(
            client=client, collection_name=config.collection, embedding_function=embedder,
            collection_metadata={"hnsw:space": "cosine", "embedder": embedder_name, "dimension": dimension},
        )
        self._collection = self._chroma._collection
        built_by = (self._collection.metadata or {}).get("embedder")
        built_dim = (self._collection.metadata or {}).get("dimension")
        if built_by is not None and (built_by != embedder_name or built_dim != dimension):
            raise EmbedderMismatchError(
                f"the index in collection {config.collection!r} was built with embedder {built_by!r} "
                f"(dimension {built_dim}); the configured embedder is {embedder_name!r} (dimension "
                f"{dimension}). Set VRAAGBAAK_EMBEDDER={built_by} or rebuild with `vraagbaak ingest --rebuild PATH`."
            )
        self.embedder = embedder

    def add(self, ids: list[str], texts: list[str], metadatas: list[dict[str, str | int]]) -> None:
        """Embed ``texts`` and upsert them under ``ids`` (re-adding an id replaces it)."""
        if ids:
            self._chroma.add_texts(texts=texts, metadatas=metadatas, ids=ids)

    def add_vectors(self, ids: list[str], texts: list[str], vectors: list[list[float]],
                    metadatas: list[dict[str, str | int]]) -> None:
        """Upsert already computed vectors."""
        if ids:
            self._collection.upsert(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)  # type: ignore[arg-type]

    def delete(self, ids: list[str]) -> None:
        """Remove vectors by id (unknown ids are ignored)."""
        for at in range(0, len(ids), 5000):
            self._collection.delete(ids=ids[at:at + 5000])

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

    def count(self) -> int:
        """How many vectors the collection holds."""
        return int(self._collection.count())

    def search(self, vector: list[float], k: int, sources: list[str] | None = None) -> list[DenseHit]:
        """The ``k`` nearest passages, optionally only from ``sources``.

        A long ``$in`` filter is slow in Chroma (about 25 ms per 1,000 sources), so a wide scope
        first searches everything, a few times deeper, and keeps the hits in scope; only when
        too few are left does it fall back to the filter.
        """
        total = self.count()
        if not sources:
            return self._query(vector, min(k, total), None)
        if len(sources) > _FILTER_SOURCES:
            wanted = set(sources)
            depth = min(total, k * _OVERFETCH)
            kept = [h for h in self._query(vector, depth, None, with_source=True) if h.source in wanted]
            if len(kept) >= k or depth == total:
                return kept[:k]
        return self._query(vector, min(k, total), {"source": {"$in": sources}})

    def _query(self, vector: list[float], n: int, where: dict[str, object] | None,
               with_source: bool = False) -> list[DenseHit]:
        if n == 0:
            return []
        result = self._collection.query(query_embeddings=[vector], n_results=n, where=where,  # type: ignore[arg-type]
                                        include=["distances", "metadatas"] if with_source else ["distances"])
        ids, distances = result["ids"][0], (result["distances"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0] if with_source else [None] * len(ids)
        return [DenseHit(i, 1.0 - float(d), str(m["source"]) if m else None)
                for i, d, m in zip(ids, distances, metas, strict=True)]
