"""The passage: the unit that ingest writes, retrieval returns and a citation points at."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Passage:
    """A verbatim span ``text == loaded_text[start:end]`` of one source document.

    ``context`` is extra text (document title, the paired sub-question) that is embedded and
    keyword-indexed together with the passage, but never shown as the passage itself.
    """

    source: str
    start: int
    end: int
    text: str
    page: int | None = None
    section: str | None = None
    item: str | None = None
    kind: str = "text"
    context: str = ""
    title: str = ""
    doc_type: str = ""
    extra: dict[str, str | int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def passage_id(self) -> str:
        """Stable id: the same source, span and text always give the same id."""
        raw = f"{self.source}\x00{self.start}\x00{self.end}\x00{self.context}\x00{self.text}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]

    @property
    def place(self) -> str | None:
        """The part and item as one label ("ANTWOORD 2", "Installatie", "3"), or None: the JSON ``section``."""
        if self.item and self.section:
            return f"{self.section} {self.item}"
        return self.section or self.item

    @property
    def embed_text(self) -> str:
        """What the embedder and the keyword index see: context first, then the passage."""
        return f"{self.context}\n{self.text}" if self.context else self.text
