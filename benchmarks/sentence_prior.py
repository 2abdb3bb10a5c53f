"""How much the extractive answer should trust retrieval's order over a sentence's word overlap.

The evidence reader scores the sentences of the top three hits and multiplies each score by a
rank prior (``assistant.evidence._RANK_PRIOR``). This script reads every question of the given
sets once per prior, over one index, and prints for each prior: passage hit@5 and MRR@10 (the
same for every prior: a check that the runs are comparable), answered and refused rates under
the default refusal policy, and how often the first quote comes from the gold passage.

    python benchmarks/sentence_prior.py --data-dir PARL --prior 1,0.7,0.55 --prior 1,0.35,0.25 \
        ../shared/eval/dev.jsonl eval/reworded.jsonl eval/unanswerable.jsonl eval/seed.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

import assistant.evidence as evidence
from assistant.evaluation import is_hit, read_questions
from assistant.refusal import RefusalPolicy
from assistant.settings import Settings
from vraagbaak.compose import build_assistant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--prior", action="append", required=True, help="comma-separated, e.g. 1,0.7,0.55 (repeat)")
    args = parser.parse_args()
    records = [r for f in args.sets for r in read_questions(f)]
    assistant = build_assistant(Settings(data_dir=args.data_dir))
    assistant.warm_up()
    policy = RefusalPolicy()
    print(f"index {args.data_dir}: {len(records)} questions")
    try:
        for text in args.prior:
            evidence._RANK_PRIOR = tuple(float(x) for x in text.split(","))
            answerable = answered = refused = unanswerable = gold_n = top5 = first = 0
            reciprocal = 0.0
            for rec in records:
                result = assistant.retriever.retrieve(rec["question"], 10)
                hits = result.hits[:assistant.top_k]
                ev = assistant.reader.read(rec["question"], hits, result.vector,
                                           passage_similarity=result.top_similarity)
                ok = policy.decide(ev, result.cross_language).answerable
                if rec.get("answerable", True) is False:
                    unanswerable += 1
                    refused += not ok
                    continue
                answerable += 1
                answered += ok
                if "gold_doc" not in rec:
                    continue
                gold_n += 1
                rank = next((i for i, h in enumerate(result.hits) if is_hit(h.to_json(), rec)), None)
                top5 += rank is not None and rank < 5
                reciprocal += 1 / (rank + 1) if rank is not None else 0.0
                quote = hits[ev.quotes[0].rank].to_json() if ev.quotes else None
                first += bool(ok and quote is not None and is_hit(quote, rec))
            print(f"prior {text}: hit@5 {top5 / max(1, gold_n):.3f} MRR@10 {reciprocal / max(1, gold_n):.3f} "
                  f"answered {answered / max(1, answerable):.3f} ({answerable}) "
                  f"refused {refused / max(1, unanswerable):.3f} ({unanswerable}) "
                  f"first citation gold {first / max(1, gold_n):.3f}", flush=True)
    finally:
        assistant.index.close()


if __name__ == "__main__":
    main()
