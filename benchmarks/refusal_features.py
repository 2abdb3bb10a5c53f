"""Would other answerability signals separate answerable from unanswerable questions better?

Issue 9 named ideas to try for the refusal: "the margin between the best passage and the bulk"
among them. For every question of the given sets over existing indexes this reads the evidence
the refusal uses (best sentence similarity, best passage similarity, word share) and candidate
signals of the retrieval itself: the dense leg's margins (best minus mean of its top 40, best
minus second, best minus tenth), the keyword leg's peak (best / second BM25 score) and margin,
whether each leg ranks the fused first passage first (or in its top 3), and the share of the
question's words the keyword index knows. Prints, per collection, each signal's ROC AUC
(answerable above unanswerable), the AUC of the refusal's own score, and the 10-fold
cross-validated AUC of a logistic regression on the refusal's three signals with and without the
candidates (scikit-learn, which sentence-transformers installs).

    python benchmarks/refusal_features.py --data-dir PARL --sets ../shared/eval/dev.jsonl \
        eval/reworded.jsonl eval/unanswerable.jsonl eval/seed.jsonl eval/seed-question.jsonl \
        --data-dir MANUALS --sets eval/manuals/questions.jsonl
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from assistant.evaluation import read_questions
from assistant.settings import Settings
from vraagbaak.compose import build_assistant

OWN = ["sim", "psim", "lex"]


def observe(data_dir: Path, files: list[Path]) -> list[tuple[bool, dict[str, float]]]:
    """(answerable, signals) per question."""
    assistant = build_assistant(Settings(data_dir=data_dir))
    assistant.warm_up()
    rows = []
    for path in files:
        for record in read_questions(path):
            q = record["question"]
            r = assistant.retriever.retrieve(q, assistant.top_k)
            ev = assistant.reader.read(q, r.hits, r.vector, passage_similarity=r.top_similarity)
            dense = [h.similarity for h in assistant.index.search_dense(list(r.vector), 40, None)] or [0.0]
            kw = assistant.index.search_keyword(q, 40, None)
            ks = [h.score for h in kw] or [0.0]
            top = r.hits[0].passage_id if r.hits else None
            d_ids = [h.passage_id for h in assistant.index.search_dense(list(r.vector), 3, None)]
            k_ids = [h.passage_id for h in kw[:3]]
            second = ks[1] if len(ks) > 1 else 0.0
            rows.append((record.get("answerable", True) is not False, {
                "sim": ev.similarity, "psim": ev.passage_similarity, "lex": ev.lexical,
                "dense best-mean": dense[0] - statistics.mean(dense),
                "dense best-second": dense[0] - (dense[1] if len(dense) > 1 else dense[0]),
                "dense best-tenth": dense[0] - (dense[9] if len(dense) > 9 else dense[-1]),
                "bm25 peak": min(3.0, ks[0] / second) if second > 0 else 1.0,
                "bm25 margin": (ks[0] - statistics.mean(ks)) / (statistics.mean(ks) or 1.0),
                "dense ranks it 1st": float(bool(d_ids) and d_ids[0] == top),
                "bm25 ranks it 1st": float(bool(k_ids) and k_ids[0] == top),
                "bm25 ranks it top 3": float(top in k_ids),
                "known words": assistant.index.known_share(q),
            }))
    assistant.index.close()
    return rows


def auc(pos: list[float], neg: list[float]) -> float:
    """Probability that an answerable question scores above an unanswerable one (ties half)."""
    return statistics.mean(1.0 if x > y else 0.5 if x == y else 0.0 for x in pos for y in neg)


def score(f: dict[str, float]) -> float:
    """The refusal's own combined score (RefusalPolicy.score with e5-small's word weight)."""
    return f["sim"] + f["psim"] + 0.15 * f["lex"]


def cv_auc(rows: list[tuple[bool, dict[str, float]]], names: list[str]) -> float:
    x = np.array([[f[n] for n in names] for _, f in rows])
    y = np.array([a for a, _ in rows])
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    p = cross_val_predict(LogisticRegression(C=10, max_iter=5000), x, y, cv=10, method="predict_proba")[:, 1]
    return auc(list(p[y]), list(p[~y]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, action="append", required=True)
    parser.add_argument("--sets", type=Path, nargs="+", action="append", required=True)
    args = parser.parse_args()
    for data_dir, files in zip(args.data_dir, args.sets, strict=True):
        rows = observe(data_dir, files)
        yes = [f for a, f in rows if a]
        no = [f for a, f in rows if not a]
        print(f"\n{data_dir.name}: {len(yes)} answerable, {len(no)} unanswerable")
        for name in rows[0][1]:
            print(f"  {name:20s} AUC {auc([f[name] for f in yes], [f[name] for f in no]):.3f}   "
                  f"mean {statistics.mean(f[name] for f in yes):.3f} vs {statistics.mean(f[name] for f in no):.3f}")
        own = auc([score(f) for f in yes], [score(f) for f in no])
        print(f"  refusal's score (sim + psim + 0.15 lex) AUC {own:.3f}")
        print(f"  logistic regression, 10-fold CV AUC: own three {cv_auc(rows, OWN):.3f}, "
              f"with every candidate {cv_auc(rows, list(rows[0][1])):.3f}")


if __name__ == "__main__":
    main()
