"""A second opinion on the fused order: a cross-encoder reads the question and each passage together.

Bi-encoders (e5, MiniLM) embed the question and the passage apart, and on manuals their near
misses cannot be told apart (benchmarks/README.md); a cross-encoder scores the pair and is the
usual next lever. None ships its weights on PyPI, so none is the default: ``reranker`` names a
sentence-transformers ``CrossEncoder`` by Hugging Face id or path for users who have one. It
reorders the ``rerank_depth`` best fused passages; the rest keep their place after them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol

from assistant.embeddings import LazyModel
from assistant.settings import CROSS_ENCODER, RERANKERS
from values.errors import ConfigError


class Reranker(Protocol):
    """Scores passages against a question: higher is more relevant."""

    name: str

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        """One score per text, in order."""
        ...


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder by name or path, on ``device`` (loaded on first use)."""

    def __init__(self, model: str, batch_size: int, device: str = "cpu") -> None:
        self.name = CROSS_ENCODER + model
        self.batch_size = batch_size
        self._loaded = LazyModel("CrossEncoder", model, device,
                                 "the reranker (reranker = 'cross-encoder:<name or path>')")

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        """The cross-encoder's score of (question, text) for each text."""
        if not texts:
            return []
        raw = self._loaded.get().predict([(query, t) for t in texts], batch_size=self.batch_size,
                                  show_progress_bar=False)
        return [float(x) for x in raw]


@functools.cache
def make_reranker(name: str | None, batch_size: int, device: str = "cpu") -> Reranker | None:
    """The reranker ``name`` in settings ('cross-encoder:<model>'), or None; one per process and arguments."""
    if not name:
        return None
    if name.startswith(CROSS_ENCODER) and name[len(CROSS_ENCODER):]:
        return CrossEncoderReranker(name[len(CROSS_ENCODER):], batch_size, device)
    raise ConfigError(f"unknown reranker {name!r}: use {RERANKERS}")
