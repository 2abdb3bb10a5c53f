"""Retrieval at one catalog version is the same whatever an ingest has in flight (issue 12: two replicas,
one answer).

An ingest upserts a batch's vectors into Chroma before it commits the batch to the catalog; a
replica asking in between finds those vectors in Chroma (a server shows every write at once). They
are not the catalog's at the version being read, so they must take no place in the dense ranking:
the hits (ids, order, fused and per-leg scores) and the dense leg's best similarity are those
without them. The ingest here stops where a killed one would (``vectors-written`` in
test_crash.py): its vectors written, its catalog transaction never begun.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from assistant.assistant import Assistant
from tests.conftest import SEED, SEED_QUESTION, SMALL_SET
from tests.store_view import catalog_of

pytestmark = [pytest.mark.model, pytest.mark.slow]

QUESTIONS = [SEED_QUESTION, "Hoeveel voertuigen heeft de politie?", "Wat is de budgettaire impact?",
             "Welke maatregelen neemt de minister?", "ongeregeldheden in Boma"]
Ranking = tuple[int, float, list[tuple[str, float, float | None, float | None]]]


class _Stopped(Exception):
    """The ingest stopped between its vectors and its catalog transaction."""


def in_flight(a: Assistant, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest ``folder`` as far as its vectors: upserted into Chroma, the catalog transaction never begun."""
    def stop() -> None:
        raise _Stopped

    with monkeypatch.context() as m:
        m.setattr(catalog_of(a), "transaction", stop)
        with pytest.raises(_Stopped):
            a.ingest([folder])


def counted(a: Assistant, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often retrieval asks Chroma (``search_dense``) and the catalog (``resolve``)."""
    calls: Counter[str] = Counter()

    def wrap(name: str) -> None:
        method = getattr(a.index, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return method(*args, **kwargs)

        monkeypatch.setattr(a.index, name, call)

    wrap("search_dense")
    wrap("resolve")
    return calls


def ranking(a: Assistant, question: str, sources: Sequence[str] | None = None) -> Ranking:
    got = a.retriever.retrieve(question, sources=sources)
    return got.version, got.top_similarity, [(h.passage_id, h.score, h.dense, h.keyword) for h in got.hits]


@pytest.mark.parametrize("partition", ["none", "year"])
def test_vectors_of_an_ingest_in_flight_take_no_place_in_the_ranking(
        partition: str, make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    a = make_assistant(dense_partition=partition)
    a.ingest([docs])
    calls = counted(a, monkeypatch)
    before = {q: ranking(a, q) for q in QUESTIONS}
    assert calls == {"search_dense": len(QUESTIONS), "resolve": len(QUESTIONS)}  # nothing in flight: nothing more
    vectors = a.index.vector_count()
    copies = tmp_path / "copies"  # the same texts under other names: as near to every question as can be
    copies.mkdir()
    for path in [SEED, *SMALL_SET]:
        shutil.copy(path, copies / f"copy-{path.name}")
    in_flight(a, copies, monkeypatch)
    assert a.index.vector_count() >= 2 * vectors  # in Chroma, not in the catalog
    calls.clear()
    assert {q: ranking(a, q) for q in QUESTIONS} == before
    assert calls["search_dense"] == calls["resolve"] > len(QUESTIONS)  # asked deeper


def test_a_scoped_question_ranks_only_the_scopes_committed_passages(
        make_assistant: Callable[..., Assistant], docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed document being written again: its new vectors share its source, so a scope on it finds them."""
    a = make_assistant()
    a.ingest([docs])
    seed = str((docs / SEED.name).resolve())
    scope = [seed, str((docs / SMALL_SET[0].name).resolve())]
    before = {q: ranking(a, q, scope) for q in QUESTIONS}
    text = SEED.read_text(encoding="utf-8")
    (docs / SEED.name).write_text(text.replace("OTA", "OTA (Overheidsteam Amsterdam)"), encoding="utf-8")
    vectors = a.index.vector_count()
    in_flight(a, docs, monkeypatch)
    assert a.index.vector_count() > vectors
    assert {q: ranking(a, q, scope) for q in QUESTIONS} == before
