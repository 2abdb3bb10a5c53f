"""A look behind the index's interface, for tests of its write protocol only.

Those tests assert that the parts the index keeps in step (catalog, Chroma, BM25) agree after
every write and crash; production code sees only ``PassageIndex``'s public methods.
"""

from __future__ import annotations

from pathlib import Path

from assistant.assistant import Assistant
from vectorstore.catalog import Catalog
from vectorstore.chroma import DenseStore
from vectorstore.keyword_leg import KeywordLeg


def catalog_of(a: Assistant) -> Catalog:
    """The index's catalog."""
    return a.index._catalog


def dense_of(a: Assistant) -> DenseStore:
    """The index's Chroma leg."""
    return a.index._dense


def keyword_of(a: Assistant) -> KeywordLeg:
    """The index's keyword leg (bm25s, or PostgreSQL full-text with a shared catalog)."""
    return a.index._keyword


def data_dir_of(a: Assistant) -> Path:
    """The data dir the index lives in."""
    return Path(a.index.location)
