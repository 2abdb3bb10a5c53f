"""Per-browser-session values kept in ``gr.State``: display preferences and the conversation."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.answer import Answer
from ui.i18n import DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Prefs:
    """One browser session's settings; never shared between sessions."""

    k: int = 5
    show_scores: bool = False
    language: str = DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Turn:
    """One question and what came back: streamed text so far, the final answer, or an error message."""

    question: str
    partial: str = ""
    answer: Answer | None = None
    error: str | None = None
