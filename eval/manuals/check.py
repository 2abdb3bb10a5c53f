"""Check eval/manuals/questions.jsonl against the documents as vraagbaak loads them.

Run from the repository root: ``.venv/bin/python eval/manuals/check.py``. Exits non-zero on any error.

Checks: every file in docs/ loads and has a unique stem; ids are unique; every answerable record's
gold_passage == load(gold_path).text[gold_start:gold_end], gold_doc is the stem of gold_path, the
passage occurs once in its document, and no document has more than 3 questions; no unanswerable
record's absent_terms occur in any document (case- and accent-insensitive). Prints counts.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ingest.loaders import load  # noqa: E402

HERE = Path(__file__).resolve().parent
DOCS = HERE / "docs"
QUESTIONS = HERE / "questions.jsonl"
ANSWERABLE_FIELDS = ("id", "question", "lang", "style", "answerable", "gold_doc", "gold_path", "gold_start",
                     "gold_end", "gold_passage", "gold_answer")
UNANSWERABLE_FIELDS = ("id", "question", "lang", "style", "answerable", "note")


def fold(text: str) -> str:
    """Casefold and drop accents, so 'Geïnstalleerd' matches 'geinstalleerd'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def doc_lang(stem: str) -> str:
    return "nl" if "-nl" in stem else "en"


def main() -> int:
    errors: list[str] = []
    files = sorted(p for p in DOCS.iterdir() if p.is_file())
    stems = Counter(p.stem for p in files)
    errors += [f"duplicate stem {s!r} ({n} files)" for s, n in stems.items() if n > 1]
    texts: dict[str, str] = {}
    for p in files:
        try:
            texts[f"eval/manuals/docs/{p.name}"] = load(p).text
        except Exception as e:  # noqa: BLE001 - report every broken document
            errors.append(f"{p.name}: does not load: {e}")
    folded = {path: fold(text) for path, text in texts.items()}

    records = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = Counter(r.get("id") for r in records)
    errors += [f"duplicate id {i!r}" for i, n in ids.items() if n > 1]
    per_doc: Counter[str] = Counter()
    for r in records:
        rid = r.get("id", "?")
        if r.get("answerable"):
            missing = [f for f in ANSWERABLE_FIELDS if f not in r]
            if missing:
                errors.append(f"{rid}: missing fields {missing}")
                continue
            text = texts.get(r["gold_path"])
            if text is None:
                errors.append(f"{rid}: gold_path {r['gold_path']!r} is not a document in docs/")
                continue
            if Path(r["gold_path"]).stem != r["gold_doc"]:
                errors.append(f"{rid}: gold_doc {r['gold_doc']!r} is not the stem of {r['gold_path']!r}")
            if text[r["gold_start"]:r["gold_end"]] != r["gold_passage"]:
                errors.append(f"{rid}: gold_passage != text[{r['gold_start']}:{r['gold_end']}]")
            if text.count(r["gold_passage"]) != 1:
                errors.append(f"{rid}: gold_passage occurs {text.count(r['gold_passage'])} times")
            if not 40 <= len(r["gold_passage"]) <= 800:
                errors.append(f"{rid}: gold_passage has {len(r['gold_passage'])} chars (want 40-800)")
            per_doc[r["gold_doc"]] += 1
        else:
            missing = [f for f in UNANSWERABLE_FIELDS if f not in r]
            if missing:
                errors.append(f"{rid}: missing fields {missing}")
            for term in r.get("absent_terms", []):
                hits = [Path(p).name for p, t in folded.items() if fold(term) in t]
                if hits:
                    errors.append(f"{rid}: absent term {term!r} occurs in {hits}")
    errors += [f"{d}: {n} questions (max 3)" for d, n in per_doc.items() if n > 3]

    answerable = [r for r in records if r.get("answerable")]
    unanswerable = [r for r in records if not r.get("answerable")]
    print(f"documents: {len(files)}")
    for (kind, lang), n in sorted(Counter((p.suffix.lstrip('.'), doc_lang(p.stem)) for p in files).items()):
        print(f"  {kind:5} {lang}: {n}")
    print(f"  total loaded text: {sum(len(t) for t in texts.values())} chars")
    print(f"records: {len(records)} (answerable {len(answerable)}, unanswerable {len(unanswerable)})")
    for label, group in (("answerable", answerable), ("unanswerable", unanswerable)):
        print(f"  {label} by style: " + ", ".join(f"{s} {n}" for s, n in sorted(Counter(r['style'] for r in group).items())))
        print(f"  {label} by lang: " + ", ".join(f"{s} {n}" for s, n in sorted(Counter(r['lang'] for r in group).items())))
    print("  unanswerable by kind: " + ", ".join(f"{s} {n}" for s, n in sorted(Counter(r.get('kind', '?') for r in unanswerable).items())))
    print(f"  documents with questions: {len(per_doc)} of {len(files)}; "
          f"answerable on nl docs {sum(n for d, n in per_doc.items() if doc_lang(d) == 'nl')}, "
          f"on en docs {sum(n for d, n in per_doc.items() if doc_lang(d) == 'en')}")
    unused = sorted(p.stem for p in files if p.stem not in per_doc)
    if unused:
        print(f"  documents without a question: {unused}")
    if errors:
        print(f"\n{len(errors)} error(s):")
        for e in errors:
            print(f"  {e}")
        return 1
    print("\nOK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
