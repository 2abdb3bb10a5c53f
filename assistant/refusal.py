"""When to say "the documents do not answer this": a rule calibrated on dev vs unanswerable sets.

Two signals: the top dense similarity (e5 squeezes it into a narrow band, so alone it separates
poorly) and the IDF-weighted share of the question's words found in the top passages (words the
corpus never uses, such as a year it does not cover, pull it down). A question is answered when
the dense match is very strong, or strong enough and the words are there. A question in another
language than the passages shares no words with them, so there the (cross-lingual) dense match
decides alone. The thresholds come from ``benchmarks/calibrate_refusal.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RefusalPolicy:
    """Thresholds on the two relevance signals."""

    dense_sure: float = 0.89
    dense_floor: float = 0.84
    coverage: float = 0.5
    dense_foreign: float = 0.838
    min_known: float = 0.6

    def answerable(self, similarity: float, coverage: float, known: float,
                   cross_language: bool = False) -> bool:
        """True when retrieval found something relevant enough to answer from.

        When the question is in another language than the top passages, or the index knows under
        ``min_known`` of its words (a language the detector does not tell apart), word coverage
        means nothing and the dense similarity decides alone against ``dense_foreign``. Known
        words alone do not reveal an English question over Dutch documents: names, numbers and
        cognates ("federal", "police") are in the index.
        """
        if cross_language or known < self.min_known:
            return similarity >= self.dense_foreign
        return similarity >= self.dense_sure or (similarity >= self.dense_floor and coverage >= self.coverage)


# calibrated with benchmarks/calibrate_refusal.py on the full corpus index (see benchmarks/README.md)
CALIBRATED = {"e5-small": RefusalPolicy()}
# an uncalibrated embedder: its similarity scale is unknown, so only word coverage decides
LEXICAL_ONLY = RefusalPolicy(dense_sure=float("inf"), dense_floor=float("-inf"), coverage=0.5,
                             dense_foreign=float("-inf"), min_known=0.5)


def policy_for(embedder: str, **overrides: float | None) -> RefusalPolicy:
    """The calibrated policy of ``embedder`` (lexical-only if none), with explicit settings on top."""
    base = CALIBRATED.get(embedder, LEXICAL_ONLY)
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
