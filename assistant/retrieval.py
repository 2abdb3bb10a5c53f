"""Hybrid retrieval: dense (Chroma) and keyword (BM25) legs, weighted rank fusion.

The structure-aware step returns an answer passage where a question passage matched. A scope
becomes the sources to search here too (``select``), so the assistant and the LangChain
retriever, which share this object, share its index of the documents.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings

from assistant.language import detect
from assistant.rerank import Reranker
from assistant.scope import Scope, ScopeIndex
from values.passage import Passage
from vectorstore.index import PassageIndex
from vectorstore.keyword_leg import KeywordHit


@dataclass(frozen=True)
class FusionWeights:
    """How much each leg counts in reciprocal rank fusion."""

    dense: float
    keyword: float
    rrf_k: int
    known_power: float
    candidates: int
    peak_power: float = 0.0


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and each leg's own score (None if it missed)."""

    passage: Passage
    passage_id: str
    score: float
    dense: float | None = None
    keyword: float | None = None

    def to_json(self) -> dict[str, object]:
        """The ``retrieved`` entry of the JSON contract."""
        p = self.passage
        return {"source": p.source, "start": p.start, "end": p.end, "page": p.page,
                "section": p.place, "score": round(self.score, 6), "text": p.text}


@dataclass(frozen=True)
class Retrieval:
    """The ranked hits plus what the evidence reader and the refusal need of the retrieval."""

    hits: list[Hit]
    top_similarity: float  # the dense leg's best match, one of the refusal's signals
    version: int = 0
    cross_language: bool = False  # the question is in another language than the top passages
    vector: tuple[float, ...] = ()  # the question's embedding, reused to score sentences


_PEAK_CAP = 3.0


def _peak(keyword: Sequence[KeywordHit]) -> float:
    """How far BM25's best match stands out (best / second score, 1 to ``_PEAK_CAP``).

    A question that shares a distinctive word with one passage (an option name, a rare term) gives
    a peaked list, and BM25 is then the better judge of the first place; a paraphrase gives a flat one.
    """
    if len(keyword) < 2 or keyword[1].score <= 0:
        return 1.0
    return min(_PEAK_CAP, max(1.0, keyword[0].score / keyword[1].score))


class HybridRetriever:
    """Dense + BM25 over one ``PassageIndex``, fused by weighted reciprocal rank (then reranked, if set)."""

    def __init__(self, index: PassageIndex, embedder: Embeddings, weights: FusionWeights, k: int,
                 reranker: Reranker | None = None, rerank_depth: int = 20) -> None:
        self.index = index
        self.embedder = embedder
        self.weights = weights
        self.k = k
        self.reranker = reranker
        self.rerank_depth = rerank_depth
        self._scopes = ScopeIndex({})
        self._scopes_lock = threading.Lock()

    def select(self, scope: Scope | None) -> list[str] | None:
        """The sources ``scope`` allows (None: every one), from a ``ScopeIndex`` built once per catalog version.

        The catalog hands out one documents mapping per version, so the index is rebuilt when
        that object changes. ScopeError when no indexed document is in the scope.
        """
        if not scope:
            return None
        documents = self.index.documents()
        scopes = self._scopes
        if scopes.documents is not documents:
            with self._scopes_lock:  # questions arriving together after a commit build it once
                scopes = self._scopes
                if scopes.documents is not documents:
                    scopes = self._scopes = ScopeIndex(documents)  # one assignment: threads see old or new, whole
        return scopes.select(scope)

    def retrieve(self, query: str, k: int | None = None,
                 sources: Sequence[str] | None = None) -> Retrieval:
        """The ``k`` best passages for ``query``, optionally only from ``sources``."""
        k = k or self.k
        want = max(k, self.rerank_depth) if self.reranker is not None else k
        n = max(self.weights.candidates, want * 4)
        vector = self.embedder.embed_query(query)
        found = self.index.candidates(vector, query, n, sources)  # the catalog's passages only, at one version
        dense, keyword, resolved = found.dense, found.keyword, found.resolved
        # BM25 ranks on the words it knows; when it knows few of the question's (another
        # language than the documents), its ranking is noise and its weight shrinks with it
        w = self.weights
        known = self.index.known_share(query)
        keyword_weight = w.keyword * known**w.known_power * _peak(keyword) ** w.peak_power
        fused: dict[str, float] = {}
        dense_score = {h.passage_id: h.similarity for h in dense}
        keyword_score = {h.passage_id: h.score for h in keyword}
        for rank, hit in enumerate(dense):
            fused[hit.passage_id] = fused.get(hit.passage_id, 0.0) + w.dense / (w.rrf_k + rank + 1)
        for rank, khit in enumerate(keyword):
            fused[khit.passage_id] = fused.get(khit.passage_id, 0.0) + keyword_weight / (w.rrf_k + rank + 1)
        ranked = sorted(fused, key=lambda pid: (-fused[pid], pid))
        rows = resolved.rows  # every hit from one committed state: no half-replaced document
        hits: list[Hit] = []
        seen: set[str] = set()
        for pid in ranked:
            row = rows[pid]
            target = rows.get(row.answer_id) if row.answer_id else None
            if target is not None:  # a question passage matched: return the answer it belongs to
                row = target
            if row.passage_id in seen:
                continue
            seen.add(row.passage_id)
            hits.append(Hit(row.passage, row.passage_id, fused[pid], dense_score.get(row.passage_id),
                            keyword_score.get(row.passage_id)))
            if len(hits) == want:
                break
        if self.reranker is not None:
            hits = self._reranked(query, hits, self.reranker)[:k]
        top = [h.passage.embed_text for h in hits[:3]]
        cross = bool(top) and detect(query) != detect("\n".join(top))
        return Retrieval(hits, max(dense_score.values(), default=0.0), resolved.version, cross, tuple(vector))

    def _reranked(self, query: str, hits: list[Hit], reranker: Reranker) -> list[Hit]:
        """``hits`` with the first ``rerank_depth`` in the reranker's order (ties keep the fused order)."""
        head, tail = hits[:self.rerank_depth], hits[self.rerank_depth:]
        scores = reranker.scores(query, [h.passage.embed_text for h in head])
        order = sorted(range(len(head)), key=lambda i: (-scores[i], i))
        return [head[i] for i in order] + tail
