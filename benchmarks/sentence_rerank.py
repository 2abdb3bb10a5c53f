"""Would reranking by the best sentence's similarity lift the gold passage? Offline, from an eval run.

For each answerable question of a ``vraagbaak eval --out`` file, its retrieved top 10 are
re-scored as 60 / (61 + fused rank) + w × (the e5 similarity of the question to the passage's
best sentence, its best two, or the whole passage) and the gold passage's new rank is read:

    vraagbaak eval eval/manuals/questions.jsonl --data-dir MANUALS --out manuals.jsonl
    python benchmarks/sentence_rerank.py manuals.jsonl eval/manuals/questions.jsonl

Prints hit@1 and MRR@10 of the fused order (the baseline, same run) and of each variant.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from assistant.embeddings import make_embedder
from assistant.evaluation import is_hit
from assistant.sentences import segment

WEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0)


def features(run: Path, sets: list[Path]) -> list[dict[str, list[float] | list[bool]]]:
    """Per answerable question: which of the top 10 is gold, and each candidate's three similarities."""
    embedder = make_embedder("e5-small", 16, None)
    gold = {}
    for path in sets:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                gold[record["question"]] = record
    out = []
    for line in run.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        record = gold.get(row["question"])
        if not record or not record.get("answerable", True) or "gold_start" not in record:
            continue
        candidates = row["retrieved"][:10]
        question = np.array(embedder.embed_query(row["question"]))
        whole = np.array(embedder.embed_documents([c["text"] for c in candidates])) @ question
        sentences = [[s.words for s in segment(c["text"]) if len(s.words) > 20] or [c["text"]] for c in candidates]
        vectors = np.array(embedder.embed_documents([s for group in sentences for s in group]))
        best, two, at = [], [], 0
        for group in sentences:
            sims = np.sort(vectors[at:at + len(group)] @ question)
            at += len(group)
            best.append(float(sims[-1]))
            two.append(float(sims[-2:].mean()))
        out.append({"hits": [is_hit(c, record) for c in candidates], "best": best, "two": two,
                    "passage": [float(x) for x in whole]})
    return out


def measure(data: list[dict], key: str | None, weight: float) -> str:
    first = reciprocal = 0.0
    for d in data:
        score = [60 / (61 + i) + (weight * d[key][i] if key else 0.0) for i in range(len(d["hits"]))]
        order = sorted(range(len(score)), key=lambda i: -score[i])
        ranks = [r for r, i in enumerate(order) if d["hits"][i]]
        if ranks:
            first += ranks[0] == 0
            reciprocal += 1 / (ranks[0] + 1)
    return f"hit@1 {first / len(data):.3f}  MRR@10 {reciprocal / len(data):.3f}  (n={len(data)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="A `vraagbaak eval --out` file.")
    parser.add_argument("sets", type=Path, nargs="+", help="The question sets it ran (gold passages).")
    args = parser.parse_args()
    data = features(args.run, args.sets)
    print(f"{'fused order (baseline)':28} {measure(data, None, 0)}")
    for key in ("best", "two", "passage"):
        for weight in WEIGHTS:
            print(f"{key + ' sentence' * (key != 'passage'):16} w = {weight:<4}   {measure(data, key, weight)}")


if __name__ == "__main__":
    main()
