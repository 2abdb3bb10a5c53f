"""The HTTP bodies: the CLI's JSON contracts (``ask --json``, ``ingest --json``, ``status --json``) as pydantic models.

The models describe the objects the assistant already returns (``Answer.to_json`` and friends),
so that the OpenAPI schema is complete; the routes hand those objects through them unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """A request body: unknown fields and values of another type (``"k": true``) are errors that name them."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ScopeIn(Body):
    """What a question may draw on; the parts combine with AND, the values within a part with OR."""

    paths: list[str] = Field(default_factory=list, description="Indexed documents or folders (absolute paths).")
    years: list[int] = Field(default_factory=list, description="Years the documents state.")
    types: list[str] = Field(default_factory=list, description="File types: txt, md, pdf, docx, html.")


class Turn(Body):
    """An earlier turn of the conversation, for follow-up questions."""

    question: str = Field(max_length=20_000)
    answer: str = Field(max_length=100_000)


class AskIn(Body):
    """A question, optionally scoped and with the conversation so far."""

    question: str = Field(pattern=r"\S", description="The question, in any language the documents are in.")
    k: int | None = Field(None, ge=1, le=50, description="Passages to retrieve and show (default: settings' top_k).")
    scope: ScopeIn | None = None
    history: list[Turn] = Field(default_factory=list, max_length=50, description="Earlier turns, oldest first.")


class SearchIn(Body):
    """A retrieval-only query."""

    query: str = Field(pattern=r"\S", description="What to look for (a question or keywords).")
    k: int | None = Field(None, ge=1, le=50)
    scope: ScopeIn | None = None


class IngestIn(Body):
    """Files or folders on the server's disk to index (folders recursively)."""

    paths: list[str] = Field(min_length=1, max_length=1000)
    sync: bool = Field(False, description="Also drop indexed documents of these folders that are gone from disk.")
    exclude: list[str] = Field(default_factory=list, description="Glob patterns to leave out (kept with the folder).")


class RemoveIn(Body):
    """One indexed document to drop from the index (its file is left alone)."""

    source: str


class DocumentsQuery(BaseModel):
    """Which documents to list: filters and a page; an unknown parameter is an error that names it."""

    model_config = ConfigDict(extra="forbid")
    offset: int = Field(0, ge=0)
    limit: int = Field(100, ge=1, le=1000)
    folder: str | None = Field(None, description="Only documents under this folder.")
    type: str | None = Field(None, description="Only this file type (txt, md, pdf, docx, html).")
    year: int | None = Field(None, description="Only documents stating this year.")


class SourceQuery(BaseModel):
    """One indexed document, by its path."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(description="The indexed document's path (a citation's `source`).")


class Quote(BaseModel):
    """A span of the document that the answer took from a cited passage."""

    start: int
    end: int


class Retrieved(BaseModel):
    """A ranked passage: ``text == document_text[start:end]``."""

    source: str
    start: int
    end: int
    page: int | None
    section: str | None
    score: float
    text: str


class CitationOut(Retrieved):
    """Marker ``[n]`` of the answer; ``verified``: the passage supports the sentence citing it."""

    n: int
    verified: bool
    quotes: list[Quote]


class ScopeOut(BaseModel):
    """The scope a question was restricted to."""

    paths: list[str]
    years: list[int]
    types: list[str]


class AnswerOut(BaseModel):
    """The ``ask --json`` object; ``answered`` false is a refusal or a backend failure, never an answer."""

    question: str
    answer: str
    answered: bool
    citations: list[CitationOut]
    retrieved: list[Retrieved]
    query: str
    backend: str
    error: str | None
    relevance: float
    coverage: float
    index_version: int
    scope: ScopeOut | None
    seconds: float
    verified: bool
    evidence: dict[str, Any] | None
    reason: str | None


class SearchOut(BaseModel):
    """The passages retrieval ranks first for a query (no answer is written)."""

    query: str
    retrieved: list[Retrieved]
    index_version: int


class Failure(BaseModel):
    """A file an ingest could not index, and why in words."""

    source: str
    reason: str
    detail: str | None = None


class ReportOut(BaseModel):
    """The ``ingest --json`` object."""

    added: int
    updated: int
    unchanged: int
    removed: int
    renamed: int
    failed: list[Failure]
    passages: int
    embedded: int
    seconds: float
    stale: list[str]


class RemovedOut(BaseModel):
    """How many passages left the index with the document."""

    source: str
    removed_passages: int


class DocumentOut(BaseModel):
    """One indexed document as the catalog knows it."""

    source: str
    title: str
    doc_type: str
    date: str | None
    year: int | None
    passages: int
    size: int
    ingested_at: float


class DocumentsOut(BaseModel):
    """A page of the indexed documents, in path order."""

    total: int
    offset: int
    documents: list[DocumentOut]


class PassageOut(BaseModel):
    """One passage of a document, in reading order."""

    start: int
    end: int
    page: int | None
    section: str | None
    text: str


class DocumentTextOut(BaseModel):
    """A document's text as ingest loaded it: every citation's ``start:end`` slices it."""

    document: DocumentOut
    text: str
    page_starts: list[int]
    passages: list[PassageOut]


class StatusOut(BaseModel):
    """The ``status --json`` object."""

    model_config = ConfigDict(extra="allow")

    documents: int
    passages: int
    embedder: str
    reranker: str | None = None
    data_dir: str
    index_version: int
    folders: dict[str, list[str]]
    types: dict[str, int]
    years: dict[str, int]
    undated: int
    runs: list[dict[str, Any]]
    refusal: dict[str, Any]
    calibration: dict[str, Any] | None


class HealthOut(BaseModel):
    """Liveness for a load balancer: the process serves; ``ready``: it can answer (``reason`` why not)."""

    ok: bool
    ready: bool
    reason: str | None
    index_version: int


class ErrorOut(BaseModel):
    """An error the caller can act on: ``detail`` says what is wrong and names the value."""

    detail: str
