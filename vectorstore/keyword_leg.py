"""The keyword leg's interface: what ``PassageIndex`` asks of a keyword engine (bm25s or PostgreSQL).

The engine is chosen by ``keyword_engine`` in the composition root; ``known_share`` must mean the
same in every engine, since retrieval scales the keyword leg's weight by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class KeywordHit:
    """A passage id with its keyword score (the engine's own scale: fused by rank, and the best two by ratio)."""

    passage_id: str
    score: float


class KeywordLeg(Protocol):
    """Ranked keyword matches over every catalog passage (context + text)."""

    def search(self, query: str, k: int, sources: list[str] | None = None) -> list[KeywordHit]:
        """The ``k`` best matches, optionally only from ``sources``."""

    def known_share(self, query: str) -> float:
        """Share of the query's terms (stemmed, stopwords removed) that the index holds."""

    def refresh(self) -> None:
        """Bring the engine in step with the catalog (a no-op for one that reads the catalog itself)."""

    def clear(self) -> None:
        """Forget what the engine keeps beside the catalog (the index is being rebuilt from nothing)."""
