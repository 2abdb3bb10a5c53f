"""The LangChain doors: the answer chain the assistant itself runs, and the retriever, held to
LangChain's standard retriever suite over real Chroma (the fake embedder, then the packaged MiniLM)."""

from __future__ import annotations

import functools
import operator
import shutil
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_tests.integration_tests import RetrieversIntegrationTests

from assistant import retrieval
from assistant.answer import Answer
from assistant.assistant import Assistant
from assistant.chain import Token
from assistant.evidence import Evidence
from assistant.langchain_retriever import VraagbaakRetriever
from assistant.retrieval import Hit
from assistant.scope import Scope, ScopeError, ScopeIndex
from ingest.loaders import load
from tests.conftest import ANSWER_ALL, SEED, SEED_QUESTION
from tests.fakes import DownAnswerer, ScriptedAnswerer
from values.document import DocumentRecord
from values.errors import QuestionError, StoreError

METADATA = {"source", "start", "end", "page", "section", "title", "doc_type", "kind", "passage_id",
            "score", "dense", "keyword"}


@pytest.fixture
def assistant(make_assistant: Callable[..., Assistant], docs: Path) -> Assistant:
    """An assistant over the docs fixture's documents that answers whatever the word rules let through."""
    a = make_assistant(**ANSWER_ALL)
    a.ingest([docs])
    return a


def without_timings(answer: Answer) -> dict[str, object]:
    data = answer.to_json()
    del data["seconds"]
    return data


def loaded(source: str) -> str:
    return load(Path(source)).text


class TestVraagbaakRetriever(RetrieversIntegrationTests):
    """LangChain's standard retriever tests over a fresh index of the docs fixture (fake embedder)."""

    @pytest.fixture(autouse=True)
    def _index(self, make_assistant: Callable[..., Assistant], docs: Path) -> None:
        a = make_assistant()
        a.ingest([docs])
        self.hybrid = a.retriever

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return VraagbaakRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"retriever": self.hybrid}

    @property
    def retriever_query_example(self) -> str:
        return SEED_QUESTION


@pytest.mark.model
class TestVraagbaakRetrieverMiniLM(TestVraagbaakRetriever):
    """The same suite with the packaged MiniLM embedding the index and the query."""


def test_documents_are_the_hits_with_exact_offsets_and_the_documented_metadata(assistant: Assistant) -> None:
    hits = assistant.retriever.retrieve(SEED_QUESTION, 4).hits
    documents = VraagbaakRetriever(retriever=assistant.retriever, k=4).invoke(SEED_QUESTION)
    assert [d.id for d in documents] == [h.passage_id for h in hits]
    for document, hit in zip(documents, hits, strict=True):
        m = document.metadata
        assert set(m) == METADATA
        assert loaded(m["source"])[m["start"]:m["end"]] == document.page_content == hit.passage.text
        assert m["passage_id"] == document.id and m["score"] == hit.score
        assert m["section"] == hit.to_json()["section"] and m["doc_type"] == "txt"
    assert Path(documents[0].metadata["source"]).name == SEED.name
    assert documents[0].metadata["section"] == "ANTWOORD 3"


def test_a_scope_keeps_the_documents_out_that_it_leaves_out(assistant: Assistant, docs: Path) -> None:
    other = sorted(p for p in docs.iterdir() if p.name != SEED.name)[0]
    scoped = VraagbaakRetriever(retriever=assistant.retriever, scope=Scope.of(paths=[str(other)]))
    documents = scoped.invoke(SEED_QUESTION, k=3)
    assert documents and {d.metadata["source"] for d in documents} == {str(other)}
    with pytest.raises(ScopeError, match="1900"):
        VraagbaakRetriever(retriever=assistant.retriever, scope=Scope.of(years=[1900])).invoke(SEED_QUESTION)


def test_a_scope_sees_the_documents_an_ingest_adds(assistant: Assistant, docs: Path, tmp_path: Path) -> None:
    later = tmp_path / "later"
    later.mkdir()
    scoped = VraagbaakRetriever(retriever=assistant.retriever, scope=Scope.of(paths=[str(later)]))
    with pytest.raises(ScopeError, match="later"):
        scoped.invoke(SEED_QUESTION)  # resolved on the documents' index of this catalog version
    shutil.copy(SEED, later / "copy.txt")
    assistant.ingest([later])
    assert {d.metadata["source"] for d in scoped.invoke(SEED_QUESTION, k=3)} == {str(later / "copy.txt")}


def test_the_retriever_and_the_assistant_share_one_scope_index_per_version(
        assistant: Assistant, docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 1M passages building it costs about as much as reading the documents: once per commit, for both."""
    built: list[object] = []

    class Counted(ScopeIndex):
        def __init__(self, documents: Mapping[str, DocumentRecord]) -> None:
            built.append(documents)
            super().__init__(documents)

    monkeypatch.setattr(retrieval, "ScopeIndex", Counted)
    other = sorted(p for p in docs.iterdir() if p.name != SEED.name)[0]
    scope = Scope.of(paths=[str(other)])
    scoped = VraagbaakRetriever(retriever=assistant.retriever, scope=scope)
    assert {d.metadata["source"] for d in scoped.invoke(SEED_QUESTION, k=3)} == {str(other)}
    assert assistant.select(scope) == [str(other)] and {h.passage.source for h in assistant.search(
        SEED_QUESTION, k=3, scope=scope)} == {str(other)}
    assert {h.passage.source for h in assistant.ask(SEED_QUESTION, scope=scope).retrieved} == {str(other)}
    assert len(built) == 1 and built[0] is assistant.documents()
    (tmp_path / "later").mkdir()
    shutil.copy(SEED, tmp_path / "later" / "copy.txt")
    assistant.ingest([tmp_path / "later"])  # a commit: a new version's documents, one new index for both
    scoped.invoke(SEED_QUESTION, k=3)
    assistant.select(scope)
    assert len(built) == 2 and str(tmp_path / "later" / "copy.txt") in built[1]  # type: ignore[operator]


def test_an_empty_index_and_a_bad_k_are_errors_not_empty_lists(
        make_assistant: Callable[..., Assistant], assistant: Assistant, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="vraagbaak ingest"):
        VraagbaakRetriever(retriever=make_assistant(data_dir=tmp_path / "empty").retriever).invoke("vraag")
    with pytest.raises(ValueError, match="k=0"):
        VraagbaakRetriever(retriever=assistant.retriever).invoke(SEED_QUESTION, k=0)
    with pytest.raises(ValueError):
        VraagbaakRetriever(retriever=assistant.retriever, k=0)


def test_the_chain_composes_and_hands_the_answer_on_when_invoked_and_when_streamed(assistant: Assistant) -> None:
    expected = assistant.ask(SEED_QUESTION).citations
    cited = assistant.chain | RunnableLambda(lambda answer: answer.citations)
    assert expected and cited.invoke({"question": SEED_QUESTION}) == expected
    assert list(cited.stream(SEED_QUESTION)) == [expected]


def test_the_chain_answers_with_citations_that_slice_the_loaded_documents(assistant: Assistant) -> None:
    answer = assistant.chain.invoke({"question": SEED_QUESTION, "k": 5})
    assert isinstance(answer, Answer) and answer.answered and answer.verified
    assert len(answer.retrieved) == 5 and "75.000 euro" in answer.answer
    assert Path(answer.citations[0].hit.passage.source).name == SEED.name
    for citation in answer.citations:
        p = citation.hit.passage
        text = loaded(p.source)
        assert f"[{citation.n}]" in answer.answer and answer.retrieved[citation.n - 1] == citation.hit
        assert text[p.start:p.end] == p.text
        assert citation.quotes and all(p.start <= a < b <= p.end for a, b in citation.quotes)
        # the extractive answer quotes those sentences (its line breaks squashed to spaces)
        assert all(" ".join(text[a:b].split()) in answer.answer for a, b in citation.quotes)


def test_the_stream_is_tokens_then_one_answer_and_they_add_up_to_it(assistant: Assistant) -> None:
    first = assistant.ask(SEED_QUESTION)
    assistant.answerer = ScriptedAnswerer(first.answer)  # several pieces, a text the checker verifies
    events = list(assistant.chain.stream(SEED_QUESTION))
    *tokens, answer = events
    pieces = [t.text for t in tokens if isinstance(t, Token)]
    assert len(pieces) == len(tokens) > 3
    assert isinstance(answer, Answer) and answer.verified and answer.backend == "scripted"
    assert "".join(pieces) == first.answer + " "  # the scripted pieces, word by word
    assert functools.reduce(operator.add, events) is answer


def test_batch_answers_each_input_as_invoke_does(assistant: Assistant) -> None:
    one, two, bad = assistant.chain.batch(
        [SEED_QUESTION, {"question": "Wat is de budgettaire impact?", "k": 2}, "   "], return_exceptions=True)
    assert isinstance(one, Answer) and isinstance(two, Answer) and isinstance(bad, QuestionError)
    assert without_timings(one) == without_timings(assistant.ask(SEED_QUESTION))
    assert len(two.retrieved) == 2 and without_timings(two) == without_timings(
        assistant.ask("Wat is de budgettaire impact?", k=2))


async def test_the_async_chain_answers_as_the_sync_one(assistant: Assistant) -> None:
    answer = await assistant.chain.ainvoke(SEED_QUESTION)
    assert isinstance(answer, Answer)
    assert without_timings(answer) == without_timings(assistant.ask(SEED_QUESTION))
    events = [event async for event in assistant.chain.astream(SEED_QUESTION)]
    assert isinstance(events[-1], Answer) and all(isinstance(e, Token) for e in events[:-1])
    assert without_timings(events[-1]) == without_timings(answer)


def test_the_chain_refuses_and_fails_as_ask_does(
        assistant: Assistant, make_assistant: Callable[..., Assistant], tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="vraagbaak ingest"):
        make_assistant(data_dir=tmp_path / "empty").chain.invoke(SEED_QUESTION)
    with pytest.raises(QuestionError, match="'question'.*got \\['query'\\]"):
        assistant.chain.invoke({"query": SEED_QUESTION})  # type: ignore[arg-type]
    # a key the chain does not know (LangChain's usual "chat_history") is an error, not silently dropped
    with pytest.raises(QuestionError, match="got \\['chat_history', 'question'\\]"):
        assistant.chain.invoke({"question": SEED_QUESTION, "chat_history": []})  # type: ignore[arg-type]
    mars = assistant.chain.invoke("Wat is de hoofdstad van Mars in 2023?")
    assert isinstance(mars, Answer) and not mars.answered and mars.extra["reason"] == "the passages do not mention 2023"
    assistant.answerer = ScriptedAnswerer("De maan is gemaakt van groene kaas [1].")
    unsupported = assistant.chain.invoke(SEED_QUESTION)
    assert isinstance(unsupported, Answer) and not unsupported.citations
    assert unsupported.extra["reason"] == "no cited passage supports the answer"
    assistant.answerer = DownAnswerer()
    down = assistant.chain.invoke(SEED_QUESTION)
    assert isinstance(down, Answer) and down.error and "connection refused" in down.answer and down.retrieved


def test_ask_and_ask_stream_run_through_the_assistants_chain(assistant: Assistant) -> None:
    runs: list[Any] = []
    assistant.chain = assistant.chain.with_listeners(on_end=runs.append)
    answer = assistant.ask(SEED_QUESTION)
    streamed = list(assistant.ask_stream(SEED_QUESTION, k=2))[-1]
    assert [run.outputs["output"] for run in runs] == [answer, streamed]
    assert isinstance(streamed, Answer) and runs[1].inputs["k"] == 2 and len(streamed.retrieved) == 2


class Steps(BaseCallbackHandler):
    """Records the name of every chain run that starts."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self.names.append(kwargs["name"])


def test_a_trace_shows_the_retrieval_and_the_answer_as_steps(assistant: Assistant) -> None:
    steps = Steps()
    assistant.chain.invoke(SEED_QUESTION, config={"callbacks": [steps]})
    assert steps.names == ["vraagbaak", "retrieve", "answer"]


def test_leaving_a_stream_early_stops_the_answer_backend(assistant: Assistant) -> None:
    written: list[str] = []

    class Endless:
        name = "endless"

        def stream(self, question: str, hits: list[Hit], language: str, evidence: Evidence) -> Iterator[str]:
            try:
                while True:
                    written.append("piece ")
                    yield "piece "
            finally:
                written.append("stopped")

    assistant.answerer = Endless()
    events = cast(Generator[Token | Answer, None, None], assistant.ask_stream(SEED_QUESTION))
    assert [next(events), next(events)] == [Token("piece "), Token("piece ")]
    events.close()
    assert written == ["piece ", "piece ", "stopped"]


def test_the_retriever_and_the_chain_see_the_same_passages(assistant: Assistant) -> None:
    documents = VraagbaakRetriever(retriever=assistant.retriever).invoke(SEED_QUESTION)
    answer = assistant.chain.invoke(SEED_QUESTION)
    assert isinstance(answer, Answer)
    assert [d.id for d in documents] == [h.passage_id for h in answer.retrieved]
