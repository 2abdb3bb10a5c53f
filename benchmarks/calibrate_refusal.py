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
    for path in files:
        for record in read_questions(path):
            r = assistant.retriever.retrieve(record["question"], assistant.top_k)
            out.append({"id": record["id"], "set": record["set"], "answerable": record.get("answerable", True),
                        "similarity": r.top_similarity, "coverage": r.coverage, "known": r.known})
    return out


def rates(policy: RefusalPolicy, rows: list[dict]) -> tuple[float, float]:  # type: ignore[type-arg]
    yes = [r for r in rows if r["answerable"] is not False]
    no = [r for r in rows if r["answerable"] is False]
    answered = sum(policy.answerable(r["similarity"], r["coverage"], r["known"]) for r in yes) / len(yes)
    refused = sum(not policy.answerable(r["similarity"], r["coverage"], r["known"]) for r in no) / len(no)
    return answered, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--answerable", type=Path, nargs="+", required=True)
    parser.add_argument("--unanswerable", type=Path, nargs="+", required=True)
    parser.add_argument("--features", type=Path)
    args = parser.parse_args()
    rows = signals(args.data_dir, [*args.answerable, *args.unanswerable])
    if args.features:
        args.features.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    current = RefusalPolicy()
    print("current defaults:", current, "-> answered %.3f, refused %.3f" % rates(current, rows))
    grid = itertools.product([x / 100 for x in range(82, 93)], [x / 100 for x in range(76, 86)],
                             [x / 20 for x in range(2, 16)], [x / 100 for x in range(80, 89)])
    scored = []
    for sure, floor, coverage, foreign in grid:
        if floor > sure:
            continue
        policy = RefusalPolicy(sure, floor, coverage, foreign, current.min_known)
        answered, refused = rates(policy, rows)
        scored.append((min(answered - 0.95, refused - 0.90), answered + refused, policy, answered, refused))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    for margin, _, policy, answered, refused in scored[:5]:
        print(f"margin {margin:+.3f}  answered {answered:.3f}  refused {refused:.3f}  {policy}")


if __name__ == "__main__":
    main()
