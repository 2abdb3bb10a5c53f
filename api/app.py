"""The doors' FastAPI app: ``/api/v1``, the OpenAI-compatible ``/v1``, and MCP at ``/mcp``.

``vraagbaak.server`` mounts the chat page on this same app, so one port serves everything and
one key check guards every door. The OpenAPI schema is at ``/api/v1/openapi.json`` (browsable at
``/api/v1/docs``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp

from api.access import Access
from api.openai_compat import openai_error, openai_router
from api.rest import Worker, rest_router
from assistant.assistant import Assistant

Lifespan = Callable[[], AbstractAsyncContextManager[Any]]


def build_api(assistant: Assistant, access: Access, *, concurrency: int = 4, ingest_roots: list[Path] | None = None,
              apps: dict[str, tuple[ASGIApp, Lifespan | None]] | None = None) -> FastAPI:
    """The app with the REST and OpenAI routes over ``assistant``, guarded by ``access``.

    ``ingest_roots``: the folders (besides those already indexed) that ingest may read.
    ``apps`` maps a path to an ASGI app served at exactly that path (behind the read check) and
    the lifespan it needs entered while the server runs (the MCP session manager's).
    """
    apps = apps or {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for _app, enter in apps.values():
                if enter is not None:
                    await stack.enter_async_context(enter())
            yield

    app = FastAPI(title="vraagbaak", version="1", lifespan=lifespan,
                  description="Answers from your documents, every claim cited to exact source offsets.",
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    worker = Worker(concurrency)
    app.include_router(rest_router(assistant, access, worker, list(ingest_roots or [])))
    app.include_router(openai_router(assistant, access, worker))
    for path, (asgi, _enter) in apps.items():  # a route, not a mount: a mount serves only below path/
        app.router.routes.append(Route(path, access.guard(asgi, "read")))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if request.url.path.startswith("/v1/"):
            response = openai_error(error.status_code, str(error.detail))
            response.headers.update(error.headers or {})
            return response
        return await http_exception_handler(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        if request.url.path.startswith("/v1/"):
            first = error.errors()[0] if error.errors() else {}
            field = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
            return openai_error(400, f"{field or 'body'}: {first.get('msg', 'invalid')}", field)
        return await request_validation_exception_handler(request, error)

    return app
