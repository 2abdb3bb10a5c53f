"""Deterministic stand-ins for answer backends that are out of reach in a test: a model whose
output is fixed (so the checker's verdict on it can be asserted) and a server that is down."""

from __future__ import annotations

from collections.abc import Iterator

from assistant.evidence import Evidence
from assistant.retrieval import Hit
from values.errors import AnswerBackendError


class ScriptedAnswerer:
    """Answers with a fixed text, streamed word by word: a model's output the checker then judges."""

    name = "scripted"

    def __init__(self, text: str) -> None:
        self.text = text

    def stream(self, question: str, hits: list[Hit], language: str, evidence: Evidence) -> Iterator[str]:
        for word in self.text.split(" "):
            yield word + " "


class DownAnswerer:
    """An answer backend whose server is unreachable."""

    name = "openai"

    def stream(self, question: str, hits: list[Hit], language: str, evidence: Evidence) -> Iterator[str]:
        raise AnswerBackendError("connection refused by http://127.0.0.1:9/v1")
        yield ""  # a generator, like the real backends
