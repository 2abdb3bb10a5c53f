"""The keyword leg: a Dutch-aware BM25 index (bm25s + Snowball Dutch) kept in step with the catalog.

Tokens are accent-folded, lower-cased, stripped of Dutch and English stopwords and stemmed.
The index is rebuilt from the catalog whenever the catalog's version moves; tokens of passages
seen before are reused, so a rebuild after a small change costs little more than BM25's own
indexing. It lives in the data dir beside Chroma, stamped with the catalog version it matches,
with the built BM25 itself: the writer builds it once and every reader process loads it (0.07 s
instead of 1.03 s for 19,152 passages on the first question after an ingest;
benchmarks/keyword_refresh.py).
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from pathlib import Path

import bm25s
import numpy as np

from values.files import atomic_writer
from values.text import Tokenizer
from vectorstore.catalog import Catalog
from vectorstore.keyword_leg import KeywordHit

_log = logging.getLogger(__name__)

__all__ = ["KeywordHit", "KeywordIndex"]

_STALE_TMP_SECONDS = 3600


def _build(tokens: list[list[str]]) -> bm25s.BM25 | None:
    """BM25 over the token lists (None for an index without a single word: bm25s cannot build one)."""
    if not any(tokens):
        return None
    bm25 = bm25s.BM25()
    bm25.index(tokens, show_progress=False)
    return bm25


class KeywordIndex:
    """BM25 over every catalog passage (context + text), refreshed when the catalog changes."""

    def __init__(self, directory: Path, catalog: Catalog, tokenize: Tokenizer) -> None:
        self.directory = directory
        self.catalog = catalog
        self.tokenize = tokenize
        self._lock = threading.Lock()
        self._version = -1
        # ids, each passage's source code, the source codes and BM25 are swapped as one tuple: a
        # search in another thread never pairs the new ids with the old BM25
        self._state: tuple[list[str], np.ndarray, dict[str, int], bm25s.BM25 | None] = (
            [], np.array([], dtype=np.int32), {}, None)

    @property
    def _file(self) -> Path:
        return self.directory / "keyword.pkl"

    def refresh(self) -> None:
        """Bring the index in step with the catalog: load it from disk or rebuild and save it.

        An ingest calls it before it releases the writer lock, so the file it leaves is in step
        for the readers and its own process (a page or a watcher) answers without reloading.
        """
        with self._lock:
            if self.catalog.version == self._version:
                return
            version, ids, sources, bm25 = self._in_step()
            self._use(ids, sources, bm25)
            self._version = version

    def _in_step(self) -> tuple[int, list[str], list[str], bm25s.BM25 | None]:
        """The saved index when it matches the catalog, else one rebuilt from the catalog and saved."""
        version = self.catalog.version
        saved = self._load()
        if saved is not None and saved["version"] == version:
            # a BM25 pickled by another bm25s version is not trusted: built again from the tokens
            bm25 = saved.get("bm25") if saved.get("bm25s") == bm25s.__version__ else None
            if bm25 is not None or not saved["ids"]:
                return version, saved["ids"], saved["sources"], bm25
            ids, tokens, sources = saved["ids"], saved["tokens"], saved["sources"]
        else:
            with self.catalog.snapshot():  # the version and the rows of one committed state
                version = self.catalog.version
                rows = self.catalog.keyword_rows()
            ids, tokens, sources = self._rebuild(saved, rows)
        bm25 = _build(tokens)
        try:
            self._save(version, ids, tokens, sources, bm25)
        except OSError as e:  # e.g. a full disk: the file only spares other processes a rebuild
            _log.warning("keyword index not saved to %s (%s); it is rebuilt where needed", self._file, e)
        return version, ids, sources, bm25

    def _rebuild(self, saved: dict | None,  # type: ignore[type-arg]
                 rows: list[tuple[str, str, str]]) -> tuple[list[str], list[list[str]], list[str]]:
        known: dict[str, list[str]] = {}
        if saved is not None:
            known = dict(zip(saved["ids"], saved["tokens"], strict=True))
        ids, tokens, sources = [], [], []
        for passage_id, source, text in rows:
            ids.append(passage_id)
            sources.append(source)
            tokens.append(known[passage_id] if passage_id in known else self.tokenize(text))
        return ids, tokens, sources

    def _use(self, ids: list[str], sources: list[str], bm25: bm25s.BM25 | None) -> None:
        # sources as integer codes: masking a scope of thousands of documents is then a fast
        # integer lookup (np.isin on 20,000 strings took over a second)
        code_of: dict[str, int] = {}
        codes = np.array([code_of.setdefault(s, len(code_of)) for s in sources], dtype=np.int32)
        self._state = (ids, codes, code_of, bm25)

    def clear(self) -> None:
        """Forget the saved index (the index is being rebuilt from nothing)."""
        with self._lock:
            self._file.unlink(missing_ok=True)
            self._version = -1

    @property
    def ids(self) -> list[str]:
        """The passage ids the in-memory index holds (after ``refresh``)."""
        return list(self._state[0])

    def _load(self) -> dict | None:  # type: ignore[type-arg]
        """The saved index, or None when there is none or it cannot be read (then it is rebuilt)."""
        try:
            with self._file.open("rb") as f:
                data = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
            return None  # missing, half-written by an old version, or from another bm25s
        if not isinstance(data, dict) or not {"version", "ids", "tokens", "sources"} <= data.keys():
            return None
        return data

    def _save(self, version: int, ids: list[str], tokens: list[list[str]], sources: list[str],
              bm25: bm25s.BM25 | None) -> None:
        """Write through a temp file of this writer's own, renamed over the index file (``atomic_writer``).

        A reader process and an ingest may save at once; a kill mid-write leaves the old file.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        for left in self.directory.glob("keyword.*.tmp"):  # by writers killed mid-save
            try:
                if time.time() - left.stat().st_mtime > _STALE_TMP_SECONDS:
                    left.unlink()
            except FileNotFoundError:
                pass  # another writer's save just finished
        with atomic_writer(self._file) as f:
            pickle.dump({"version": version, "ids": ids, "tokens": tokens,
                         "sources": sources, "bm25": bm25, "bm25s": bm25s.__version__}, f)

    def search(self, query: str, k: int, sources: list[str] | None = None) -> list[KeywordHit]:
        """The ``k`` best BM25 matches, optionally only from ``sources``."""
        self.refresh()
        ids, codes, code_of, bm25 = self._state
        tokens = self.tokenize(query)
        if bm25 is None or not tokens:
            return []
        mask = None
        if sources:
            wanted = np.array([code_of[s] for s in sources if s in code_of], dtype=np.int32)
            mask = np.isin(codes, wanted).astype(np.float32)
        known = [t for t in tokens if t in bm25.vocab_dict]
        if not known:
            return []
        docs, scores = bm25.retrieve([known], k=min(k, len(ids)), show_progress=False,
                                     weight_mask=mask, n_threads=0)  # 0: inline, no thread pool per query
        return [KeywordHit(ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True)
                if float(s) > 0]

    def known_share(self, query: str) -> float:
        """Share of the query's words (stemmed, stopwords removed) that the index has seen."""
        self.refresh()
        bm25 = self._state[3]
        words = set(self.tokenize(query))
        if not words or bm25 is None:
            return 0.0
        return sum(t in bm25.vocab_dict for t in words) / len(words)
