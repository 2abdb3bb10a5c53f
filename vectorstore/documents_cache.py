"""The catalog's documents, read once per catalog version and shared read-only by every reader of it.

At 1M passages reading them from the SQLite catalog takes about a second (benchmarks/README.md),
and the first scoped question after a commit needed them twice (the scope, then the partitions'
layout). Both catalogs keep one ``DocumentsCache``; a reader gets the documents of the version
it reads at: inside a snapshot that snapshot's, outside one the latest committed. Reads inside a
write transaction see its own uncommitted writes under the old version number, so the catalog
reads afresh there and never stores what it read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from types import MappingProxyType

from values.document import DocumentRecord


class DocumentsCache:
    """The documents of the catalog version last read, as one read-only mapping (the same object until a commit)."""

    def __init__(self, version: Callable[[], int], snapshot: Callable[[], AbstractContextManager[None]],
                 read: Callable[[], dict[str, DocumentRecord]]) -> None:
        self._version = version
        self._snapshot = snapshot
        self._read = read
        self._held: tuple[int, Mapping[str, DocumentRecord]] = (-1, MappingProxyType({}))
        self._lock = threading.Lock()  # readers arriving together after a commit wait for one read

    def get(self) -> Mapping[str, DocumentRecord]:
        """The documents at the version the caller reads (its snapshot's, else the latest committed)."""
        held = self._held
        if held[0] == self._version():
            return held[1]
        # the snapshot first: the reader holding the lock has its connection already (PostgreSQL's
        # pool would run dry with every waiter holding one)
        with self._snapshot(), self._lock:  # the version and the documents from one committed state
            version = self._version()
            held = self._held
            if held[0] != version:
                held = (version, MappingProxyType(self._read()))
                self._held = held  # one assignment: threads see old or new, whole
        return held[1]
