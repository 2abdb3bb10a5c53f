"""Answers: the value an ask returns, the answerer seam, and the extractive and LLM answerers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from assistant.citations import sentences
from assistant.retrieval import Hit
from assistant.scope import Scope
from vectorstore.keyword import Tokenizer

if TYPE_CHECKING:
    from assistant.llm import ChatModel
    from assistant.prompt import PromptBuilder


@dataclass(frozen=True)
class Citation:
    """Marker ``[n]`` in an answer, pointing at ``retrieved[n-1]``."""

    n: int
    hit: Hit
    verified: bool

    def to_json(self) -> dict[str, object]:
        """The ``citations`` entry of the JSON contract."""
        return {"n": self.n, **self.hit.to_json(), "verified": self.verified}


@dataclass(frozen=True)
class Answer:
    """An answer with its checked citations and the ranked passages it was drawn from."""

    question: str
    answer: str
    answered: bool
    citations: list[Citation]
    retrieved: list[Hit]
    query: str = ""
    seconds: float = 0.0
    index_version: int = 0
    backend: str = "extractive"
    error: str | None = None
    relevance: float = 0.0
    coverage: float = 0.0
    scope: Scope | None = None  # what the question was restricted to, if anything
    extra: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The ``ask --json`` object."""
        return {
            "question": self.question, "answer": self.answer, "answered": self.answered,
            "citations": [c.to_json() for c in self.citations],
            "retrieved": [h.to_json() for h in self.retrieved],
            "query": self.query, "backend": self.backend, "error": self.error,
            "relevance": round(self.relevance, 6), "coverage": round(self.coverage, 4),
            "index_version": self.index_version, "scope": self.scope.to_json() if self.scope else None,
            "seconds": round(self.seconds, 4),
        }


class Answerer(Protocol):
    """Writes an answer from numbered passages; ``[n]`` cites ``passages[n-1]``."""

    name: str

    def stream(self, question: str, hits: list[Hit], language: str) -> Iterator[str]:
        """Yield the answer text in pieces, markers included."""
        ...


class ExtractiveAnswerer:
    """No LLM: quotes the sentences of the top passages that match the question best.

    The best sentence of the top passage always leads, so the first citation is the passage
    that retrieval ranked first; up to two more sentences follow when they score nearly as well.
    """

    name = "extractive"

    def __init__(self, tokenizer: Tokenizer, max_chars: int = 700) -> None:
        self.tokenize = tokenizer
        self.max_chars = max_chars

    def stream(self, question: str, hits: list[Hit], language: str) -> Iterator[str]:
        """The whole extractive answer in one piece."""
        yield self.answer(question, hits)

    def answer(self, question: str, hits: list[Hit]) -> str:
        """Chosen sentences, each followed by its ``[n]``."""
        asked = set(self.tokenize(question))
        scored: list[tuple[float, int, int, str]] = []
        for rank, hit in enumerate(hits[:3]):
            text = hit.passage.text
            for order, span in enumerate(sentences(text)):
                sentence = " ".join(text[span.start:span.end].split())
                words = self.tokenize(sentence)
                overlap = len(asked & set(words)) / math.sqrt(len(words) + 1)
                lead_bonus = 0.15 if order == 0 and hit.passage.kind == "answer" else 0.0
                scored.append(((overlap + lead_bonus) * (1.0, 0.6, 0.4)[rank], rank, order, sentence))
        if not scored:
            return ""
        first = max((s for s in scored if s[1] == 0), key=lambda s: s[0], default=max(scored))
        chosen = [first]
        used = len(first[3])
        for cand in sorted(scored, key=lambda s: (-s[0], s[1], s[2])):
            if len(chosen) == 3 or cand in chosen or cand[0] < 0.6 * first[0] or cand[0] <= 0:
                continue
            if used + len(cand[3]) > self.max_chars:
                continue
            chosen.append(cand)
            used += len(cand[3])
        chosen.sort(key=lambda s: (s[1], s[2]))
        return " ".join(f"{_short(s[3])} [{s[1] + 1}]" for s in chosen)


class LLMAnswerer:
    """A chat model writes the answer from the numbered passages of a grounded prompt."""

    def __init__(self, model: ChatModel, prompt: PromptBuilder) -> None:
        self.model = model
        self.prompt = prompt
        self.name = model.name

    def stream(self, question: str, hits: list[Hit], language: str) -> Iterator[str]:
        """The model's reply as it is written; failures raise ``AnswerBackendError``."""
        yield from self.model.stream(self.prompt.messages(question, hits, language))


def _short(sentence: str, limit: int = 500) -> str:
    """A sentence cut at a word boundary when it is very long."""
    if len(sentence) <= limit:
        return sentence
    return sentence[:limit].rsplit(" ", 1)[0] + " …"
