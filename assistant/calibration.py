"""Calibration of the refusal thresholds for the index's embedder, on the user's own collection.

A user has no gold questions, so ``vraagbaak calibrate`` makes probes from the collection:

- answerable: a sentence of a random passage reworded by rule into a terse question (its rarer
  content words, in order, without the rest), and the sub-questions of Q&A documents;
- unanswerable: everyday questions no document collection of this kind answers (``OFF_TOPIC``),
  and "crossed" probes that join the subject of one document to the words of another, so that
  no single passage answers them.

Each probe is asked as a user would ask it; the signals of its evidence are recorded, and the
thresholds are fitted for the best worst-case margin on both sides (answer >= 95% of the
answerable probes, refuse >= 90% of the unanswerable ones). Probes are not real questions, so
the report says how well they separate, and the built-in calibration of a known embedder
(measured on real question sets, ``benchmarks/calibrate_refusal.py``) stays the default until
the user stores their own.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from assistant.evidence import Evidence
from assistant.refusal import RefusalPolicy
from assistant.sentences import lines_are_blocks, segment
from assistant.terms import question_terms
from values.errors import CalibrationError
from values.passage import Passage

if TYPE_CHECKING:
    from assistant.assistant import Assistant

OFF_TOPIC = (
    "Wat is de hoofdstad van Mongolië?", "Hoe lang moet een ei koken voor een zachte dooier?",
    "Wie won de Tour de France in 1989?", "Hoeveel manen heeft de planeet Jupiter?",
    "Welke kleur krijgt lakmoespapier in azijn?", "Hoe hoog is de Mount Everest?",
    "Wat kost een treinkaartje van Amsterdam naar Parijs?", "Wie schreef De ontdekking van de hemel?",
    "Hoeveel spelers staan er in een rugbyteam op het veld?", "Wanneer bloeit de kerselaar in Japan?",
    "Welke temperatuur heeft de zon aan de oppervlakte?", "Hoe maak je zuurdesem voor brood?",
    "Who won the 1998 football world cup?", "What is the boiling point of ethanol?",
    "How many strings does a cello have?", "Who painted the Girl with a Pearl Earring?",
    "What is the population of Reykjavik?", "How long does it take to fly from London to Tokyo?",
    "Which planet has the Great Red Spot?", "What is the recipe for a classic margherita pizza?",
)
_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


@dataclass(frozen=True)
class Probe:
    """A question made for calibration, whether the collection answers it, and how it was made."""

    question: str
    answerable: bool
    kind: str


@dataclass(frozen=True)
class Observation:
    """The signals one question produced, with its label."""

    question: str
    answerable: bool
    kind: str
    evidence: Evidence
    cross_language: bool


def observe(assistant: Assistant, probes: Iterable[Probe]) -> list[Observation]:
    """Retrieve and read the evidence of every probe (no answer is written)."""
    out = []
    for probe in probes:
        retrieval = assistant.retriever.retrieve(probe.question, assistant.top_k)
        evidence = assistant.reader.read(probe.question, retrieval.hits, retrieval.vector,
                                         passage_similarity=retrieval.top_similarity)
        out.append(Observation(probe.question, probe.answerable, probe.kind, evidence, retrieval.cross_language))
    return out


def rates(policy: RefusalPolicy, rows: Sequence[Observation]) -> tuple[float, float]:
    """(share of answerable rows answered, share of unanswerable rows refused); NaN for none."""
    def share(subset: list[Observation], want: bool) -> float:
        if not subset:
            return float("nan")
        # unanswerable probes are judged on the similarity rule alone: most miss a rare word anyway,
        # and the thresholds must also hold for the near misses that miss none
        return sum(policy.decide(r.evidence, r.cross_language, terms=want).answerable == want
                   for r in subset) / len(subset)

    return (share([r for r in rows if r.answerable], True), share([r for r in rows if not r.answerable], False))


def fit(rows: Sequence[Observation], base: RefusalPolicy, answer_target: float = 0.95,
        refuse_target: float = 0.90) -> tuple[RefusalPolicy, dict[str, float]]:
    """The threshold with the best worst-case margin over both targets, and its rates.

    Probes are in the collection's own language, so the cross-language threshold keeps its
    built-in distance below the main one.
    """
    scores = sorted(base.score(r.evidence) for r in rows if r.evidence.quotes)
    if len(scores) < 10:
        raise CalibrationError(f"only {len(scores)} probes found a sentence to quote: the collection is too "
                               "small to calibrate")
    offset = base.threshold - base.foreign if base.calibrated else 0.14
    best: tuple[float, float, RefusalPolicy] | None = None
    for threshold in sorted({round(q, 4) for q in _quantiles(scores, 40)}):
        policy = replace(base, threshold=threshold, foreign=round(threshold - offset, 4), calibrated=True)
        answered, refused = rates(policy, rows)
        key = (min(answered - answer_target, refused - refuse_target), answered + refused)
        if best is None or key > best[:2]:
            best = (*key, policy)
    assert best is not None
    answered, refused = rates(best[2], rows)
    return best[2], {"answered": round(answered, 3), "refused": round(refused, 3),
                     "probes": len(rows), "answerable": sum(r.answerable for r in rows)}


def _quantiles(values: list[float], n: int) -> list[float]:
    return [values[min(len(values) - 1, int(i * len(values) / n))] for i in range(n + 1)]


def make_probes(passages: Sequence[Passage], tokenize: Callable[[str], list[str]],
                count: int = 60, seed: int = 0) -> list[Probe]:
    """Answerable and unanswerable probes from ``passages``."""
    rng = random.Random(seed)
    questions = [p.text for p in passages if p.kind == "question" and 25 <= len(p.text) <= 400]
    sentences = [(p.source, seg.words) for p in passages if p.kind != "question"
                 for seg in segment(p.text, lines_are_blocks(p.doc_type))
                 if seg.is_sentence and 60 <= len(seg.words) <= 400]
    rng.shuffle(sentences)
    rng.shuffle(questions)
    probes: list[Probe] = []
    for _, sentence in sentences[:count * 2 // 3]:
        terse = reword(sentence, tokenize)
        if terse:
            probes.append(Probe(terse, True, "reworded"))
    probes += [Probe(" ".join(text.split()), True, "sub-question") for text in questions[:count // 3]]
    crossed = []
    for (src_a, a), (src_b, b) in zip(sentences[::2], sentences[1::2], strict=False):
        if src_a != src_b:
            wa, wb = reword(a, tokenize).rstrip("?").split(), reword(b, tokenize).rstrip("?").split()
            if len(wa) >= 4 and len(wb) >= 4:
                crossed.append(Probe(" ".join(wa[:len(wa) // 2] + wb[len(wb) // 2:]) + "?", False, "crossed"))
    probes += crossed[:count // 2]
    probes += [Probe(q, False, "off-topic") for q in OFF_TOPIC]
    return probes


def reword(sentence: str, tokenize: Callable[[str], list[str]], keep: int = 6) -> str:
    """A terse question from a sentence: its ``keep`` rarest content words, in their order."""
    terms = question_terms(sentence, tokenize)
    rare = sorted(terms, key=lambda t: -t.weight)[:keep]
    wanted = {t.word for t in rare}
    words = [w for w in _WORD.findall(sentence) if w in wanted]
    return " ".join(dict.fromkeys(words)) + "?" if len(words) >= 3 else ""


def calibrate(assistant: Assistant, *, documents: int, count: int, seed: int = 0,
              store: bool = True) -> dict[str, object]:
    """Fit the thresholds of the index's embedder on probes from its own documents; keep them if ``store``."""
    import time

    sources = sorted(assistant.documents())
    if len(sources) < 2:
        raise CalibrationError(f"calibration needs at least 2 indexed documents; the index holds {len(sources)}")
    rng = random.Random(seed)
    chosen = rng.sample(sources, min(documents, len(sources)))
    passages = [p for s in chosen for p in assistant.passages(s)]
    probes = make_probes(passages, assistant.checker.tokenize, count, seed)
    observations = observe(assistant, probes)
    before = assistant.refusal_policy()
    policy, fitted = fit(observations, replace(before, source="calibrated"))
    answered, refused = rates(before, observations)
    report: dict[str, object] = {
        **fitted, "documents": len(chosen), "at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "before": {"answered": round(answered, 3), "refused": round(refused, 3), "source": before.source},
        "kinds": {kind: sum(p.kind == kind for p in probes) for kind in sorted({p.kind for p in probes})}}
    if store:
        assistant.store_calibration(policy, report)
    return {"policy": policy.to_json(), "report": report, "stored": store}
