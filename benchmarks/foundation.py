"""Foundation figures: ingest throughput (passages/s) and `ask` latency on a document folder.

Ingests FOLDER into a fresh data dir with a fresh embedding cache (so every passage is really
embedded), then asks the dev questions whose gold documents are in the folder (or any given
question file) and prints throughput and latency percentiles.

    python benchmarks/foundation.py samples --questions ../shared/eval/dev.jsonl
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from assistant.evaluation import read_questions
from assistant.settings import Settings
from vraagbaak.compose import build_assistant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--questions", type=Path, default=Path("../shared/eval/dev.jsonl"))
    parser.add_argument("--embedder", default="e5-small")
    parser.add_argument("--asks", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "index", embedder=args.embedder)
        assistant = build_assistant(settings)
        started = time.perf_counter()
        report = assistant.ingest([args.folder])
        seconds = time.perf_counter() - started
        print(f"ingest {args.folder}: {report.added} documents, {report.passages} passages "
              f"({report.embedded} embedded) in {seconds:.1f} s")
        print(f"  throughput: {report.passages / seconds:.2f} passages/s, "
              f"{report.embedded / seconds:.2f} embedded passages/s")
        questions = [r["question"] for r in read_questions(args.questions)][: args.asks]
        assistant.warm_up()
        latencies = []
        for question in questions:
            t = time.perf_counter()
            assistant.ask(question)
            latencies.append(time.perf_counter() - t)
        latencies.sort()
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        print(f"ask latency over {len(latencies)} questions: p50 {1000 * statistics.median(latencies):.0f} ms, "
              f"p95 {1000 * p95:.0f} ms")


if __name__ == "__main__":
    main()
