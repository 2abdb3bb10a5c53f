"""What an ingest run did: the ``ingest --json`` object, and the progress callback it reports to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

Progress = Callable[[int, int, str], None]


@dataclass
class IngestReport:
    """What one run did; ``failed`` lists ``{source, reason}``."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    renamed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    passages: int = 0
    embedded: int = 0
    seconds: float = 0.0
    stale: list[str] = field(default_factory=list)  # indexed, gone from disk, kept: run with sync to drop

    def to_json(self) -> dict[str, object]:
        """The ``ingest --json`` object."""
        return asdict(self)

    def plus(self, other: IngestReport) -> IngestReport:
        """Two runs as one report (the passage count is the later run's)."""
        return IngestReport(
            self.added + other.added, self.updated + other.updated, self.unchanged + other.unchanged,
            self.removed + other.removed, self.renamed + other.renamed, [*self.failed, *other.failed],
            other.passages, self.embedded + other.embedded, round(self.seconds + other.seconds, 3),
            sorted({*self.stale, *other.stale}))
