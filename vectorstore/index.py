"""The passage index: catalog + Chroma + keyword index, opened together and written in step."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chromadb.api import ClientAPI
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.errors import InternalError, NotFoundError
from langchain_core.embeddings import Embeddings

from values.errors import EmbedderMismatchError, StoreError
from vectorstore.catalog import Catalog
from vectorstore.chroma import ChromaConfig, DenseHit, DenseStore, open_client
from vectorstore.keyword import KeywordIndex


@dataclass(frozen=True)
class IndexSettings:
    """What an index is built with; a change means a rebuild, never a mix of two."""

    embedder: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    structure: bool
    embed_question_parts: bool
    chunker_version: int = 3

    def to_json(self) -> str:
        """Stable serialisation for the catalog."""
        return json.dumps(asdict(self), sort_keys=True)


class PassageIndex:
    """Everything a data dir holds: open it once, share it read-only, write under the lock."""

    def __init__(self, data_dir: Path, chroma: ChromaConfig, embedder: Embeddings,
                 settings: IndexSettings) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self._chroma_config = chroma
        self._embedder = embedder
        self.catalog = Catalog(data_dir / "catalog.sqlite3")
        self.keyword = KeywordIndex(data_dir / "keyword", self.catalog)
        self._dense_lock = threading.RLock()
        self._writing = 0
        self._clean_before = False
        self._client = self._open_client()
        self._dense: DenseStore | None = None
        self._mismatch: EmbedderMismatchError | None = None
        self._dense_version = self.catalog.version
        self._open_dense()

    def _open_client(self) -> ClientAPI:
        """A Chroma client with its own view of the files.

        chromadb shares one in-memory system per path within a process, which is stale once
        another process has written.
        """
        if self._chroma_config.host is None:
            # dropping the cache (not stopping the systems) leaves searches under way intact
            SharedSystemClient.clear_system_cache()
        return open_client(self._chroma_config)

    def _open_dense(self) -> None:
        """Open the collection, keeping an embedder mismatch for ``dense`` to raise.

        Raising later lets ``ingest --rebuild`` reset an index built by another embedder.
        """
        try:
            self._dense = _SyncedDenseStore(self, self._client, self._chroma_config, self._embedder,
                                            self.settings.embedder, self.settings.dimension)
            self._mismatch = None
        except EmbedderMismatchError as e:
            self._dense, self._mismatch = None, e

    @property
    def dense(self) -> DenseStore:
        """The Chroma leg, re-read from disk first when another process has committed since."""
        if not self._writing and self._chroma_config.host is None:
            self.sync_dense()
        return self.dense_as_opened()

    def dense_as_opened(self) -> DenseStore:
        """The Chroma leg as this process sees it, or the embedder mismatch found on opening."""
        dense = self._dense
        if dense is None:
            assert self._mismatch is not None
            raise EmbedderMismatchError(str(self._mismatch))
        return dense

    @property
    def embedder_mismatch(self) -> EmbedderMismatchError | None:
        """Why the collection cannot be used with the configured embedder, or None."""
        return self._mismatch

    def sync_dense(self, force: bool = False) -> None:
        """Re-open an embedded Chroma when the catalog moved since this process last looked.

        An embedded client keeps the vector index in memory and never sees another process's
        writes: its searches miss new passages and fail ("Error finding id") on filtered queries.
        """
        with self._dense_lock:
            version = self.catalog.version
            if not force and version == self._dense_version:
                return
            if self._chroma_config.host is None:
                self._client = self._open_client()
            self._open_dense()
            self._dense_version = version

    @property
    def built_with(self) -> IndexSettings | None:
        """The settings the stored index was built with (None for a new index)."""
        raw = self.catalog.get_meta("settings")
        return None if raw is None else IndexSettings(**json.loads(raw))

    def settings_changed(self) -> bool:
        """True when the stored index was built with other settings than the configured ones."""
        built = self.built_with
        return built is not None and self.catalog.document_count() > 0 and built != self.settings

    def check_readable(self) -> None:
        """Raise StoreError when asking would mix settings or there is nothing to ask."""
        self.dense_as_opened()
        if self.settings_changed():
            raise StoreError(
                f"the index in {self.data_dir} was built with other settings ({self.built_with}); "
                f"now configured: {self.settings}. Run `vraagbaak ingest PATH` to rebuild it."
            )

    def reset(self) -> None:
        """Drop everything (under the writer lock).

        The catalog goes first: a crash half-way leaves orphan vectors for the sweep, never
        documents without vectors.
        """
        with self.catalog.transaction() as db:
            db.execute("DELETE FROM passages")
            db.execute("DELETE FROM documents")
        try:
            self._client.delete_collection(self._chroma_config.collection)
        except NotFoundError:
            pass  # a crash after the delete and before the re-create
        self._open_dense()
        self.dense_as_opened()
        shutil.rmtree(self.data_dir / "keyword", ignore_errors=True)

    def mark_settings(self) -> None:
        """Record the settings this index is being built with."""
        self.catalog.set_meta("settings", self.settings.to_json())

    def sweep_orphans(self) -> set[str]:
        """Delete vectors no committed passage owns; return the sources missing some vector.

        Both are left by a crash; the sources must be indexed again. Listing every vector id is
        the slow part of a no-op ingest; it is skipped when the last writer finished cleanly and
        the counts agree.
        """
        committed = self.catalog.passage_ids(dense_only=True)
        if self._clean_before and self.dense.count() == len(committed):
            return set()
        stored = self.dense.ids()
        self.dense.delete(sorted(stored - committed))
        missing = committed - stored
        if not missing:
            return set()
        return {row.passage.source for row in self.catalog.passages_by_id(missing).values()}

    def copy_vectors(self, new_ids: dict[str, str], source: str) -> None:
        """Store the vectors under ``new_ids``' keys again under its values, now for ``source``."""
        dense = self.dense_as_opened()
        assert isinstance(dense, _SyncedDenseStore)
        dense.copy(new_ids, source)

    @contextmanager
    def writer_lock(self, wait: bool = True) -> Iterator[None]:
        """Serialise writers across processes: two ingests never interleave."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "ingest.lock", "a+") as handle:
            flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
            try:
                fcntl.flock(handle, flags)
            except BlockingIOError as e:
                raise StoreError(f"another ingest is running on {self.data_dir}") from e
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                with self._dense_lock:
                    self.sync_dense()  # another process may have written while we waited
                    self._writing += 1
                # "dirty" until this writer finishes: a crash in between makes the next one sweep
                self._clean_before = self.catalog.get_meta("writer") == "finished"
                self.catalog.set_meta("writer", "dirty")
                try:
                    yield
                    self.catalog.set_meta("writer", "finished")
                finally:
                    with self._dense_lock:
                        self._writing -= 1
                        self._dense_version = self.catalog.version
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the catalog connection."""
        self.catalog.close()


class _SyncedDenseStore(DenseStore):
    """A DenseStore whose search re-reads Chroma once when its in-memory view is stale.

    Another process may write vectors between two catalog commits, where the version check
    cannot tell.
    """

    def __init__(self, owner: PassageIndex, *args: Any) -> None:
        super().__init__(*args)
        self._owner = owner

    def copy(self, new_ids: dict[str, str], source: str) -> None:
        """Upsert the stored vectors of ``new_ids``' keys under its values, for ``source``."""
        old = list(new_ids)
        for at in range(0, len(old), 5000):
            got = self._collection.get(ids=old[at:at + 5000],
                                       include=["embeddings", "documents", "metadatas"])
            if len(got["ids"]) != len(old[at:at + 5000]):
                missing = sorted(set(old[at:at + 5000]) - set(got["ids"]))
                raise StoreError(f"{len(missing)} vectors of {source} are missing from Chroma "
                                 f"(e.g. {missing[0]}); run `vraagbaak ingest` again to re-index it")
            metas = [{**(m or {}), "source": source} for m in got["metadatas"] or []]
            self.add_vectors([new_ids[i] for i in got["ids"]], list(got["documents"] or []),
                             [list(map(float, v)) for v in got["embeddings"]],  # type: ignore[union-attr]
                             metas)  # type: ignore[arg-type]

    def search(self, vector: list[float], k: int, sources: list[str] | None = None) -> list[DenseHit]:
        """As ``DenseStore.search``; on a stale in-memory index, re-open and search once more."""
        try:
            return super().search(vector, k, sources)
        except (InternalError, NotFoundError):
            if self._owner._writing or self._owner._chroma_config.host is not None:
                raise
            self._owner.sync_dense(force=True)
            return self._owner.dense_as_opened().search(vector, k, sources)
