"""The HTTP API under ``/api/v1``: ask (or stream), search, documents, ingest, sync, remove, status.

Every body is a CLI JSON contract (``api.schemas``). The assistant's work is blocking and heavy
(embedding, an LLM), so it runs in worker threads, at most ``limit`` at a time: more callers wait
their turn instead of crowding two cores.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse

from api.access import Access
from api.schemas import (
    AnswerOut,
    AskIn,
    DocumentsOut,
    DocumentsQuery,
    DocumentTextOut,
    ErrorOut,
    HealthOut,
    IngestIn,
    PassageOut,
    RemovedOut,
    RemoveIn,
    ReportOut,
    ScopeIn,
    SearchIn,
    SearchOut,
    SourceQuery,
    StatusOut,
)
from assistant.assistant import Assistant, Token
from assistant.scope import Scope
from values.document import DocumentRecord
from values.errors import IngestError, QuestionError, StoreError

T = TypeVar("T")
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The question, scope or path cannot be used; `detail` says why."},
    401: {"model": ErrorOut, "description": "No API key, or an unknown one."},
    503: {"model": ErrorOut, "description": "The index cannot be read now."},
}
ADMIN_ERRORS = {**ERRORS, 403: {"model": ErrorOut, "description": "The key may not change the index."}}


def sse(event: str, data: object) -> bytes:
    """One server-sent event carrying ``data`` as JSON."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def scope_of(scope: ScopeIn | None) -> Scope | None:
    """The assistant's Scope for a body's; HTTP 400 naming a bad year or type."""
    if scope is None:
        return None
    try:
        return Scope.of(scope.paths, scope.years, scope.types) or None
    except QuestionError as e:
        raise HTTPException(400, str(e)) from e


def document_json(record: DocumentRecord) -> dict[str, object]:
    """A catalog record as the API shows it."""
    return {"source": record.source, "title": record.title, "doc_type": record.doc_type, "date": record.date,
            "year": record.year, "passages": record.passages, "size": record.size,
            "ingested_at": record.ingested_at}


class Worker:
    """Runs the assistant's blocking calls in threads, ``limit`` at a time, with its errors as HTTP errors."""

    def __init__(self, limit: int) -> None:
        self.limiter = anyio.CapacityLimiter(limit)

    async def run(self, call: Callable[[], T]) -> T:
        """``call()`` in a worker thread."""
        try:
            return await run_sync(call, limiter=self.limiter)
        except QuestionError as e:
            raise HTTPException(400, str(e)) from e
        except StoreError as e:
            raise HTTPException(503, str(e)) from e

    async def iterate(self, items: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """The items of a blocking iterator, each fetched in a worker thread."""
        done = object()
        iterator = await self.run(items)
        while (item := await self.run(lambda: next(iterator, done))) is not done:  # type: ignore[arg-type]
            yield item  # type: ignore[misc]


def outside(paths: list[Path], roots: list[Path]) -> Path | None:
    """The first of ``paths`` that lies under none of ``roots`` (resolved: no ``..`` or link escapes)."""
    resolved = [r.resolve() for r in roots]
    for path in paths:
        try:
            target = path.resolve()
        except (OSError, ValueError, RuntimeError):  # a NUL byte, a loop of links (RuntimeError in 3.11)
            return path
        if not any(target == r or target.is_relative_to(r) for r in resolved):
            return path
    return None


def rest_router(assistant: Assistant, access: Access, worker: Worker, ingest_roots: list[Path]) -> APIRouter:
    """The ``/api/v1`` routes over ``assistant``.

    Ingest reads only under ``ingest_roots`` and the folders the index was built from: an admin
    key lets a caller index the server's files, not every file the server can read.
    """
    api = APIRouter(prefix="/api/v1", tags=["vraagbaak"])
    read = [Depends(access.dependency("read"))]
    admin = [Depends(access.dependency("admin"))]

    @api.post("/ask", response_model=AnswerOut, dependencies=read, responses=ERRORS)
    async def ask(body: AskIn) -> dict[str, object]:
        """Answer a question with checked citations (or refuse, saying why)."""
        history = [(t.question, t.answer) for t in body.history]
        scope = scope_of(body.scope)
        answer = await worker.run(lambda: assistant.ask(body.question, body.k, scope, history))
        return answer.to_json()

    @api.post("/ask/stream", response_class=StreamingResponse, dependencies=read, responses={
        **ERRORS, 200: {"content": {"text/event-stream": {}},
                        "description": "`draft` events ({text}), then one `answer` event (the ask --json object); "
                                       "an `error` event ({detail, status}) if the index fails mid-stream."}})
    async def ask_stream(body: AskIn) -> StreamingResponse:
        """Server-sent events: ``draft`` pieces of the unchecked text as it is written, then one ``answer``.

        Only the ``answer`` event (the ``ask --json`` object) is checked: show drafts as provisional.
        An error after the stream began (the index became unreadable) is an ``error`` event.
        """
        history = [(t.question, t.answer) for t in body.history]
        scope = scope_of(body.scope)
        await worker.run(lambda: assistant.validate(body.question))  # a bad question is a 400, not a broken stream
        if scope is not None:
            await worker.run(lambda: assistant.select(scope))

        async def events() -> AsyncIterator[bytes]:
            try:
                async for event in worker.iterate(lambda: assistant.ask_stream(body.question, body.k, scope, history)):
                    if isinstance(event, Token):
                        yield sse("draft", {"text": event.text})
                    else:
                        yield sse("answer", event.to_json())
            except HTTPException as e:
                yield sse("error", {"detail": e.detail, "status": e.status_code})

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @api.post("/search", response_model=SearchOut, dependencies=read, responses=ERRORS)
    async def search(body: SearchIn) -> dict[str, object]:
        """The passages retrieval ranks first for a query; no answer is written."""
        scope = scope_of(body.scope)
        hits = await worker.run(lambda: assistant.search(body.query, body.k, scope))
        return {"query": body.query, "retrieved": [h.to_json() for h in hits],
                "index_version": assistant.index_version}

    @api.get("/documents", response_model=DocumentsOut, dependencies=read, responses=ERRORS)
    async def documents(query: Annotated[DocumentsQuery, Query()]) -> dict[str, object]:
        """The indexed documents in path order, a page at a time."""
        try:
            wanted = Scope.of([query.folder] if query.folder else [], [query.year] if query.year else [],
                              [query.type] if query.type else [])
        except QuestionError as e:
            raise HTTPException(400, str(e)) from e
        records = await worker.run(lambda: assistant.documents())
        chosen = [records[s] for s in sorted(records) if wanted.matches(records[s])]
        return {"total": len(chosen), "offset": query.offset,
                "documents": [document_json(r) for r in chosen[query.offset:query.offset + query.limit]]}

    @api.get("/documents/text", response_model=DocumentTextOut, dependencies=read,
             responses={**ERRORS, 404: {"model": ErrorOut, "description": "Not an indexed document."}})
    async def document_text(query: Annotated[SourceQuery, Query()]) -> dict[str, object]:
        """One document's text as ingest loaded it, and its passages: citations' offsets slice this text."""
        source = query.source
        try:
            opened = await worker.run(lambda: assistant.open_document(source))
        except LookupError as e:
            raise HTTPException(404, f"{source!r} is not an indexed document") from e
        except IngestError as e:
            raise HTTPException(404, f"{source!r} is indexed but cannot be read now: {e.reason}") from e
        return {"document": document_json(opened.record), "text": opened.text,
                "page_starts": list(opened.page_starts or ()),
                "passages": [PassageOut(start=p.start, end=p.end, page=p.page, section=p.place, text=p.text)
                             for p in opened.passages]}

    @api.post("/ingest", response_model=ReportOut, dependencies=admin, responses=ADMIN_ERRORS)
    async def ingest(body: IngestIn) -> dict[str, object]:
        """Index files or folders on the server's disk; the report lists each file that failed and why."""
        paths = [Path(p) for p in body.paths]
        roots = [*ingest_roots, *map(Path, assistant.folders())]
        if (bad := outside(paths, roots)) is not None:
            allowed = ", ".join(map(str, roots)) or "none"
            raise HTTPException(400, f"paths: {str(bad)!r} is not under a folder the API may ingest from "
                                     f"({allowed}; VRAAGBAAK_INGEST_ROOTS adds more)")
        report = await worker.run(lambda: assistant.ingest(paths, sync=body.sync, exclude=body.exclude))
        return report.to_json()

    @api.post("/sync", response_model=ReportOut, dependencies=admin, responses=ADMIN_ERRORS)
    async def sync() -> dict[str, object]:
        """Re-read every folder and file the index was built from, dropping what is gone."""
        return (await worker.run(assistant.sync_all)).to_json()

    @api.post("/remove", response_model=RemovedOut, dependencies=admin,
              responses={**ADMIN_ERRORS, 404: {"model": ErrorOut, "description": "Not an indexed document."}})
    async def remove(body: RemoveIn) -> dict[str, object]:
        """Drop one document from the index (the file itself is left alone)."""
        record = assistant.documents().get(body.source)
        if record is None:
            raise HTTPException(404, f"{body.source!r} is not an indexed document")
        await worker.run(lambda: assistant.remove(Path(body.source)))
        return {"source": body.source, "removed_passages": record.passages}

    @api.get("/status", response_model=StatusOut, dependencies=read, responses=ERRORS)
    async def status() -> dict[str, object]:
        """What is indexed: the ``status --json`` object."""
        return await worker.run(assistant.status)

    @api.get("/health", response_model=HealthOut)
    async def health() -> dict[str, object]:
        """Liveness without a key (for a load balancer); ``ready`` says whether questions can be answered."""
        reason = await run_sync(assistant.readiness)
        return {"ok": True, "ready": reason is None, "reason": reason, "index_version": assistant.index_version}

    return api
