"""The read-only file route: serves an original document, and only when the index lists it.

The assistant's documents are the allow-list: the requested path must equal an indexed source exactly, so no
path outside it (``/etc/passwd``, ``docs/../../x``, a file dropped next to an indexed one) is
ever read. Documents are shown inline where that is safe; HTML is sandboxed so its scripts
cannot run in the chat page's origin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from fastapi import HTTPException
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


def file_route(documents: Callable[[], Mapping[str, DocumentRecord]]) -> APIRoute:
    """A GET route at ``ROUTE`` taking ``?source=<indexed path>``; ``documents`` lists what is indexed."""

    def serve(source: str = "") -> FileResponse:
        """The original file of one indexed document; 404 for anything not indexed."""
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
