"""The OpenAI-compatible door: ``/v1/models`` and ``/v1/chat/completions`` over the documents.

Any OpenAI client (Open WebUI, LibreChat, the ``openai`` package, LangChain's ``ChatOpenAI``)
can use vraagbaak as the model ``vraagbaak``. The last user message is the question, earlier
user/assistant pairs its history; ``k`` and ``scope`` may travel in the body (``extra_body``).

The answer text keeps its ``[n]`` markers and gets a source list appended, for clients that
show only text. The citations themselves (the ``ask --json`` objects: source, start, end, page,
section, verified, quotes) travel in the response's ``citations`` field, and the rest of the
answer's verdict in ``vraagbaak``; when streaming, both ride on the final chunk. A stream
carries only the checked answer, never the unchecked draft: a client cannot take back text it
has shown.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.access import Access
from api.rest import Worker, scope_of
from api.schemas import AnswerOut, CitationOut, ScopeIn
from assistant.answer import Answer
from assistant.language import detect

MODEL = "vraagbaak"
SOURCES = {"nl": "Bronnen", "en": "Sources"}
CLOSEST = {"nl": "Dichtstbijzijnde passages", "en": "Closest passages"}
HEADER_END = "\n\n---\n"
"""Separates the answer from the appended source list (stripped again from the history)."""


class TextPart(BaseModel):
    """A text part of a message's content (image and audio parts are not read)."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str = ""


class Message(BaseModel):
    """One chat message; tool and function fields are accepted and not used."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The message's text content."""
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text")
        return self.content or ""


class CompletionIn(BaseModel):
    """An OpenAI chat completion request plus vraagbaak's ``k`` and ``scope``.

    Sampling settings (temperature, max_tokens, …) are accepted and ignored: the answer is drawn
    from the documents by the configured answerer.
    """

    model_config = ConfigDict(extra="allow")
    model: str = MODEL
    messages: list[Message] = Field(min_length=1)
    stream: bool = Field(False, strict=True)
    k: int | None = Field(None, ge=1, le=50, strict=True, description="Passages to retrieve and cite.")
    scope: ScopeIn | None = Field(None, description="Restrict the answer to documents, folders, years, types.")


class AssistantMessage(BaseModel):
    """The reply."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """The one choice of a completion."""

    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    """Token counts: vraagbaak does not count tokens, so these are 0."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class CompletionOut(BaseModel):
    """A chat completion, with vraagbaak's ``citations`` and ``vraagbaak`` (the full ``ask --json`` object)."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationOut] = Field(description="The answer's [n] markers: source and exact offsets.")
    vraagbaak: AnswerOut = Field(description="The whole answer object of `ask --json`.")


class ModelOut(BaseModel):
    """A model a client may choose."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelsOut(BaseModel):
    """The models list."""

    object: Literal["list"] = "list"
    data: list[ModelOut]


class OpenAIErrorDetail(BaseModel):
    """What went wrong, in OpenAI's error shape."""

    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorOut(BaseModel):
    """An error response as OpenAI clients expect it."""

    error: OpenAIErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OpenAIErrorOut, "description": "The request cannot be used; `error.param` names the field."},
    401: {"model": OpenAIErrorOut, "description": "No API key, or an unknown one."},
    503: {"model": OpenAIErrorOut, "description": "The index cannot be read now."},
}


def openai_error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    """An error in OpenAI's shape, which OpenAI clients show to their user."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 401:
        kind = "authentication_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


def inert(text: str) -> str:
    """Document text made inert for the Markdown that chat clients render.

    No image a client would fetch on its own (``![x](https://…?leak=…)``), no raw HTML. The
    escapes are CommonMark's, so the text reads the same; the ``[n]`` markers stay as they are.
    """
    return text.replace("<", "\\<").replace("![", "!\\[")


def source_list(answer: Answer) -> str:
    """The citations (or, for a refusal, the closest passages) as lines a person can read."""
    language = detect(answer.question)
    if answer.citations:
        lines = [f"[{c.n}] {place(c.hit.to_json())}" for c in answer.citations]
        return f"{HEADER_END}{SOURCES[language]}:\n" + "\n".join(lines)
    if answer.retrieved:
        lines = [f"({n}) {place(h.to_json())}" for n, h in enumerate(answer.retrieved, 1)]
        return f"{HEADER_END}{CLOSEST[language]}:\n" + "\n".join(lines)
    return ""


def place(item: dict[str, Any]) -> str:
    """Where a passage is: file name, page, section and characters."""
    parts = [str(item["source"]).rsplit("/", 1)[-1]]
    if item.get("page"):
        parts.append(f"p. {item['page']}")
    if item.get("section"):
        parts.append(str(item["section"]))
    parts.append(f"{item['start']}–{item['end']}")
    return ", ".join(parts)


def history_of(messages: list[Message]) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last user message) and the (question, answer) turns before it."""
    turns = [m for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise HTTPException(400, "messages: the last user or assistant message must be the user's question")
    history: list[tuple[str, str]] = []
    asked: str | None = None
    for m in turns[:-1]:
        if m.role == "user":
            asked = m.text()
        elif asked is not None:
            history.append((asked, m.text().split(HEADER_END, 1)[0]))
            asked = None
    return turns[-1].text(), history


def openai_router(assistant: Any, access: Access, worker: Worker) -> APIRouter:
    """The ``/v1`` routes over ``assistant``."""
    v1 = APIRouter(prefix="/v1", tags=["openai-compatible"])
    read = [Depends(access.dependency("read"))]
    created = int(time.time())

    @v1.get("/models", response_model=ModelsOut, dependencies=read, responses=ERRORS)
    async def models() -> dict[str, object]:
        """The one model: vraagbaak over the indexed documents."""
        return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": created,
                                            "owned_by": "vraagbaak"}]}

    @v1.post("/chat/completions", response_model=CompletionOut, dependencies=read,
             responses={**ERRORS, 404: {"model": OpenAIErrorOut, "description": "No such model: use 'vraagbaak'."},
                        200: {"content": {"text/event-stream": {}},
                              "description": "The completion, or with `stream` its chunks as server-sent events."}})
    async def completions(body: CompletionIn) -> Any:
        """Answer the last user message from the documents, with citations."""
        if body.model != MODEL:
            return openai_error(404, f"model {body.model!r} does not exist: use {MODEL!r}", "model",
                                "model_not_found")
        question, history = history_of(body.messages)
        scope = scope_of(body.scope)
        await worker.run(lambda: assistant.validate(question))  # a bad question is a 400, also when streaming
        if scope is not None:
            await worker.run(lambda: assistant.select(scope))  # and so is a scope that matches nothing
        ident = f"chatcmpl-{uuid.uuid4().hex}"

        async def answer() -> tuple[str, dict[str, object]]:
            done = await worker.run(lambda: assistant.ask(question, body.k, scope, history))
            return inert(done.answer) + inert(source_list(done)), {"citations": [c.to_json() for c in done.citations],
                                                      "vraagbaak": done.to_json()}

        if not body.stream:
            text, extra = await answer()
            return {"id": ident, "object": "chat.completion", "created": int(time.time()), "model": MODEL,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": Usage().model_dump(), **extra}
        return StreamingResponse(_chunks(ident, answer), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return v1


async def _chunks(ident: str, answer: Callable[[], Awaitable[tuple[str, dict[str, object]]]]) -> AsyncIterator[bytes]:
    """The streamed completion: the role at once, then the checked text, the final chunk with the citations, [DONE]."""
    now = int(time.time())

    def chunk(delta: dict[str, str], finish: str | None = None, **more: object) -> bytes:
        data = {"id": ident, "object": "chat.completion.chunk", "created": now, "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}
        return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        text, extra = await answer()
    except HTTPException as e:  # the index became unreadable after the stream began
        error = {"message": e.detail, "type": "server_error", "param": None, "code": None}
        yield b"data: " + json.dumps({"error": error}, ensure_ascii=False).encode() + b"\n\n"
        return
    yield chunk({"content": text})
    yield chunk({}, "stop", **extra)
    yield b"data: [DONE]\n\n"
