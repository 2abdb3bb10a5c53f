"""The documents tab's Gradio callbacks: list, upload, sync, remove; and the views that change with the index.

They call the assistant and hand what it returns to the pure functions of ``ui.document_table``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.assistant import Assistant
from assistant.scope import years_and_types
from assistant.settings import UPLOAD_MAX_BYTES
from ui.document_table import (
    SORT_KEYS,
    DocQuery,
    documents_table_html,
    page_label,
    scope_choices,
    scope_year_choices,
    select_documents,
    year_choices,
)
from ui.format import header_html, report_html
from ui.i18n import t
from ui.state import Prefs
from ui.uploads import Staged, stage
from ui.viewer import clicked, render_panel
from values.errors import IngestError, VraagbaakError
from values.report import IngestReport, Progress


class Library:
    """The documents tab's callbacks; uploads are copied into ``uploads`` and ingested from there."""

    def __init__(self, assistant: Assistant, uploads: Path,
                 may_change: Callable[[str | None], bool] = lambda user: True, *,
                 max_bytes: int = UPLOAD_MAX_BYTES) -> None:
        self.assistant = assistant
        self.uploads = uploads
        self.may_change = may_change  # by the signed-in user's name: only an admin key uploads or removes
        self.max_bytes = max_bytes  # a larger upload is refused, never written
        self._placing = threading.Lock()  # two uploads of one name: one is put in place and ingested, then the other

    def _check_may_change(self, request: gr.Request | None, prefs: Prefs) -> None:
        """gr.Error unless the signed-in user may change the index."""
        if not self.may_change(getattr(request, "username", None)):
            raise gr.Error(t(prefs.language, "read_only"))

    @staticmethod
    def query(search: str, doc_type: str | None, year: str | None, sort: str, descending: bool) -> DocQuery:
        """A new table query from the filter controls, back on page 1."""
        return DocQuery(search or "", doc_type or "", year or "", sort if sort in SORT_KEYS else "title",
                        bool(descending))

    @staticmethod
    def previous_page(query: DocQuery) -> DocQuery:
        """The query one page back."""
        return replace(query, page=max(1, query.page - 1))

    @staticmethod
    def next_page(query: DocQuery) -> DocQuery:
        """The query one page on (``table`` clamps it to the last page)."""
        return replace(query, page=query.page + 1)

    def table(self, query: DocQuery, prefs: Prefs) -> tuple[str, str, DocQuery]:
        """The documents table, the page label, and the query with its page clamped to what exists."""
        page = select_documents(self.assistant.documents().values(), query)
        return (documents_table_html(page, prefs.language, str(self.uploads.resolve())),
                page_label(page, prefs.language),
                replace(query, page=page.page))

    def views(self, prefs: Prefs, scope: list[str] | None = None) -> tuple[Any, ...]:
        """Everything that shows the index but the table (``table`` redraws that next).

        Header, the scope's documents, years and types, the types and years filters, the last report.
        """
        records = self.assistant.documents()
        years, types = years_and_types(records.values())
        runs = self.assistant.status()["runs"]
        last = runs[0] if isinstance(runs, list) and runs else None
        header = header_html(prefs.language, len(records), self.assistant.passage_count(), self.assistant.backend)
        return (header,
                gr.update(choices=scope_choices(records.values(), scope or ())),
                gr.update(choices=scope_year_choices(years), visible=bool(years)),  # no dates: no picker
                gr.update(choices=types),
                gr.update(choices=[(t(prefs.language, "all_types"), ""), *[(d, d) for d in types]]),
                gr.update(choices=year_choices(years, prefs.language)),
                report_html(self._as_uploaded(last), prefs.language))

    def upload(self, files: Sequence[str] | None, prefs: Prefs, request: gr.Request,
               progress: gr.Progress = gr.Progress()) -> tuple[str, None]:  # noqa: B008
        """Copy uploaded files into the uploads folder and ingest them; the report, and an empty drop zone.

        A file refused (no file name, a type not read, over ``max_bytes``) is never written and
        is listed in the report by its name with the reason.
        """
        if not files:
            return report_html(None, prefs.language), None
        self._check_may_change(request, prefs)
        self.uploads.mkdir(parents=True, exist_ok=True)
        staged: list[Staged] = []
        refused: list[dict[str, str]] = []
        try:
            for name in files:  # copied beside other uploads: the slow part
                try:
                    staged.append(stage(Path(name), self.uploads, self.max_bytes, self.assistant.file_types))
                except IngestError as e:
                    refused.append({"source": e.source or name, "reason": e.reason})
            with self._placing:  # put in place, ingested and (if failed) dropped as one step per upload
                copies = [copy.publish() for copy in staged]
                staged = []
                report: dict[str, Any] = IngestReport().to_json()
                if copies:
                    report = self._forget_failed(self._ingest(copies, False, prefs, progress).to_json())
        finally:
            for copy in staged:  # not put in place: an error on the way
                copy.discard()
        report["failed"] = [*refused, *report["failed"]]
        return report_html(report, prefs.language), None

    def _forget_failed(self, report: dict[str, Any]) -> dict[str, Any]:
        """Drop the copies of uploads that failed (a sync would only fail on them again); name them as uploaded."""
        for failure in report["failed"]:
            path = Path(failure["source"])
            if self._uploaded(path):
                path.unlink(missing_ok=True)
        return self._as_uploaded(report) or report

    def _uploaded(self, path: Path) -> bool:
        return path.resolve().parent == self.uploads.resolve()

    def _as_uploaded(self, report: dict[str, Any] | None) -> dict[str, Any] | None:
        """``report`` with an upload's failure named as the user uploaded it, not by our copy's path."""
        if not report or not isinstance(report.get("failed"), list):
            return report
        failed = [{**f, "source": Path(f["source"]).name} if self._uploaded(Path(f["source"])) else f
                  for f in report["failed"]]
        return {**report, "failed": failed}

    def sync(self, prefs: Prefs, request: gr.Request, progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
        """Re-read the folders and files the index was built from, dropping files that are gone."""
        self._check_may_change(request, prefs)
        if not self.assistant.folders() and not self.assistant.document_count():
            gr.Warning(t(prefs.language, "nothing_to_sync"))
            return report_html(None, prefs.language)
        report = self._run(lambda step: self.assistant.sync_all(progress=step), prefs, progress)
        return report_html(report.to_json(), prefs.language)

    def _ingest(self, paths: list[Path], sync: bool, prefs: Prefs, progress: gr.Progress) -> IngestReport:
        return self._run(lambda step: self.assistant.ingest(paths, sync=sync, progress=step), prefs, progress)

    @staticmethod
    def _run(work: Callable[[Progress], IngestReport], prefs: Prefs, progress: gr.Progress) -> IngestReport:
        """Run an ingest with the page's progress bar; an error becomes the page's error message."""
        label = t(prefs.language, "indexing")
        progress(0, desc=label)

        def step(done: int, total: int, source: str) -> None:
            progress((done, total), desc=f"{label}: {Path(source).name}")

        try:
            return work(step)
        except VraagbaakError as e:
            raise gr.Error(str(e)) from e

    def click(self, prefs: Prefs, scope: list[str] | None, evt: gr.EventData,
              request: gr.Request) -> tuple[Any, Any, Any, Any]:
        """A table click: open the document in the side panel, remove it, or ask about it.

        Returns the panel, the panel's target, the scope picker and the selected tab.
        """
        action, (source, *_) = clicked(evt)
        if action == "remove":
            self._check_may_change(request, prefs)
            self.remove(source, prefs)
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if action == "scope" and source in (records := self.assistant.documents()):
            chosen = [*[s for s in scope or [] if s != source], source]
            gr.Info(t(prefs.language, "scoped_to", title=records[source].title))
            return (gr.skip(), gr.skip(), gr.update(choices=scope_choices(records.values(), chosen), value=chosen),
                    gr.update(selected="chat"))
        return (render_panel(self.assistant.open_document, source, None, None, prefs.language), (source, None, None),
                gr.skip(), gr.skip())

    def remove(self, source: str, prefs: Prefs) -> None:
        """Remove one indexed document and say so; the file stays, unless it is our copy of an upload."""
        if source not in self.assistant.documents():
            return
        path = Path(source)
        try:
            self.assistant.remove(path)
        except VraagbaakError as e:
            raise gr.Error(str(e)) from e
        if path.parent == self.uploads.resolve():  # else the next sync would bring it back
            path.unlink(missing_ok=True)
        gr.Info(t(prefs.language, "removed", source=source))
