"""Print a small parliamentary index's files: every gold document of the question sets plus distractors.

The full corpus takes an hour to index; this subset (gold documents and ~100 others picked by a
fixed stride, the same on every run) measures answer and refusal changes in minutes:

    vraagbaak ingest $(python benchmarks/eval_subset.py) --data-dir /work/runs/parl
"""

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SETS = [SHARED / "eval/dev.jsonl", ROOT / "eval/reworded.jsonl", ROOT / "eval/seed.jsonl",
        ROOT / "eval/seed-question.jsonl"]


def gold_files(sets: list[Path]) -> list[Path]:
    """Each question's gold document, found beside the repository or in the shared folder."""
    found: set[Path] = set()
    for path in sets:
        for line in path.read_text(encoding="utf-8").splitlines():
            gold = json.loads(line).get("gold_path") if line.strip() else None
            if gold:
                found.add(next(p for p in (ROOT / gold, SHARED / gold) if p.exists()))
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distractors", type=int, default=100, help="Other corpus documents to add.")
    args = parser.parse_args()
    gold = gold_files(SETS)
    others = [p for p in sorted((SHARED / "corpus/bekamer-2017").glob("*.txt")) if p not in set(gold)]
    step = max(1, len(others) // max(1, args.distractors))
    print("\n".join(str(p) for p in [*gold, *others[::step][: args.distractors]]))


if __name__ == "__main__":
    main()
