"""The answer path as a LangChain runnable: question → retrieve → answer → checked citations.

``Assistant.ask`` and ``Assistant.ask_stream`` run through ``Assistant.chain``, which is built
here; it composes like any other runnable::

    from langchain_core.runnables import RunnableLambda

    cited = assistant.chain | RunnableLambda(lambda answer: [c.to_json() for c in answer.citations])
    cited.invoke({"question": "Hoeveel projectsubsidie ontvangt OTA van WVG?", "k": 5})
    for event in assistant.chain.stream("Hoeveel projectsubsidie ontvangt OTA van WVG?"):
        ...  # Token pieces, then the final Answer

The input is a question string or an ``AskInput`` dict. ``invoke``, ``batch`` and ``ainvoke``
give the ``Answer``; ``stream`` gives ``Token`` pieces, then the ``Answer``. A Token plus the
Answer is the Answer (it holds the checked text the pieces were a draft of), so the chunks of a
stream add up to what ``invoke`` returns, as LangChain expects of chunks, and a runnable after
the chain receives the Answer either way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Required, TypedDict

from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda, RunnableSequence

from assistant.answer import Answer, Citation, quoted_spans
from assistant.citations import cited_markers, render
from assistant.evidence import Evidence
from assistant.language import detect
from assistant.refusal import Decision
from assistant.retrieval import Hit
from assistant.scope import Scope
from values.errors import AnswerBackendError, QuestionError

if TYPE_CHECKING:
    from assistant.assistant import Assistant

REFUSAL = {
    "nl": ("De documenten bevatten geen antwoord op deze vraag. "
           "Hieronder staan de passages die er het dichtst bij komen."),
    "en": "The documents do not contain an answer to this question. The closest passages are shown below.",
}
UNVERIFIED = {
    "nl": "Niet bevestigd: de bronnen dragen niet elke zin van dit antwoord (⚠).",
    "en": "Unverified: the sources do not support every sentence of this answer (⚠).",
}
BACKEND_FAILED = {
    "nl": "Het antwoordmodel gaf geen antwoord ({error}). De gevonden passages staan hieronder.",
    "en": "The answer model failed ({error}). The retrieved passages are shown below.",
}
NO_SUPPORT = "no cited passage supports the answer"


class AskInput(TypedDict, total=False):
    """The chain's input as a dict; ``history`` holds earlier (question, answer) turns, oldest first."""

    question: Required[str]
    k: int | None
    scope: Scope | None
    history: Sequence[tuple[str, str]] | None


@dataclass(frozen=True)
class Token:
    """A streamed piece of answer text; pieces add up, and a piece plus the final Answer is the Answer."""

    text: str

    def __add__(self, other: Token | Answer) -> Token | Answer:
        """The pieces joined, or ``other`` when it is the Answer (it replaces the draft they were)."""
        if isinstance(other, Token):
            return Token(self.text + other.text)
        if isinstance(other, Answer):
            return other
        return NotImplemented


@dataclass(frozen=True)
class Grounds:
    """What an answer is drawn from: the question, its hits, their evidence, and whether to answer at all."""

    question: str
    query: str  # the question itself, or a follow-up rewritten to stand alone
    language: str
    scope: Scope | None
    hits: list[Hit]
    evidence: Evidence
    decision: Decision
    index_version: int
    backend: str
    started: float
    retrieval_seconds: float

    def answer(self, text: str, *, answered: bool = False, citations: Sequence[Citation] = (),
               error: str | None = None, verified: bool = False, reason: str | None = None) -> Answer:
        """The ``Answer`` with ``text`` on these grounds; ``reason`` replaces the refusal decision's."""
        return Answer(question=self.question, answer=text, answered=answered, citations=list(citations),
                      retrieved=self.hits, query=self.query, seconds=time.perf_counter() - self.started,
                      index_version=self.index_version, backend=self.backend, error=error,
                      relevance=self.evidence.similarity, coverage=self.evidence.lexical,
                      scope=self.scope or None, verified=verified,
                      extra={"retrieval_seconds": self.retrieval_seconds, "evidence": self.evidence.to_json(),
                             "reason": reason or self.decision.reason or None})


class AnswerSteps:
    """The chain's two steps; each reads the assistant's parts when it runs (a swapped answerer counts)."""

    keys = frozenset(AskInput.__annotations__)

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def retrieve(self, given: AskInput | str) -> Grounds:
        """Validate, scope and rewrite the question, retrieve, read the evidence and decide whether to answer.

        QuestionError, ScopeError or StoreError when the question cannot be asked.
        """
        started = time.perf_counter()
        ask: AskInput = {"question": given} if isinstance(given, str) else given
        if not isinstance(ask, Mapping) or not isinstance(ask.get("question"), str) or not self.keys.issuperset(ask):
            shown = sorted(ask) if isinstance(ask, Mapping) else type(ask).__name__
            raise QuestionError(f"the chain takes a question string or a dict with 'question' and optionally "
                                f"{', '.join(sorted(self.keys - {'question'}))}; got {shown}")
        a = self.assistant
        question = a.validate(ask["question"])
        a.index.check_readable()
        scope, history = ask.get("scope"), ask.get("history")
        sources = a.select(scope)
        query = a.rewriter.rewrite(question, history) if history else question
        language = detect(query)
        retrieval_started = time.perf_counter()
        retrieval = a.retriever.retrieve(query, ask.get("k") or a.top_k, sources)
        hits = retrieval.hits
        own = question if query != question else None  # a follow-up: its own words must be answered
        evidence = (a.reader.read(query, hits, retrieval.vector, own_question=own,
                                  passage_similarity=retrieval.top_similarity) if hits else Evidence([]))
        decision = (a.refusal_policy().decide(evidence, retrieval.cross_language) if hits
                    else Decision(False, "nothing was retrieved"))
        return Grounds(question, query, language, scope, hits, evidence, decision, retrieval.version,
                       a.answerer.name, started, round(time.perf_counter() - retrieval_started, 4))

    def answer(self, grounds: Iterator[Grounds]) -> Iterator[Token | Answer]:
        """Stream the answer's pieces, then the checked Answer (or the refusal)."""
        for g in grounds:
            yield from self._answer(g)

    async def aanswer(self, grounds: AsyncIterator[Grounds]) -> AsyncIterator[Token | Answer]:
        """``answer`` for async callers: the answer backend streams in a worker thread."""
        async for g in grounds:
            events = self._answer(g)
            while (event := await asyncio.to_thread(next, events, None)) is not None:
                yield event

    def _answer(self, g: Grounds) -> Iterator[Token | Answer]:
        a, language = self.assistant, g.language
        if not g.decision.answerable:
            yield g.answer(REFUSAL[language])
            return
        hits = g.hits
        pieces: list[str] = []
        try:
            for piece in a.answerer.stream(g.query, hits, language, g.evidence):
                pieces.append(piece)
                yield Token(piece)
        except AnswerBackendError as e:
            yield g.answer(BACKEND_FAILED[language].format(error=e), error=str(e))
            return
        checked = a.checker.check("".join(pieces), [h.passage.text for h in hits])
        # verified: the passage supports a sentence citing it; unverified ones stay visible, flagged
        quotes = quoted_spans(g.evidence, checked, hits, a.checker)
        citations = [Citation(n, hits[n - 1], ok, quotes.get(n, ())) for n, ok in cited_markers(checked)]
        claims = [c for c in checked if c.claim]
        supported = bool(claims) and not any(c.flagged for c in claims)
        if not any(c.verified for c in citations):
            yield g.answer(REFUSAL[language], reason=NO_SUPPORT)
            return
        text = render(checked) if supported else f"{UNVERIFIED[language]}\n{render(checked)}"
        yield g.answer(text, answered=supported, citations=citations, verified=supported)


def answer_chain(assistant: Assistant) -> Runnable[AskInput | str, Token | Answer]:
    """``retrieve | answer`` as one LangChain runnable over ``assistant``'s parts.

    Two steps, not one per stage: each step of a sequence costs LangChain's run bookkeeping
    (about 0.1 ms), and these two are the ones a trace needs to show apart.
    """
    steps = AnswerSteps(assistant)
    return RunnableSequence(RunnableLambda(steps.retrieve, name="retrieve"),
                            RunnableGenerator(steps.answer, steps.aanswer, name="answer"), name="vraagbaak")
