"""The keyword leg: a Dutch-aware BM25 index (bm25s + Snowball Dutch) kept in step with the catalog.

Tokens are accent-folded, lower-cased, stripped of Dutch and English stopwords and stemmed.
The index is rebuilt from the catalog whenever the catalog's version moves; tokens of passages
seen before are reused, so a rebuild after a small change costs little more than BM25's own
indexing. It lives in the data dir beside Chroma, stamped with the catalog version it matches.
"""

from __future__ import annotations

import pickle
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_DUTCH, STOPWORDS_EN

from vectorstore.records import Catalog

_WORD = re.compile(r"\w\w+")
_STOP = frozenset(STOPWORDS_DUTCH) | frozenset(STOPWORDS_EN)


def fold(text: str) -> str:
    """Lower-case and strip accents: 'België' and 'Belgie' become the same word."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class Tokenizer:
    """Folded, stopword-free, Dutch-stemmed tokens."""

    def __init__(self, language: str = "dutch") -> None:
        self._stemmer = Stemmer.Stemmer(language)
        self._stemmer.maxCacheSize = 200_000

    def __call__(self, text: str) -> list[str]:
        """Tokens of one text."""
        words = [w for w in _WORD.findall(fold(text)) if w not in _STOP]
        return self._stemmer.stemWords(words)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class KeywordHit:
    """A passage id with its BM25 score."""

    passage_id: str
    score: float


class KeywordIndex:
    """BM25 over every catalog passage (context + text), refreshed when the catalog changes."""

    def __init__(self, directory: Path, catalog: Catalog) -> None:
        self.directory = directory
        self.catalog = catalog
        self.tokenize = Tokenizer()
        self._lock = threading.Lock()
        self._version = -1
        self._ids: list[str] = []
        self._sources: np.ndarray = np.array([], dtype=object)
        self._bm25: bm25s.BM25 | None = None

    @property
    def _file(self) -> Path:
        return self.directory / "keyword.pkl"

    def refresh(self) -> None:
        """Bring the index in step with the catalog: load it from disk or rebuild it."""
        with self._lock:
            version = self.catalog.version
            if version == self._version:
                return
            saved = self._load()
            if saved is not None and saved["version"] == version:
                ids, tokens, sources = saved["ids"], saved["tokens"], saved["sources"]
            else:
                ids, tokens, sources = self._rebuild(saved)
                self._save(version, ids, tokens, sources)
            self._index(ids, tokens, sources)
            self._version = version

    def _rebuild(self, saved: dict | None) -> tuple[list[str], list[list[str]], list[str]]:  # type: ignore[type-arg]
        known: dict[str, list[str]] = {}
        if saved is not None:
            known = dict(zip(saved["ids"], saved["tokens"], strict=True))
        ids, tokens, sources = [], [], []
        for passage_id, source, text in self.catalog.keyword_rows():
            ids.append(passage_id)
            sources.append(source)
            tokens.append(known[passage_id] if passage_id in known else self.tokenize(text))
        return ids, tokens, sources

    def _index(self, ids: list[str], tokens: list[list[str]], sources: list[str]) -> None:
        self._ids = ids
        self._sources = np.array(sources, dtype=object)
        if not ids:
            self._bm25 = None
            return
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        self._bm25 = bm25

    def _load(self) -> dict | None:  # type: ignore[type-arg]
        try:
            with self._file.open("rb") as f:
                data = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError):
            return None
        return data if isinstance(data, dict) else None

    def _save(self, version: int, ids: list[str], tokens: list[list[str]], sources: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump({"version": version, "ids": ids, "tokens": tokens, "sources": sources}, f)
        tmp.replace(self._file)

    def search(self, query: str, k: int, sources: list[str] | None = None) -> list[KeywordHit]:
        """The ``k`` best BM25 matches, optionally only from ``sources``."""
        self.refresh()
        bm25, ids = self._bm25, self._ids
        tokens = self.tokenize(query)
        if bm25 is None or not tokens:
            return []
        mask = None
        if sources:
            mask = np.isin(self._sources, sources).astype(np.float32)
        known = [t for t in tokens if t in bm25.vocab_dict]
        if not known:
            return []
        docs, scores = bm25.retrieve([known], k=min(k, len(ids)), show_progress=False,
                                     weight_mask=mask, n_threads=1)
        return [KeywordHit(ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True)
                if float(s) > 0]
