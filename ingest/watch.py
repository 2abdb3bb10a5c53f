"""Keep the index in step with folders: re-ingest them (with sync) a moment after files change.

A watchdog observer marks the folders dirty on any event about an ingestable file (editors' temp
and lock files and hidden folders such as the data dir are ignored, as ``collect`` ignores them);
one worker thread waits until the events have been quiet for ``debounce`` seconds, then runs
``Ingestor.run(folders, sync=True)``. Events during a run lead to one more run after it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ingest.loaders import real_path
from ingest.pipeline import Ingestor
from ingest.walk import is_candidate
from values.errors import IngestError, VraagbaakError
from values.report import IngestReport

DEFAULT_DEBOUNCE = 1.0
_MAX_DELAY = 5.0  # a file rewritten without pause is still picked up within seconds


class FolderWatcher:
    """Runs an initial ingest of ``folders``, then one after each quiet spell following changes."""

    def __init__(self, ingestor: Ingestor, folders: Sequence[Path], *, debounce: float = DEFAULT_DEBOUNCE,
                 on_report: Callable[[IngestReport], None] | None = None,
                 on_error: Callable[[VraagbaakError], None] | None = None) -> None:
        self.ingestor = ingestor
        self.folders = [real_path(Path(f).expanduser()) for f in folders]
        missing = [str(f) for f in self.folders if not f.is_dir()]
        if missing:
            raise IngestError(f"cannot watch {', '.join(missing)}: not a folder")
        self.debounce = debounce
        self.on_report = on_report
        self.on_error = on_error
        self.runs = 0
        self._changed = threading.Condition()
        self._first_event: float | None = None
        self._last_event = 0.0
        self._stopping = False
        self._observer = Observer()
        self._worker = threading.Thread(target=self._work, name="vraagbaak-watch", daemon=True)

    def start(self) -> None:
        """Start watching (in background threads) and schedule the initial ingest."""
        handler = _Handler(self.folders, self._mark, self.ingestor.exclude)
        for folder in self.folders:
            self._observer.schedule(handler, str(folder), recursive=True)
        self._observer.start()
        self._mark(initial=True)
        self._worker.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop watching; a run under way finishes first (its writes are never cut short)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._observer.stop()
        self._observer.join(timeout)
        if self._worker.is_alive():
            self._worker.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker (it ends after ``stop`` or when a run raised an unexpected error)."""
        self._worker.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self._worker.is_alive()

    def _mark(self, initial: bool = False) -> None:
        now = time.monotonic()
        with self._changed:
            if self._first_event is None:
                self._first_event = now - (self.debounce if initial else 0.0)
            self._last_event = now - (self.debounce if initial else 0.0)
            self._changed.notify_all()

    def _next_due(self) -> bool:
        """Block until a run is due (True) or the watcher stops (False)."""
        with self._changed:
            while not self._stopping:
                if self._first_event is None:
                    self._changed.wait()
                    continue
                now = time.monotonic()
                due = min(self._last_event + self.debounce, self._first_event + _MAX_DELAY)
                if now >= due:
                    self._first_event = None
                    return True
                self._changed.wait(due - now)
            return False

    def _work(self) -> None:
        while self._next_due():
            try:
                report = self.ingestor.run(self.folders, sync=True)
            except VraagbaakError as e:  # e.g. an embedder mismatch: say so and keep watching
                if self.on_error is not None:
                    self.on_error(e)
                continue
            self.runs += 1
            if self.on_report is not None:
                self.on_report(report)


class _Handler(FileSystemEventHandler):
    """Calls ``changed`` for events that can alter what ``collect`` finds in the folders."""

    def __init__(self, folders: list[Path], changed: Callable[[], None], exclude: Sequence[str] = ()) -> None:
        self.folders = folders
        self.changed = changed
        self.exclude = exclude

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Mark dirty for a relevant create, change, delete or move."""
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type == "modified":
            return  # a child changed; that child's own event decides
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        if any(self._relevant(Path(str(p)), event.is_directory) for p in paths if p):
            self.changed()

    def _relevant(self, path: Path, is_directory: bool) -> bool:
        for folder in self.folders:
            if path == folder or folder not in path.parents:
                continue
            parts = path.relative_to(folder).parts
            if any(part.startswith(".") for part in (parts if is_directory else parts[:-1])):
                return False  # hidden folders (a data dir, .git) are not ingested
            return is_directory or is_candidate(path, folder, self.exclude)
        return False
