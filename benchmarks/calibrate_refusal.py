"""Calibrate the refusal thresholds: answerable question sets vs the unanswerable set.

Runs retrieval only (no answers) for every question over an existing index and grid-searches the
``RefusalPolicy`` thresholds for the best worst-case margin over the targets (answer >= 95% of the
answerable questions, refuse >= 90% of the unanswerable ones). Prints the chosen thresholds and
the rates; with ``--features FILE`` also dumps the per-question signals.

    python benchmarks/calibrate_refusal.py --data-dir DIR \
        --answerable ../shared/eval/dev.jsonl eval/reworded.jsonl --unanswerable eval/unanswerable.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from assistant.app import build_assistant
from assistant.evaluation import read_questions
from assistant.refusal import RefusalPolicy
from assistant.settings import Settings


def signals(data_dir: Path, files: list[Path]) -> list[dict[str, object]]:
    assistant = build_assistant(Settings(data_dir=data_dir))
    assistant.warm_up()
    out = []
    for number, path in enumerate(files):
        for record in read_questions(path):
            r = assistant.retriever.retrieve(record["question"], assistant.top_k)
            out.append({"id": record["id"], "set": record["set"], "file": number,
                        "answerable": record.get("answerable", True),
                        "similarity": r.top_similarity, "coverage": r.coverage, "known": r.known,
                        "cross": r.cross_language})
    return out


def rates(policy: RefusalPolicy, rows: list[dict]) -> tuple[float, float, float]:  # type: ignore[type-arg]
    """(answered share of the first answerable file, refused share of the unanswerable ones,
    answered share of the other answerable files)."""
    def share(subset: list[dict], answered: bool) -> float:  # type: ignore[type-arg]
        if not subset:
            return float("nan")
        return sum(policy.answerable(r["similarity"], r["coverage"], r["known"], r.get("cross", False)) == answered
                   for r in subset) / len(subset)

    return (share([r for r in rows if r["file"] == 0], True),
            share([r for r in rows if r["answerable"] is False], False),
            share([r for r in rows if r["file"] > 0 and r["answerable"] is not False], True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--answerable", type=Path, nargs="+", required=True,
                        help="the first file carries the answer-rate target; the others are reported")
    parser.add_argument("--unanswerable", type=Path, nargs="+", required=True)
    parser.add_argument("--features", type=Path)
    args = parser.parse_args()
    rows = signals(args.data_dir, [*args.answerable, *args.unanswerable])
    if args.features:
        args.features.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    current = RefusalPolicy()
    answered, refused, others = rates(current, rows)
    print(f"current defaults: {current} -> answered {answered:.3f}, refused {refused:.3f}, "
          f"other answerable sets answered {others:.3f}")
    grid = itertools.product([x / 100 for x in range(84, 95)], [x / 100 for x in range(78, 88)],
                             [x / 20 for x in range(4, 16)], [x / 1000 for x in range(800, 890, 2)],
                             [0.5, 0.6, 0.7, 0.8, 0.9])
    scored = []
    for sure, floor, coverage, foreign, known in grid:
        if floor > sure:
            continue
        policy = RefusalPolicy(sure, floor, coverage, foreign, known)
        answered, refused, others = rates(policy, rows)
        scored.append((min(answered - 0.95, refused - 0.90), answered + refused + others, policy,
                       answered, refused, others))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    for margin, _, policy, answered, refused, others in scored[:5]:
        print(f"margin {margin:+.3f}  answered {answered:.3f}  refused {refused:.3f}  "
              f"others answered {others:.3f}  {policy}")


if __name__ == "__main__":
    main()
