"""Ingest as a job on Ray: the files of a run are loaded, split and embedded by Ray Data actors.

Only the computing moves. The run itself (the walk, the hashes, the writer lock, the commits in
the index's crash-safe order, the report) stays in the process that asked, which receives each
file's passages with their vectors, in order, and writes them as the in-process ingest does. The
actors run the same ``ingest.pipeline.prepare`` (a bad file fails alone, in the same words) and
the embedder class the settings name, built once per actor by the factory the composition root
hands over: this module never imports ``assistant/``.

On a cluster the workers read the files themselves, so every node must see them at the path the
ingest names (a shared or mounted folder), and run the same vraagbaak and embedder versions.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from ingest.chunking import Chunker, ChunkingConfig
from ingest.pipeline import Outcome, Prepared, prepare
from values.errors import ConfigError, VraagbaakError

_FILES_PER_BATCH = 4  # files one actor call takes: enough passages to batch the embedder, small enough to spread


def import_ray() -> Any:
    """The ``ray`` module, or ConfigError saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise ConfigError(f"ray_address is set but Ray is not installed ({e.msg}): "
                          "pip install 'vraagbaak[ray]'") from e
    return ray


class RayJob:
    """Loads, splits and embeds a run's files on a Ray cluster (``ingest.pipeline.PrepareJob``).

    ``address`` is as in settings: 'auto' (the running cluster, else a local one) or a cluster's
    address. A process that already joined a cluster (``ray.init`` done) keeps using it.
    ``workers`` actors (default: one per CPU, or per GPU with ``gpus_per_worker``) each hold one
    embedder from ``make_embedder``, which must pickle (a module-level function or partial).
    """

    def __init__(self, address: str, make_embedder: Callable[[], Embeddings], *, workers: int | None = None,
                 gpus_per_worker: float = 0.0) -> None:
        self.ray = import_ray()  # at build time: a missing extra fails before any file is read
        self.address = address
        self.make_embedder = make_embedder
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker

    def prepare(self, todo: Sequence[tuple[Path, bool]], config: ChunkingConfig,
                keyword_only: frozenset[str]) -> Iterator[Outcome]:
        """Each file's outcome in ``todo``'s order, streamed as the actors finish them."""
        ray = self.ray
        self._connect()
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # the report lists failures in walk order
        context.enable_progress_bars = False  # the CLI draws its own, from the outcomes received
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        items = [{"path": str(path), "existed": existed} for path, existed in todo]
        dataset = ray.data.from_items(items).map_batches(
            _PrepareActor, fn_constructor_args=(config, keyword_only, self.make_embedder),
            batch_size=_FILES_PER_BATCH, compute=ray.data.ActorPoolStrategy(size=self._size(len(todo))),
            num_cpus=1, num_gpus=self.gpus_per_worker or None)
        for row in dataset.iter_rows():
            outcome = pickle.loads(row["outcome"])
            if isinstance(outcome, _Raised):  # the run stops as it would in process
                raise outcome.error
            yield outcome

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        try:
            ray.init(address=None if self.address == "auto" else self.address, logging_level=logging.WARNING,
                     log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise ConfigError(f"cannot join the Ray cluster at ray_address {self.address!r}: {e}") from e

    def _size(self, files: int) -> int:
        """How many actors: as configured, else one per CPU (GPU); never more than there are batches."""
        if self.workers is not None:
            wanted = self.workers
        else:
            resources = self.ray.cluster_resources()
            per = resources.get("GPU", 0) / self.gpus_per_worker if self.gpus_per_worker else resources.get("CPU", 1)
            wanted = int(per)
        return max(1, min(wanted, -(-files // _FILES_PER_BATCH)))


@dataclass(frozen=True)
class _Raised:
    """Our own error in an actor (an embedder that cannot load), sent back as a value: Ray's wrapper drops it."""

    error: VraagbaakError


class _PrepareActor:
    """One Ray actor: loads and splits a few files, embeds their passages with its own embedder."""

    def __init__(self, config: ChunkingConfig, keyword_only: frozenset[str],
                 make_embedder: Callable[[], Embeddings]) -> None:
        self.chunker = Chunker(config)
        self.keyword_only = keyword_only
        self.embedder: Embeddings | None = None
        self.error: VraagbaakError | None = None
        try:
            self.embedder = make_embedder()
        except VraagbaakError as e:
            self.error = e

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[bytes]]:
        """Outcomes of a batch of files, each pickled (Arrow holds them as bytes)."""
        outcomes: list[Outcome | _Raised]
        try:
            outcomes = list(self._outcomes(batch))
        except VraagbaakError as e:
            outcomes = [_Raised(e)] * len(batch["path"])
        return {"outcome": [pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL) for o in outcomes]}

    def _outcomes(self, batch: dict[str, Any]) -> list[Outcome]:
        if self.embedder is None:
            raise self.error or ConfigError("the embedder of this Ray worker was not built")
        outcomes = [prepare(Path(str(p)), bool(e), self.chunker) for p, e in zip(batch["path"], batch["existed"],
                                                                               strict=True)]
        dense = [p for o in outcomes if isinstance(o, Prepared) for p in o.passages if p.kind not in self.keyword_only]
        vectors = self.embedder.embed_documents([p.embed_text for p in dense]) if dense else []
        by_id = {p.passage_id: [float(x) for x in v] for p, v in zip(dense, vectors, strict=True)}
        return [replace(o, vectors={p.passage_id: by_id[p.passage_id] for p in o.passages
                                    if p.kind not in self.keyword_only}) if isinstance(o, Prepared) else o
                for o in outcomes]
