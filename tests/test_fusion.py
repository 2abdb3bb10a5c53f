"""The fusion of the two legs: a keyword match that stands out counts for more than a flat one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.assistant import Assistant
from assistant.retrieval import _peak
from vectorstore.keyword_leg import KeywordHit

QUESTION = "Wat vraagt de gemeente voor het project van het Zwartewaterklooster?"
DISTINCT = "Het Zwartewaterklooster in Hasselt werd in 1420 gesticht door zusters.\n"
COMMON = "De gemeente vraagt subsidie voor het project van de vereniging in de provincie."
OTHERS = ("De gemeente kreeg de subsidie voor het project.",
          "Het project van de vereniging kreeg steun van de gemeente.",
          "De provincie weigerde de subsidie van de vereniging.",
          "Een vereniging vraagt elk jaar subsidie aan de gemeente.")


def hits(*scores: float) -> list[KeywordHit]:
    return [KeywordHit(f"p{i}", s) for i, s in enumerate(scores)]


@pytest.mark.parametrize(("scores", "peak"), [((9.0, 3.0, 2.0), 3.0), ((8.0, 4.0), 2.0), ((30.0, 1.0), 3.0),
                                              ((5.0, 5.0, 4.0), 1.0), ((5.0,), 1.0), ((), 1.0), ((2.0, 0.0), 1.0)])
def test_the_peak_is_the_best_scores_lead_over_the_second_capped(scores: tuple[float, ...], peak: float) -> None:
    assert _peak(hits(*scores)) == pytest.approx(peak)


def test_a_distinctive_word_match_moves_up_with_the_peak(make_assistant: Callable[..., Assistant],
                                                         tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "klooster.txt").write_text(DISTINCT, encoding="utf-8")
    for i, extra in enumerate(OTHERS):
        (docs / f"gemeente-{i}.txt").write_text(f"{COMMON} {extra}\n", encoding="utf-8")

    def rank(peak_power: float) -> int:
        a = make_assistant(data_dir=tmp_path / f"index-{peak_power}", keyword_peak_power=peak_power)
        a.ingest([docs])
        return [Path(h.passage.source).name for h in a.search(QUESTION)].index("klooster.txt")

    # the fake embedder sees mostly the common words; BM25's top match is the only one with the rare word
    assert rank(1.0) < rank(0.0)
