"""What a reader pays for the keyword index on its first question after an ingest.

Copies an index's catalog and keyword file to a temp dir, then times a fresh reader's refresh
(what the first question after another process's ingest waits for) when the saved file holds
the built BM25 (now) and when it holds only the tokens (before: every reader built BM25 itself),
alternating, same run. Also times the writer's one BM25 build that the saved index now includes.

    python benchmarks/keyword_refresh.py /path/to/full-index --rounds 5
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from values.text import Tokenizer
from vectorstore import keyword
from vectorstore.keyword import KeywordIndex
from vectorstore.sqlite_catalog import SqliteCatalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(args.data_dir / "catalog.sqlite3", work / "catalog.sqlite3")
        catalog = SqliteCatalog(work / "catalog.sqlite3")
        KeywordIndex(work / "keyword", catalog, Tokenizer()).refresh()  # in step with this catalog, BM25 saved
        saved_file = work / "keyword" / "keyword.pkl"
        with_bm25 = saved_file.read_bytes()
        saved = pickle.loads(with_bm25)
        tokens_only = pickle.dumps({k: v for k, v in saved.items() if k != "bm25"})
        timings: dict[str, list[float]] = {"saved BM25 (now)": [], "tokens only (before)": []}
        for _ in range(args.rounds):
            for name, data in (("saved BM25 (now)", with_bm25), ("tokens only (before)", tokens_only)):
                saved_file.write_bytes(data)
                reader = KeywordIndex(work / "keyword", catalog, Tokenizer())
                started = time.perf_counter()
                reader.refresh()
                timings[name].append(time.perf_counter() - started)
        started = time.perf_counter()
        keyword._build(saved["tokens"])
        build = time.perf_counter() - started
        print(f"{len(saved['ids']):,} passages; {args.rounds} fresh readers each")
        base = statistics.median(timings["tokens only (before)"])
        for name, values in timings.items():
            print(f"  first-question refresh, {name:22}: median {statistics.median(values):.2f} s "
                  f"({statistics.median(values) / base:.2f}x)")
        print(f"  the writer's BM25 build, paid once per changing ingest: {build:.2f} s")
        catalog.close()


if __name__ == "__main__":
    main()
