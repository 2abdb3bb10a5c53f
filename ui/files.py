"""The read-only file route: serves an original document, and only when the index lists it.

The assistant's documents are the allow-list: the requested path must equal an indexed source exactly, so no
path outside it (``/etc/passwd``, ``docs/../../x``, a file dropped next to an indexed one) is
ever read. Documents are shown inline where that is safe; HTML is sandboxed so its scripts
cannot run in the chat page's origin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute

from values.document import DocumentRecord

ROUTE = "/vraagbaak/file"
"""Where the original files are served; the page links to it relatively (``ui.format.file_url``)."""
_MEDIA_TYPES = {
    "txt": "text/plain", "md": "text/plain", "pdf": "application/pdf", "html": "text/html",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
_CHARSETS = {"utf-8-sig": "utf-8", "latin-1": "iso-8859-1", "cp1252": "windows-1252"}


def file_route(documents: Callable[[], Mapping[str, DocumentRecord]], *, signed_in: bool = False) -> APIRoute:
    """A GET route at ``ROUTE`` taking ``?source=<indexed path>``; ``documents`` lists what is indexed.

    With ``signed_in`` the route serves only a browser signed in to the page (the route lives in
    the page's Gradio app, whose sign-in cookie it checks: Gradio has no public helper for it).
    """

    def serve(request: Request, source: str = "") -> FileResponse:
        """The original file of one indexed document; 404 for anything not indexed."""
        if signed_in and not _signed_in(request):
            raise HTTPException(status_code=401, detail="sign in to the page first")
        record = documents().get(source)
        path = Path(source)
        if record is None or not path.is_file():
            raise HTTPException(status_code=404, detail="not an indexed document")
        media_type = _MEDIA_TYPES.get(record.doc_type, "application/octet-stream")
        if media_type.startswith("text/") and record.encoding:
            media_type += f"; charset={_CHARSETS.get(record.encoding, record.encoding)}"
        inline = record.doc_type in ("txt", "md", "pdf", "html")
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
        if record.doc_type != "pdf":  # Chromium's PDF viewer refuses to run in a sandboxed document
            headers["Content-Security-Policy"] = "sandbox"
        return FileResponse(path, media_type=media_type, headers=headers, filename=path.name,
                            content_disposition_type="inline" if inline else "attachment")

    return APIRoute(ROUTE, serve, methods=["GET"], include_in_schema=False)


def _signed_in(request: Request) -> bool:
    """Whether the request carries a live sign-in cookie of the Gradio app serving it."""
    page = request.scope.get("app")
    cookie_id, tokens = getattr(page, "cookie_id", None), getattr(page, "tokens", None)
    if cookie_id is None or not isinstance(tokens, dict):
        return False
    cookies = request.cookies
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return token is not None and tokens.get(token) is not None
