"""A local GGUF model served in-process by xllamacpp (llama.cpp's OpenAI-compatible server).

The server starts on first use on a free loopback port and is stopped by ``stop()``, when the
object is collected, or at interpreter exit. Callers talk to it over HTTP like any other
OpenAI-compatible endpoint, so the ``openai`` backend's code path serves both.
"""

from __future__ import annotations

import threading
import time
import weakref
from pathlib import Path
from typing import Any

import httpx

from values.errors import AnswerBackendError, ConfigError

_READY_SECONDS = 120.0


class GGUFServer:
    """One GGUF model behind a loopback llama.cpp server, started lazily."""

    def __init__(self, path: Path, *, threads: int, context: int) -> None:
        self.path = path
        self.threads = threads
        self.context = context
        self._lock = threading.Lock()
        # the native server lives in a list, so the finalizer can stop it without holding ``self``
        self._box: list[Any] = []
        self._url: str | None = None
        self._finalizer = weakref.finalize(self, _stop, self._box)

    @property
    def model_name(self) -> str:
        """The name requests carry: the file's stem."""
        return self.path.stem

    @property
    def base_url(self) -> str:
        """The server's OpenAI-compatible ``…/v1`` root; starts the server on first use."""
        return self.start() + "/v1"

    @property
    def running(self) -> bool:
        """Whether the server is up."""
        return bool(self._box)

    def start(self) -> str:
        """Load the model and start serving (once); the server's root address."""
        with self._lock:
            if self._url is not None and self._box:
                return self._url
            if not self.path.is_file():
                raise ConfigError(f"GGUF model file {self.path} does not exist: "
                                  "check VRAAGBAAK_LLM=gguf:<path>")
            try:
                import xllamacpp
            except ImportError as e:
                raise ConfigError("the gguf backend needs xllamacpp: pip install 'vraagbaak[llm]'") from e
            params = xllamacpp.CommonParams()
            params.model.path = str(self.path)
            params.n_ctx = self.context
            params.n_parallel = 1
            params.cpuparams.n_threads = self.threads
            params.cpuparams_batch.n_threads = self.threads
            params.hostnames = ["127.0.0.1"]
            params.port = 0  # the server binds a free port itself: no race with other processes
            params.verbosity = -1
            try:
                server = xllamacpp.Server(params)
            except RuntimeError as e:
                raise AnswerBackendError(f"llama.cpp could not load {self.path}: {e} "
                                         "(is it a GGUF chat model that fits in memory?)") from e
            self._box.append(server)
            url = str(server.listening_address)
            try:
                _wait_ready(url)
            except AnswerBackendError:
                _stop(self._box)
                raise
            self._url = url
            return url

    def stop(self) -> None:
        """Stop the server and free the model; a later use starts it again."""
        with self._lock:
            _stop(self._box)
            self._url = None


def _wait_ready(url: str) -> None:
    """Block until ``/health`` answers 200.

    Deleting the native server before its main loop runs can hang, so ``start`` returns only
    once the server really serves.
    """
    deadline = time.monotonic() + _READY_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AnswerBackendError(f"the local llama.cpp server at {url} did not become ready "
                             f"within {_READY_SECONDS:.0f} s")


def _stop(box: list[Any]) -> None:
    # dropping the last reference runs the native destructor, which joins the server's loop
    box.clear()
