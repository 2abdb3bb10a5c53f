"""Calibrate the built-in refusal thresholds of an embedder on real question sets.

Reads the evidence of every question (retrieval + sentence choice, no answer written) over an
existing index, then grid-searches the similarity thresholds of ``RefusalPolicy`` for the best
worst-case margin over the targets (answer >= 95% of the answerable questions, refuse >= 90% of
the unanswerable ones). Prints the signals' spread, the chosen thresholds and the rates per set,
and with ``--features FILE`` dumps the per-question signals. Several indexes (``--data-dir``
repeated, each with its own question files after ``--sets``) are pooled: calibrate on the
parliamentary and the manuals collection at once.

    python benchmarks/calibrate_refusal.py --data-dir FULL --sets ../shared/eval/dev.jsonl \
        eval/reworded.jsonl eval/unanswerable.jsonl --data-dir MANUALS --sets eval/manuals/questions.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import statistics
from pathlib import Path

from assistant.app import build_assistant
from assistant.evaluation import is_hit, read_questions
from assistant.refusal import RefusalPolicy, policy_for
from assistant.settings import Settings


def observe(data_dir: Path, files: list[Path], embedder: str | None) -> list[dict]:  # type: ignore[type-arg]
    settings = Settings(data_dir=data_dir, **({"embedder": embedder} if embedder else {}))
    assistant = build_assistant(settings)
    assistant.warm_up()
    rows = []
    for path in files:
        for record in read_questions(path):
            r = assistant.retriever.retrieve(record["question"], assistant.top_k)
            ev = assistant.reader.read(record["question"], r.hits, r.vector)
            first = r.hits[ev.quotes[0].rank].to_json() if ev.quotes else None
            gold = "gold_doc" in record
            rows.append({"id": record["id"], "set": f"{data_dir.name}/{record['set']}",
                         "answerable": record.get("answerable", True) is not False,
                         "cross": r.cross_language, "evidence": ev,
                         "hit": bool(first and gold and is_hit(first, record)) if gold else None})
    assistant.index.close()
    return rows


def decide(policy: RefusalPolicy, row: dict) -> bool:  # type: ignore[type-arg]
    return policy.decide(row["evidence"], row["cross"]).answerable


def report(policy: RefusalPolicy, rows: list[dict]) -> tuple[float, float]:  # type: ignore[type-arg]
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    answered = sum(decide(policy, r) for r in answerable) / max(len(answerable), 1)
    refused = sum(not decide(policy, r) for r in unanswerable) / max(len(unanswerable), 1)
    return answered, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, action="append", required=True)
    parser.add_argument("--sets", type=Path, nargs="+", action="append", required=True)
    parser.add_argument("--embedder", help="the embedder the indexes were built with (default e5-small)")
    parser.add_argument("--features", type=Path)
    args = parser.parse_args()
    rows = []
    for data_dir, files in zip(args.data_dir, args.sets, strict=True):
        rows += observe(data_dir, files, args.embedder)
    if args.features:
        args.features.write_text(json.dumps(
            [{**r, "evidence": r["evidence"].to_json()} for r in rows], indent=1), encoding="utf-8")
    for label, subset in (("answerable", [r for r in rows if r["answerable"]]),
                          ("unanswerable", [r for r in rows if not r["answerable"]])):
        sims = sorted(r["evidence"].similarity for r in subset)
        if sims:
            print(f"{label:13} n={len(sims):4} similarity min {sims[0]:.3f} p10 {sims[len(sims) // 10]:.3f} "
                  f"median {statistics.median(sims):.3f} p90 {sims[9 * len(sims) // 10]:.3f} max {sims[-1]:.3f}")
    current = policy_for(args.embedder or "e5-small")
    print(f"current: {current}\n  answered {report(current, rows)[0]:.3f} refused {report(current, rows)[1]:.3f}")
    grid = itertools.product([x / 200 for x in range(140, 190)], [x / 200 for x in range(130, 185)],
                             [0.3, 0.4, 0.5, 0.6, 0.7], [x / 200 for x in range(150, 180)])
    scored = []
    for sure, floor, lexical, foreign in grid:
        if floor > sure:
            continue
        policy = dataclasses.replace(current, sure=sure, floor=floor, lexical=lexical, foreign=foreign,
                                     calibrated=True)
        answered, refused = report(policy, rows)
        scored.append((min(answered - 0.95, refused - 0.90), answered + refused, policy, answered, refused))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    for margin, _, policy, answered, refused in scored[:5]:
        print(f"margin {margin:+.3f} answered {answered:.3f} refused {refused:.3f}  sure {policy.sure} "
              f"floor {policy.floor} lexical {policy.lexical} foreign {policy.foreign}")
    chosen = scored[0][2]
    print("\nper set with the best policy (answered / refused / first quote a gold hit):")
    for name in sorted({r["set"] for r in rows}):
        subset = [r for r in rows if r["set"] == name]
        answered = [decide(chosen, r) for r in subset]
        hits = [r["hit"] for r in subset if r["hit"] is not None]
        kind = "answered" if subset[0]["answerable"] else "refused"
        share = sum(answered) / len(subset) if kind == "answered" else 1 - sum(answered) / len(subset)
        print(f"  {name:40} n={len(subset):3} {kind} {share:.3f}"
              + (f"  first quote hit {sum(hits) / len(hits):.3f}" if hits else ""))
        wrong = [r["id"] for r, a in zip(subset, answered, strict=True) if a != r["answerable"]]
        if wrong:
            print(f"    wrong: {' '.join(wrong[:20])}")


if __name__ == "__main__":
    main()
