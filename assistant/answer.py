"""Answers: the value an ask returns, the answerer seam, and the extractive and LLM answerers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from assistant.citations import CheckedSentence, CitationChecker
from assistant.evidence import Evidence
from assistant.retrieval import Hit
from assistant.scope import Scope
from assistant.sentences import lines_are_blocks, segment

if TYPE_CHECKING:
    from assistant.llm import ChatModel
    from assistant.prompt import PromptBuilder


@dataclass(frozen=True)
class Citation:
    """Marker ``[n]`` in an answer, pointing at ``retrieved[n-1]``."""

    n: int
    hit: Hit
    verified: bool
    quotes: tuple[tuple[int, int], ...] = ()  # document spans of the passage's sentences the answer took

    def to_json(self) -> dict[str, object]:
        """The ``citations`` entry of the JSON contract."""
        return {"n": self.n, **self.hit.to_json(), "verified": self.verified,
                "quotes": [{"start": a, "end": b} for a, b in self.quotes]}


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
    verified: bool = False  # every claim of the answer is supported by a passage it cites
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
            "seconds": round(self.seconds, 4), "verified": self.verified,
            "evidence": self.extra.get("evidence"), "reason": self.extra.get("reason"),
        }


class Answerer(Protocol):
    """Writes an answer from numbered passages; ``[n]`` cites ``passages[n-1]``."""

    name: str

    def stream(self, question: str, hits: list[Hit], language: str, evidence: Evidence) -> Iterator[str]:
        """Yield the answer text in pieces, markers included."""
        ...


class ExtractiveAnswerer:
    """No LLM: quotes the sentences that ``assistant.evidence`` chose, each with its ``[n]``."""

    name = "extractive"

    def stream(self, question: str, hits: list[Hit], language: str, evidence: Evidence) -> Iterator[str]:
        """The whole extractive answer in one piece."""
        yield self.answer(evidence)

    def answer(self, evidence: Evidence) -> str:
        """The chosen sentences in reading order, each followed by its ``[n]``."""
        return " ".join(f"{q.text} [{q.rank + 1}]" for q in evidence.quotes)


class LLMAnswerer:
    """A chat model writes the answer from the numbered passages of a grounded prompt."""

    def __init__(self, model: ChatModel, prompt: PromptBuilder) -> None:
        self.model = model
        self.prompt = prompt
        self.name = model.name

    def stream(self, question: str, hits: list[Hit], language: str, evidence: Evidence) -> Iterator[str]:
        """The model's reply as it is written; failures raise ``AnswerBackendError``."""
        yield from self.model.stream(self.prompt.messages(question, hits, language))


def quoted_spans(evidence: Evidence, checked: list[CheckedSentence], hits: list[Hit],
                 checker: CitationChecker) -> dict[int, tuple[tuple[int, int], ...]]:
    """For each cited passage n, the document spans of its sentences the answer took.

    Extractive answers took exactly the evidence's sentences; for a written answer, each cited
    claim marks the sentence of its passage that supports it best.
    """
    spans: dict[int, list[tuple[int, int]]] = {}
    quoted = {(q.rank + 1, q.text): (q.start, q.end) for q in evidence.quotes}
    for sentence in checked:
        for n in sentence.cited:
            span = quoted.get((n, sentence.text))
            if span is None:
                span = _best_sentence(sentence.text, hits[n - 1], checker)
            if span is not None and span not in spans.setdefault(n, []):
                spans[n].append(span)
    return {n: tuple(sorted(v)) for n, v in spans.items()}


def _best_sentence(claim: str, hit: Hit, checker: CitationChecker) -> tuple[int, int] | None:
    """The span of the passage sentence that supports ``claim`` best, if one reaches the checker's threshold."""
    p = hit.passage
    best, span = 0.0, None
    for seg in segment(p.text, lines_are_blocks(p.doc_type)):
        share = checker.support(claim, seg.words)
        if share > best:
            best, span = share, (p.start + seg.start, p.start + seg.end)
    return span if best >= checker.threshold else None
