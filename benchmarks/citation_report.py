"""Citation and quote figures from a `vraagbaak eval --out` results file.

Prints, over all citations in the file: the share `verified`, the share unverified but visibly
flagged in the answer (⚠), and the share exact (the source file's loaded text at [start, end)
equals the cited text). Over the extractive answers' quotes: the share that are whole sentences
of their passage (a `sentence` segment of the passage's text, never a heading, row, question or
fragment) and appear verbatim (whitespace squashed) in the answer; and the answered answers whose
sentences carry no content word (must be 0).

    python benchmarks/citation_report.py results.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.sentences import lines_are_blocks, segment
from ingest.loaders import LoadedDocument, load
from values.text import Tokenizer

FLAG = "⚠"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+")
    args = parser.parse_args()
    tokenize = Tokenizer()
    documents: dict[str, LoadedDocument] = {}
    total = verified = flagged = exact = answers = quotes = whole = contentless = 0
    for path in args.results:
        for line in path.read_text(encoding="utf-8").splitlines():
            result = json.loads(line)
            answers += 1
            if result["answered"] and not tokenize(result["answer"].replace(FLAG, "")):
                contentless += 1
            for citation in result["citations"]:
                total += 1
                verified += bool(citation.get("verified"))
                flagged += not citation.get("verified") and FLAG in result["answer"]
                source = citation["source"]
                if source not in documents:
                    documents[source] = load(Path(source))
                text = documents[source].text
                exact += text[citation["start"]:citation["end"]] == citation["text"]
                if result["backend"] != "extractive":
                    continue
                spans = {(citation["start"] + s.start, citation["start"] + s.end): s.words
                         for s in segment(citation["text"], lines_are_blocks(documents[source].doc_type))
                         if s.is_sentence}
                for q in citation.get("quotes", []):
                    quotes += 1
                    words = spans.get((q["start"], q["end"]))
                    whole += words is not None and words in result["answer"]
    print(f"{answers} answers, {total} citations, {quotes} quoted sentences")
    if total:
        print(f"verified {verified / total:.3f}, unverified but flagged {flagged / total:.3f}, "
              f"verified or flagged {(verified + flagged) / total:.3f}, exact {exact / total:.3f}")
    if quotes:
        print(f"quotes that are whole sentences of their passage, verbatim in the answer: {whole / quotes:.3f}")
    print(f"answered without a content word: {contentless}")


if __name__ == "__main__":
    main()
