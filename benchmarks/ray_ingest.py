"""Ray ingest against the in-process ingest of the same documents, in one run (issue 12).

    python benchmarks/ray_ingest.py [--corpus ../shared/corpus/bekamer-2017] [--limit 60]
        [--embedder e5-small] [--cpus 2] [--json]

The first ``--limit`` files (sorted) are copied to a temp folder. A local Ray of ``--cpus`` CPUs
is started once (the "existing cluster": its start-up is printed, not counted). Then each
configuration ingests the copy into a fresh data dir with a fresh embedding cache, each as its
own `vraagbaak ingest` process (a process's OpenMP thread count is fixed by its first model):

* in process, 1 embedder thread      vs  Ray, 1 worker (one actor of 1 CPU)
* in process, --cpus threads         vs  Ray, --cpus workers

The time is the run's own (the report's ``seconds``: walk, load, split, embed, commit; for Ray
also joining the cluster and starting the actors, which load their model). Overhead at equal
cores = Ray seconds / in-process seconds with as many cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "vraagbaak.cli"]


def ingest(folder: Path, work: Path, name: str, embedder: str, extra_env: dict[str, str],
           args: list[str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VRAAGBAAK_", "OMP_"))}
    env.update({"VRAAGBAAK_EMBEDDER": embedder, "VRAAGBAAK_DATA_DIR": str(work / name),
                "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(work / f"{name}-cache"), "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                **extra_env})
    started = time.perf_counter()
    done = subprocess.run([*CLI, "ingest", str(folder), "--json", *args], env=env, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    return {"name": name, "seconds": report["seconds"], "wall": round(wall, 2), "files": report["added"],
            "passages": report["passages"], "embedded": report["embedded"],
            "passages_per_s": round(report["passages"] / report["seconds"], 1),
            "embedded_per_s": round(report["embedded"] / report["seconds"], 1)}


def load_and_split(folder: Path) -> float:
    """Seconds to load and split every file here once, without embedding (the work beside the embedder)."""
    sys.path.insert(0, str(ROOT))
    from assistant.settings import Settings
    from ingest.chunking import Chunker, ChunkingConfig
    from ingest.pipeline import prepare

    settings = Settings()
    chunker = Chunker(ChunkingConfig(settings.chunk_size, settings.chunk_overlap, settings.structure))
    started = time.perf_counter()
    for path in sorted(folder.iterdir()):
        prepare(path, False, chunker)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "bekamer-2017")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--embedder", default="e5-small")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import ray

    load_before = os.getloadavg()[0]
    files = sorted(p for p in args.corpus.iterdir() if p.suffix == ".txt" and p.name != "README.md")[:args.limit]
    with tempfile.TemporaryDirectory(prefix="ray-ingest-") as tmp:
        work = Path(tmp)
        folder = work / "docs"
        folder.mkdir()
        for path in files:
            shutil.copy(path, folder)
        split_s = load_and_split(folder)
        started = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        cluster_start = time.perf_counter() - started
        address = ray.get_runtime_context().gcs_address
        try:
            on_ray = ["--ray", address]
            runs = [
                ingest(folder, work, "in-process-1-thread", args.embedder, {"VRAAGBAAK_EMBED_THREADS": "1"}, []),
                ingest(folder, work, "ray-1-worker", args.embedder, {"VRAAGBAAK_RAY_WORKERS": "1"}, on_ray),
                ingest(folder, work, f"in-process-{args.cpus}-threads", args.embedder, {}, []),
                ingest(folder, work, f"ray-{args.cpus}-workers", args.embedder,
                       {"VRAAGBAAK_RAY_WORKERS": str(args.cpus)}, on_ray),
            ]
        finally:
            ray.shutdown()
    by = {r["name"]: r for r in runs}
    full = by[f"in-process-{args.cpus}-threads"]
    for r in runs:
        r["vs_in_process"] = round(r["passages_per_s"] / full["passages_per_s"], 2)  # throughput ratio
    overhead = {"1 core": round(by["ray-1-worker"]["seconds"] / by["in-process-1-thread"]["seconds"], 2),
                f"{args.cpus} cores": round(by[f"ray-{args.cpus}-workers"]["seconds"] / full["seconds"], 2)}
    result = {"files": len(files), "embedder": args.embedder, "cpus": args.cpus, "cores": os.cpu_count(),
              "load_before": load_before, "load_after": os.getloadavg()[0],
              "cluster_start_s": round(cluster_start, 1), "load_and_split_s": round(split_s, 2), "runs": runs,
              "overhead_at_equal_cores": overhead}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{len(files)} files, {args.embedder}, local Ray of {args.cpus} CPUs (started in {cluster_start:.1f} s, "
          f"not counted); machine: {os.cpu_count()} cores, 1-min load {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")
    print(f"loading and splitting alone (one core, no embedding): {split_s:.2f} s for the {len(files)} files")
    print(f"{'run':24} {'seconds':>8} {'passages':>9} {'embedded':>9} {'passages/s':>11} {'embedded/s':>11} "
          f"{'vs in-process':>14}")
    for r in runs:
        print(f"{r['name']:24} {r['seconds']:8.1f} {r['passages']:9d} {r['embedded']:9d} {r['passages_per_s']:11.1f} "
              f"{r['embedded_per_s']:11.1f} {r['vs_in_process']:13.2f}x")
    for cores, ratio in overhead.items():
        print(f"overhead of the Ray path at {cores}: {ratio:.2f}x the in-process time (target <= 1.15x)")


if __name__ == "__main__":
    main()
