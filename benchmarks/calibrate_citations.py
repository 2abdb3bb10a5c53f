"""Calibrate the citation checker's support threshold on the dev set.

Pairs are built from the real passages the chunker makes of each gold document:

- true:        a sentence of the gold passage vs the passage (chunk) that holds it;
- true+echo:   the same sentence with three content words of the question added, as an
               answer that echoes the question's wording would have (a paraphrase proxy);
- false/other: a gold sentence vs passages of other documents;
- false/same:  a gold sentence vs the other answer passages of its own document (the
               "[2] where [3] was meant" mistake the checker exists to catch).

It prints the support distribution, a threshold table, and the threshold that best separates
true from false pairs (Youden's J = true-kept rate − false-accepted rate), for the pairs the
issue names (true vs other documents) and for the hard pairs (true+echo vs same document).

Usage: python benchmarks/calibrate_citations.py [--dev ../shared/eval/dev.jsonl] [--shared DIR]

Figures that set CitationChecker's default 0.5 (dev.jsonl: 103 questions, 51 documents,
323 passages at default chunking; 367 gold sentences, seed 13):

    pairs         n      mean   median  p95
    true          367    1.000  1.000   1.000
    true+echo     367    0.812  0.833   0.962
    false/other   1835   0.028  0.000   0.154
    false/same    1075   0.125  0.067   0.483

    threshold  true-kept  echo-kept  other-accepted  same-doc-accepted
      0.40       1.000      1.000        0.002           0.086
      0.50       1.000      1.000        0.001           0.049
      0.60       1.000      0.962        0.001           0.024
      0.70       1.000      0.872        0.000           0.016

True vs other documents separate at any threshold from 0.35 to 0.85 (best J at 0.70: 1.000 kept,
0.000 accepted). On the hard pairs the best J is at 0.50 (1.000 kept, 0.049 accepted); 0.55-0.60
trade 2-4% of echoing true sentences for 2% fewer same-document confusions. Real paraphrase
moves further from the passage's words than this proxy, so the default takes the lower end: 0.5.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from assistant.citations import CitationChecker, sentences
from assistant.settings import Settings
from ingest.chunking import Chunker, ChunkingConfig
from ingest.loaders import load
from values.passage import Passage
from values.text import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = [round(0.05 * i, 2) for i in range(4, 20)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dev", type=Path, default=ROOT.parent / "shared" / "eval" / "dev.jsonl")
    parser.add_argument("--shared", type=Path, default=None,
                        help="Folder holding corpus/ (default: dev's ../)")
    parser.add_argument("--negatives", type=int, default=5, help="Other-document passages per sentence.")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    shared = args.shared or args.dev.resolve().parents[1]
    records = [json.loads(line) for line in args.dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    tokenizer = Tokenizer()
    checker = CitationChecker(tokenizer)
    settings = Settings()
    chunker = Chunker(ChunkingConfig(settings.chunk_size, settings.chunk_overlap, settings.structure))
    rng = random.Random(args.seed)

    passages: dict[str, list[Passage]] = {}
    for r in records:
        if r["gold_doc"] not in passages:
            passages[r["gold_doc"]] = chunker.split(load(shared / r["gold_path"]))
    docs = sorted(passages)

    scores: dict[str, list[float]] = {"true": [], "true+echo": [], "false/other": [], "false/same": []}
    for r in records:
        doc_passages = passages[r["gold_doc"]]
        gold = r["gold_passage"]
        asked = [w for w in r["question"].split() if tokenizer(w)]
        for span in sentences(gold):
            sentence = " ".join(gold[span.start:span.end].split())
            if len(tokenizer(sentence)) < 2:
                continue
            start, end = r["gold_start"] + span.start, r["gold_start"] + span.end
            holder = max(doc_passages, key=lambda p: min(p.end, end) - max(p.start, start))
            scores["true"].append(checker.support(sentence, holder.text))
            echo = sentence + " " + " ".join(rng.sample(asked, min(3, len(asked))))
            scores["true+echo"].append(checker.support(echo, holder.text))
            for p in doc_passages:
                if p.kind == "answer" and (p.end <= r["gold_start"] or p.start >= r["gold_end"]):
                    scores["false/same"].append(checker.support(sentence, p.text))
            others = [d for d in docs if d != r["gold_doc"]]
            for d in rng.sample(others, min(args.negatives, len(others))):
                answers = [p for p in passages[d] if p.kind == "answer"] or passages[d]
                scores["false/other"].append(checker.support(sentence, rng.choice(answers).text))

    total = sum(len(v) for v in passages.values())
    print(f"{len(records)} questions, {len(docs)} documents, {total} passages")
    for name, values in scores.items():
        q = statistics.quantiles(values, n=20)
        print(f"{name:12s} n={len(values):5d}  mean {statistics.mean(values):.3f}  "
              f"p5 {q[0]:.3f}  median {statistics.median(values):.3f}  p95 {q[-1]:.3f}")
    print("\nthreshold  true-kept  echo-kept  other-accepted  same-doc-accepted")
    for t in THRESHOLDS:
        rates = [_rate(scores[name], t) for name in ("true", "true+echo", "false/other", "false/same")]
        print(f"   {t:.2f}     " + "      ".join(f"{r:.3f}" for r in rates))
    for label, pos, neg in (("true vs other documents", "true", "false/other"),
                            ("true+echo vs same document (hard)", "true+echo", "false/same")):
        best = max(THRESHOLDS, key=lambda t: (_rate(scores[pos], t) - _rate(scores[neg], t), -t))
        print(f"\nbest threshold, {label}: {best:.2f}  (kept {_rate(scores[pos], best):.3f}, "
              f"false accepted {_rate(scores[neg], best):.3f})")
    t = checker.threshold
    print(f"\nCitationChecker default {t:.2f}: true kept {_rate(scores['true'], t):.3f}, "
          f"echo kept {_rate(scores['true+echo'], t):.3f}, other accepted "
          f"{_rate(scores['false/other'], t):.3f}, same-doc accepted {_rate(scores['false/same'], t):.3f}")


def _rate(values: list[float], threshold: float) -> float:
    return sum(v >= threshold for v in values) / len(values) if values else 0.0


if __name__ == "__main__":
    main()
