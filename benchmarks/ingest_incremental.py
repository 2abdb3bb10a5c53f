"""Incremental ingest figures on a copy of a corpus.

    python benchmarks/ingest_incremental.py DATA_DIR [--corpus ../shared/corpus] [--glob '*.txt']
        [--limit N] [--embedder NAME] [--changed 10] [--json]

DATA_DIR must be new or empty: it receives the index and a fresh embedding cache (a warm cache
would make the full ingest look cheaper than embedding). The corpus is copied to a temp folder
first and only the copy is edited. Figures (targets from the incremental-ingest issue):

* full ingest vs raw embedding of the same passage texts, same embedder and batch size (≤ 1.2×)
* no-op re-ingest by a freshly opened index, as a new `vraagbaak ingest` would (≤ 3 s for 3,001 docs)
* re-ingest after changing N files (their first line, so every passage's embedded text changes)
  vs raw embedding of just those files' passages (≤ 3 s + that embedding time)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.assistant import Assistant  # noqa: E402
from assistant.embeddings import make_embedder  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from ingest.walk import collect  # noqa: E402
from vraagbaak.compose import build_assistant  # noqa: E402

CACHE_BATCH = 256  # CacheBackedEmbeddings hands the embedder at most this many texts at once


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def copy_corpus(corpus: Path, pattern: str, limit: int | None, into: Path) -> list[Path]:
    files, _ = collect([corpus])
    files = [f for f in files if f.match(pattern)]  # the corpus's README.md files are not documents
    files = files[:limit] if limit else files
    copies = []
    for path in files:
        target = into / path.relative_to(corpus.resolve())
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copies.append(target)
    return copies


def dense_texts(a: Assistant, sources: list[str] | None = None) -> list[str]:
    """What the ingest sent to the embedder: the embed text of every dense passage."""
    wanted = sources if sources is not None else sorted(a.documents())
    return [row.passage.embed_text for s in wanted for row in a.index.passages_of(s) if row.dense]


def raw_embed_seconds(settings: Settings, texts: list[str]) -> float:
    embedder = make_embedder(settings.embedder, settings.embed_batch_size, settings.embed_threads)
    embedder.embed_documents(["warm-up"])  # model loading is not embedding time
    started = time.perf_counter()
    for at in range(0, len(texts), CACHE_BATCH):
        embedder.embed_documents(texts[at:at + CACHE_BATCH])
    return time.perf_counter() - started


def change(paths: list[Path]) -> None:
    """Edit the first line: it is the title, part of every passage's embedded context."""
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        path.write_text("Herzien: " + text, encoding="utf-8", errors="surrogateescape")


def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = args.data_dir.resolve()
    if data_dir.exists() and any(data_dir.iterdir()):
        raise SystemExit(f"{data_dir} is not empty: give a new or empty data dir")
    values: dict[str, Any] = {"data_dir": data_dir, "embedding_cache_dir": data_dir / "embedding-cache"}
    if args.embedder:
        values["embedder"] = args.embedder
    settings = Settings(**values)
    work = Path(tempfile.mkdtemp(prefix="vraagbaak-bench-"))
    try:
        folder = work / "corpus"
        files = copy_corpus(args.corpus, args.glob, args.limit, folder)
        log(f"{len(files)} documents copied to {folder}; embedder {settings.embedder}")

        a = build_assistant(settings)
        a.retriever.embedder.embed_query("warm-up")
        full = a.ingest([folder])
        texts = dense_texts(a)
        assert len(texts) == full.embedded, (len(texts), full.embedded)
        log(f"full ingest {full.seconds:.1f} s ({full.embedded} passages embedded); raw embedding…")
        raw = raw_embed_seconds(settings, texts)
        a.index.close()

        again = build_assistant(settings)  # as a new `vraagbaak ingest` process opens it
        noop = again.ingest([folder])
        assert noop.unchanged == len(files) - len(full.failed) and noop.embedded == 0
        log(f"no-op re-ingest {noop.seconds:.2f} s")

        step = max(1, len(files) // args.changed)
        changed = [f for f in files[::step] if str(f) in again.index.documents()][:args.changed]
        change(changed)
        redo = again.ingest([folder])
        assert redo.updated == len(changed), redo
        their = dense_texts(again, [str(f) for f in changed])
        embed_changed = raw_embed_seconds(settings, their)
        again.index.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "documents": len(files), "failed": len(full.failed), "passages": full.passages,
        "embedded": full.embedded, "embedder": settings.embedder, "batch_size": settings.embed_batch_size,
        "full_ingest_s": full.seconds, "raw_embed_s": round(raw, 3),
        "full_vs_raw": round(full.seconds / raw, 3) if raw else None,
        "noop_s": noop.seconds,
        "changed_files": len(changed), "changed_passages": len(their), "changed_ingest_s": redo.seconds,
        "changed_raw_embed_s": round(embed_changed, 3),
        "changed_overhead_s": round(redo.seconds - embed_changed, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="new or empty folder for the index and its cache")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--glob", default="*.txt", help="which corpus files are documents")
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    parser.add_argument("--embedder", default=None,
                        help="e.g. sentence-transformers:<path> (default: from settings)")
    parser.add_argument("--changed", type=int, default=10, help="files to change for the update figure")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return
    print(f"documents {result['documents']} ({result['failed']} failed), passages {result['passages']}, "
          f"embedded {result['embedded']} with {result['embedder']} (batch {result['batch_size']})")
    print(f"full ingest      {result['full_ingest_s']:8.2f} s   raw embedding "
          f"{result['raw_embed_s']:8.2f} s   ratio {result['full_vs_raw']}  (target ≤ 1.2)")
    print(f"no-op re-ingest  {result['noop_s']:8.2f} s   (target ≤ 3 s for 3,001 documents)")
    print(f"{result['changed_files']} files changed {result['changed_ingest_s']:8.2f} s   raw embedding of "
          f"their {result['changed_passages']} passages {result['changed_raw_embed_s']:.2f} s   "
          f"overhead {result['changed_overhead_s']:.2f} s  (target ≤ 3 s)")


if __name__ == "__main__":
    main()
