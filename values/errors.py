"""The error tree: every failure vraagbaak reports on purpose is one of these."""


class VraagbaakError(Exception):
    """Base of all errors vraagbaak raises deliberately; the message names the value and the fix."""


class ConfigError(VraagbaakError):
    """A setting is missing, malformed or names a backend that is not installed."""


class IngestError(VraagbaakError):
    """A document could not be loaded or split; the message names the file once and says why in words.

    ``reason`` is the why without the path (an ingest report's ``source`` names the file),
    ``detail`` the library's own words when a library refused the file (None otherwise).
    """

    def __init__(self, reason: str, source: object = None, detail: str | None = None) -> None:
        self.reason = reason
        self.source = None if source is None else str(source)
        self.detail = detail
        super().__init__(reason if source is None else f"{source}: {reason}")


class StoreError(VraagbaakError):
    """The index cannot be opened, is empty, or was built with other settings."""


class EmbedderMismatchError(StoreError):
    """The index was built by another embedder than the one configured."""


class EmbedderError(StoreError):
    """The embedder's server (OpenAI-compatible, Ollama) failed, timed out or replied garbage.

    A StoreError: nothing can be searched or indexed until it answers, and every door already
    reports a store that cannot be read.
    """


class QuestionError(VraagbaakError):
    """A question is empty, too long or otherwise unusable."""


class AnswerBackendError(VraagbaakError):
    """The answer backend (an LLM server or model) failed, timed out or replied garbage."""


class CalibrationError(VraagbaakError):
    """The index is too small, or its probes too few, to fit the refusal thresholds."""
