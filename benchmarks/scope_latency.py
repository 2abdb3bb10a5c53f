"""What scoping a question costs: ask latency unscoped vs scoped by year, type and a document list.

Runs on an existing index (``VRAAGBAAK_DATA_DIR``); the scopes are built from what that index
holds. Every scope is asked the same questions, interleaved round by round so that machine load
hits all of them alike, and the ratios are against the unscoped run of the same rounds.
Also checks that every passage a scoped question retrieves is in its scope.

    VRAAGBAAK_DATA_DIR=/path/to/full-index python benchmarks/scope_latency.py --asks 60
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from assistant.evaluation import read_questions
from assistant.scope import Scope, years_and_types
from assistant.settings import Settings
from vraagbaak.compose import build_assistant


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=Path("../shared/eval/dev.jsonl"))
    parser.add_argument("--asks", type=int, default=60)
    parser.add_argument("--subset", type=int, default=300, help="documents in the document-list scope")
    args = parser.parse_args()
    assistant = build_assistant(Settings())
    documents = assistant.index.documents()
    years, types = years_and_types(documents.values())
    sources = sorted(documents)
    scopes: dict[str, Scope | None] = {"unscoped": None}
    if years:
        scopes[f"year {years[0]}"] = Scope.of(years=[years[0]])
    scopes[f"type {types[0]}"] = Scope.of(types=[types[0]])
    scopes[f"{args.subset} documents"] = Scope.of(paths=sources[:: max(1, len(sources) // args.subset)][: args.subset])
    for name, scope in scopes.items():
        chosen = scope.select(documents) if scope else None
        print(f"{name:>16}: {len(chosen) if chosen is not None else len(documents):,} of {len(documents):,} documents")
    questions = [r["question"] for r in read_questions(args.questions)][: args.asks]
    assistant.warm_up()
    seconds: dict[str, list[float]] = {name: [] for name in scopes}
    outside = dict.fromkeys(scopes, 0)
    for question in questions:
        for name, scope in scopes.items():
            started = time.perf_counter()
            answer = assistant.ask(question, scope=scope)
            seconds[name].append(time.perf_counter() - started)
            if scope is not None:
                outside[name] += sum(not scope.matches(documents[h.passage.source]) for h in answer.retrieved)
    base50, base95 = statistics.median(seconds["unscoped"]), percentile(seconds["unscoped"], 0.95)
    print(f"\nask latency over {len(questions)} questions per scope (ratio to unscoped, same rounds)")
    for name, values in seconds.items():
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        print(f"{name:>16}: p50 {1000 * p50:6.0f} ms ({p50 / base50:4.2f}x)  p95 {1000 * p95:6.0f} ms "
              f"({p95 / base95:4.2f}x)  passages outside the scope: {outside[name]}")


if __name__ == "__main__":
    main()
