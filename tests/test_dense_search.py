"""The dense leg's approximate search finds (nearly) the exact top passages, the same in every process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import chromadb
import numpy as np
import pytest

from tests.fakes import FakeEmbedder
from vectorstore.chroma import SEARCH_EF, DenseStore

N, DIM, K, QUERIES = 3000, 64, 40, 12


def vectors(seed: int, n: int) -> np.ndarray:
    """Unit vectors around a few shared directions: near ties at the edge of a top 40, as real passages have."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, DIM))
    v = centres[rng.integers(0, 8, n)] + 0.9 * rng.normal(size=(n, DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def store(path: Path) -> DenseStore:
    return DenseStore(lambda: chromadb.PersistentClient(path=str(path)), "vraagbaak", FakeEmbedder(), "fake", DIM,
                      embedded=True)


SEARCH = r"""
import json, sys
import numpy as np
from tests.test_dense_search import QUERIES, K, store, vectors
from pathlib import Path
dense = store(Path(sys.argv[1]))
print(json.dumps([[h.passage_id for h in dense.search(q.tolist(), K)] for q in vectors(1, QUERIES)]))
"""


@pytest.mark.slow
def test_the_top_40_is_nearly_the_exact_one_and_the_same_in_every_process(tmp_path: Path) -> None:
    data = vectors(0, N)
    dense = store(tmp_path)
    ids = [f"p{i}" for i in range(N)]
    for at in range(0, N, 500):  # as an ingest writes: batch by batch
        dense.add_vectors(ids[at:at + 500], ids[at:at + 500], data[at:at + 500].tolist(),
                          [{"source": f"/d/{i % 50}.txt"} for i in range(at, min(at + 500, N))])
    dense.close()
    exact = [[ids[i] for i in np.argsort(-(data @ q))[:K]] for q in vectors(1, QUERIES)]
    runs = []
    for _ in range(3):  # each process opens the index anew, as a restart or another replica does
        done = subprocess.run([sys.executable, "-c", SEARCH, str(tmp_path)], capture_output=True, text=True,
                              timeout=300, cwd=Path(__file__).parents[1], check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    recall = [len(set(f) & set(e)) / K for f, e in zip(runs[0], exact, strict=True)]
    assert sum(recall) / QUERIES >= 0.95  # Chroma's default ef_search (100): 0.86 on these vectors
    assert runs[1] == runs[0] and runs[2] == runs[0]


def test_an_index_made_before_is_searched_as_deep_as_a_new_one(tmp_path: Path) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path))
    client.create_collection("vraagbaak", metadata={"hnsw:space": "cosine", "embedder": "fake", "dimension": DIM})
    assert client.get_collection("vraagbaak").configuration["hnsw"]["ef_search"] < SEARCH_EF  # Chroma's default
    del client
    dense = store(tmp_path)
    assert dense._collection.configuration["hnsw"]["ef_search"] == SEARCH_EF
    dense.close()
    fresh = store(tmp_path / "new")
    assert fresh._collection.configuration["hnsw"]["ef_search"] == SEARCH_EF
    fresh.close()
