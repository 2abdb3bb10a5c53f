"""Calibrate the built-in refusal threshold of an embedder on real question sets.

Reads the evidence of every question (retrieval + sentence choice, no answer written) over one
or more existing indexes, then searches the threshold and the cross-language threshold of
``RefusalPolicy`` for the best worst-case margin over the targets (answer >= 95% of the
answerable questions, refuse >= 90% of the unanswerable ones) on every collection at once.
Prints the chosen thresholds, the rates per collection and per set, and the questions that go
wrong; ``--features FILE`` dumps the per-question signals.

    python benchmarks/calibrate_refusal.py \
        --data-dir FULL --sets ../shared/eval/dev.jsonl eval/reworded.jsonl eval/unanswerable.jsonl \
        --data-dir MANUALS --sets eval/manuals/questions.jsonl [--embedder NAME]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from assistant.evaluation import is_hit, read_questions
from assistant.refusal import RefusalPolicy, policy_for
from assistant.settings import Settings
from vraagbaak.compose import build_assistant


def observe(data_dir: Path, files: list[Path], embedder: str | None) -> list[dict]:  # type: ignore[type-arg]
    settings = Settings(data_dir=data_dir, **({"embedder": embedder} if embedder else {}))
    assistant = build_assistant(settings)
    assistant.warm_up()
    rows = []
    for path in files:
        for record in read_questions(path):
            r = assistant.retriever.retrieve(record["question"], assistant.top_k)
            ev = assistant.reader.read(record["question"], r.hits, r.vector, passage_similarity=r.top_similarity)
            first = r.hits[ev.quotes[0].rank].to_json() if ev.quotes else None
            gold = "gold_doc" in record
            rows.append({"id": record["id"], "collection": data_dir.name, "set": record["set"],
                         "answerable": record.get("answerable", True) is not False,
                         "cross": r.cross_language, "evidence": ev,
                         "hit": bool(first and is_hit(first, record)) if gold else None})
    assistant.index.close()
    return rows


def decide(policy: RefusalPolicy, row: dict) -> bool:  # type: ignore[type-arg]
    return policy.decide(row["evidence"], row["cross"]).answerable


def rates(policy: RefusalPolicy, rows: list[dict]) -> tuple[float, float]:  # type: ignore[type-arg]
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
    collections = sorted({r["collection"] for r in rows})
    current = policy_for(args.embedder or "e5-small")
    scored = []
    calibrated = dataclasses.replace(current, calibrated=True, threshold=0.0, foreign=0.0)
    scores = sorted({round(calibrated.score(r["evidence"]), 3) for r in rows if r["evidence"].quotes})
    sums = sorted({round(r["evidence"].similarity + r["evidence"].passage_similarity, 3)
                   for r in rows if r["evidence"].quotes and r["cross"]}) or [0.0]
    grid_t = scores[::max(1, len(scores) // 80)]
    grid_f = sums[::max(1, len(sums) // 20)] + [float("inf")]
    for t in grid_t:
        for f in grid_f:
            policy = dataclasses.replace(current, threshold=t, foreign=f, calibrated=True)
            per = [rates(policy, [r for r in rows if r["collection"] == c]) for c in collections]
            margin = min(min(a - 0.95, u - 0.90) for a, u in per)
            scored.append((margin, sum(a + u for a, u in per), policy, per))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    for label, policy in (("current", current), *((f"best {i + 1}", s[2]) for i, s in enumerate(scored[:3]))):
        per = [rates(policy, [r for r in rows if r["collection"] == c]) for c in collections]
        print(f"{label}: threshold {policy.threshold} foreign {policy.foreign}  " + "  ".join(
            f"{c}: answered {a:.3f} refused {u:.3f}" for c, (a, u) in zip(collections, per, strict=True)))
    print("\nper set with the current policy (answered or refused / first quote a gold hit):")
    for name in sorted({(r["collection"], r["set"], r["answerable"]) for r in rows}):
        subset = [r for r in rows if (r["collection"], r["set"], r["answerable"]) == name]
        answered = [decide(current, r) for r in subset]
        hits = [r["hit"] for r in subset if r["hit"] is not None]
        share = sum(answered) / len(subset) if name[2] else 1 - sum(answered) / len(subset)
        kind = "answered" if name[2] else "refused"
        print(f"  {name[0]:14} {name[1]:22} n={len(subset):3} {kind} {share:.3f}"
              + (f"  first quote hit {sum(hits) / len(hits):.3f}" if hits else ""))
        wrong = [r["id"] for r, a in zip(subset, answered, strict=True) if a != r["answerable"]]
        if wrong:
            print(f"      wrong: {' '.join(wrong[:24])}")


if __name__ == "__main__":
    main()
