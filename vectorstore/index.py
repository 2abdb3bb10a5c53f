"""The passage index: catalog + Chroma + keyword index, opened together and written in step."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from langchain_core.embeddings import Embeddings

from assistant.errors import StoreError
from vectorstore.chroma import ChromaConfig, DenseStore, open_client
from vectorstore.keyword import KeywordIndex
from vectorstore.records import Catalog


@dataclass(frozen=True)
class IndexSettings:
    """What an index is built with; a change means a rebuild, never a mix of two."""

    embedder: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    structure: bool
    embed_question_parts: bool
    chunker_version: int = 1

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
        self._client = open_client(chroma)
        self.dense = self._open_dense()

    def _open_dense(self) -> DenseStore:
        return DenseStore(self._client, self._chroma_config, self._embedder,
                          self.settings.embedder, self.settings.dimension)

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
        if self.settings_changed():
            raise StoreError(
                f"the index in {self.data_dir} was built with other settings ({self.built_with}); "
                f"now configured: {self.settings}. Run `vraagbaak ingest PATH` to rebuild it."
            )

    def reset(self) -> None:
        """Drop everything: vectors, catalog contents and keyword index (under the writer lock)."""
        self._client.delete_collection(self._chroma_config.collection)
        self.dense = self._open_dense()
        with self.catalog.transaction() as db:
            db.execute("DELETE FROM passages")
            db.execute("DELETE FROM documents")
        shutil.rmtree(self.data_dir / "keyword", ignore_errors=True)

    def mark_settings(self) -> None:
        """Record the settings this index is being built with."""
        self.catalog.set_meta("settings", self.settings.to_json())

    def sweep_orphans(self) -> int:
        """Delete vectors that no committed passage owns (left by a crash); return how many."""
        orphans = sorted(self.dense.ids() - self.catalog.passage_ids(dense_only=True))
        self.dense.delete(orphans)
        return len(orphans)

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
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the catalog connection."""
        self.catalog.close()
