"""Pure HTML formatters for the chat page: answers, source cards, the document panel, run reports.

Every piece of text that comes from a document, a file name, a question or an answer goes through
``esc`` before it is placed in markup, so document content is shown as text and never executed.
Clickable elements carry ``data-action``/``data-source``/``data-start``/``data-end``; the page's
script turns a click on one into an event (see ``ui.assets``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from urllib.parse import quote

from assistant.answer import Answer
from assistant.citations import MARKER, UNSUPPORTED
from assistant.retrieval import Hit
from assistant.scope import Scope
from ui.files import ROUTE
from ui.i18n import t
from ui.state import Prefs, Turn
from values.passage import Passage
from values.text import shorten

MARK_ID = "vb-hit"
PANEL_CHARS = 60_000
_COUNTS = ("added", "updated", "unchanged", "renamed", "removed", "failed")


def esc(value: object) -> str:
    """``value`` as text that is safe inside HTML content and quoted attributes."""
    return html.escape(str(value), quote=True)


def file_url(source: str, page: int | None = None) -> str:
    """Relative URL of the read-only file route for an ingested ``source`` (PDFs open at ``page``)."""
    url = f"{ROUTE.lstrip('/')}?source={quote(source, safe='')}"  # relative: works under a proxy's path
    return f"{url}#page={page}" if page else url


def location(passage: Passage, language: str) -> str:
    """Where a passage is: page (PDF), part and question number, character range."""
    parts = []
    if passage.page:
        parts.append(t(language, "page", page=passage.page))
    if passage.section:
        part = t(language, f"part_{passage.section}") if passage.section in ("ANTWOORD", "VRAAG", "header") \
            else passage.section
        parts.append(f"{part}, {t(language, 'item', item=passage.item)}" if passage.item else part)
    elif passage.item:
        parts.append(t(language, "item", item=passage.item))
    parts.append(t(language, "chars", start=f"{passage.start:,}", end=f"{passage.end:,}"))
    return " · ".join(parts)


def click_target(action: str, source: str, start: int | None = None, end: int | None = None,
                 quotes: Sequence[tuple[int, int]] = ()) -> str:
    """The data attributes that make an element clickable (see ``ui.assets.CLICK_JS``)."""
    span = "" if start is None or end is None else f' data-start="{start}" data-end="{end}"'
    if quotes:
        span += f' data-quotes="{",".join(f"{a}-{b}" for a, b in quotes)}"'
    return f'data-action="{esc(action)}" data-source="{esc(source)}"{span}'


def answer_text_html(text: str, retrieved: Sequence[Hit], language: str,
                     quotes: Mapping[int, Sequence[tuple[int, int]]] | None = None) -> str:
    """Answer text, escaped, each valid ``[n]`` a button opening passage n with its quoted sentences marked."""
    quotes = quotes or {}

    def marker(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if not 1 <= n <= len(retrieved):
            return match.group(0)
        p = retrieved[n - 1].passage
        label = esc(t(language, "open_passage", n=n))
        target = click_target("open", p.source, p.start, p.end, quotes.get(n, ()))
        return (f'<button type="button" class="vb-cite" {target} '
                f'aria-label="{label}" title="{label}">[{n}]</button>')

    marked = MARKER.sub(marker, esc(text))
    return marked.replace(UNSUPPORTED, f'<span class="vb-unsupported" title="{esc(t(language, "unverified"))}">'
                                       f'{UNSUPPORTED}</span>')


def passage_card(n: int, hit: Hit, prefs: Prefs, verified: bool = True,
                 quotes: Sequence[tuple[int, int]] = ()) -> str:
    """A source card: number, title, file, location, optional score, and the passage text.

    ``verified`` False flags a cited passage that does not support the sentence citing it;
    ``quotes`` (document spans) are the sentences the answer took, marked in the text.
    """
    p = hit.passage
    name = Path(p.source).name
    title = p.title or name
    score = (f'<span class="vb-score">{esc(t(prefs.language, "score"))} {hit.score:.4f}</span>'
             if prefs.show_scores else "")
    flag = "" if verified else f'<span class="vb-badge vb-unverified">{esc(t(prefs.language, "unverified"))}</span>'
    return (
        f'<article class="vb-card">'
        f'<button type="button" class="vb-card-head" {click_target("open", p.source, p.start, p.end, quotes)} '
        f'aria-label="{esc(t(prefs.language, "open_passage", n=n))}">'
        f'<span class="vb-n">[{n}]</span> <span class="vb-title">{esc(title)}</span></button>'
        f'{flag}'
        f'<div class="vb-where"><span class="vb-file">{esc(name)}</span> · {esc(location(p, prefs.language))}'
        f'{" · " + score if score else ""}</div>'
        f'<blockquote class="vb-text">{marked(p.text, [(a - p.start, b - p.start) for a, b in quotes])}'
        f'</blockquote></article>'
    )


def sources_html(answer: Answer, prefs: Prefs) -> str:
    """The cards under an answer: cited passages first, the rest folded; all when nothing was cited."""
    numbered = list(enumerate(answer.retrieved, start=1))
    cited = [c.n for c in answer.citations]
    if not cited:
        if not numbered:
            return ""
        cards = "".join(passage_card(n, hit, prefs) for n, hit in numbered)
        return f'<div class="vb-sources"><h4>{esc(t(prefs.language, "closest"))}</h4>{cards}</div>'
    first = "".join(passage_card(c.n, c.hit, prefs, c.verified, c.quotes) for c in answer.citations)
    rest = [(n, hit) for n, hit in numbered if n not in cited]
    folded = ""
    if rest:
        summary = esc(t(prefs.language, "other_passages", count=len(rest)))
        folded = (f'<details class="vb-more"><summary>{summary}</summary>'
                  f'{"".join(passage_card(n, hit, prefs) for n, hit in rest)}</details>')
    return f'<div class="vb-sources"><h4>{esc(t(prefs.language, "sources"))}</h4>{first}{folded}</div>'


def answer_meta(answer: Answer, language: str) -> str:
    """How long the answer took, how many passages it used, and what the question was scoped to."""
    meta = t(language, "meta", seconds=f"{answer.seconds:.1f}", cited=len(answer.citations),
             retrieved=len(answer.retrieved))
    scope = answer.scope
    if not scope:
        return meta
    return meta + " · " + t(language, "meta_scope", scope=scope_words(scope))


def scope_words(scope: Scope) -> str:
    """A scope in a few words: up to three document or folder names, the years, the types."""
    names = [PurePath(p.rstrip("/")).name + ("/" if p.endswith("/") else "") for p in scope.paths]
    shown = names[:3] + ([f"+{len(names) - 3}"] if len(names) > 3 else [])
    parts = [", ".join(shown), ", ".join(map(str, scope.years)), ", ".join(scope.types)]
    return "; ".join(p for p in parts if p)


def turn_html(turn: Turn, prefs: Prefs) -> str:
    """One question with its (partial or final) answer, or with the error it ran into."""
    lang = prefs.language
    question = (f'<div class="vb-msg vb-user"><div class="vb-who">{esc(t(lang, "you"))}</div>'
                f'<div class="vb-body">{esc(turn.question)}</div></div>')
    if turn.error is not None:
        body = f'<div class="vb-body vb-error" role="alert">{esc(turn.error)}</div>'
    elif turn.answer is None:
        shown = esc(turn.partial) if turn.partial else f'<span class="vb-wait">{esc(t(lang, "thinking"))}</span>'
        body = f'<div class="vb-body vb-answer vb-streaming">{shown}</div>'
    else:
        a = turn.answer
        badge = ""
        if a.error:
            badge = f'<div class="vb-badge vb-badge-error" role="alert">{esc(t(lang, "backend_error"))}</div>'
        elif not a.answered and a.citations:
            badge = f'<div class="vb-badge vb-unverified" role="status">{esc(t(lang, "unverified_answer"))}</div>'
        elif not a.answered:
            badge = f'<div class="vb-badge">{esc(t(lang, "refused"))}</div>'
            if a.scope:  # the answer may well be in a document the search left out
                note = t(lang, "scoped_refusal", scope=scope_words(a.scope))
                badge += f'<div class="vb-scope-note" role="note">{esc(note)}</div>'
        quotes = {c.n: c.quotes for c in a.citations}
        body = (f'{badge}<div class="vb-body vb-answer">{answer_text_html(a.answer, a.retrieved, lang, quotes)}</div>'
                f'<div class="vb-meta">{esc(answer_meta(a, lang))}</div>{sources_html(a, prefs)}')
    reply = f'<div class="vb-msg vb-bot"><div class="vb-who">{esc(t(lang, "assistant"))}</div>{body}</div>'
    return f'<section class="vb-turn">{question}{reply}</section>'


def empty_index_html(language: str) -> str:
    """What the chat shows when nothing is indexed: how to add documents."""
    return (f'<div class="vb-empty"><h3>{esc(t(language, "empty_title"))}</h3>'
            f'<p>{esc(t(language, "empty_how"))}</p><pre><code>vraagbaak ingest PATH</code></pre></div>')


def conversation_html(turns: Sequence[Turn], prefs: Prefs, documents: int) -> str:
    """The whole conversation; an empty one shows the welcome, or how to add documents."""
    if turns:
        busy = "true" if turns[-1].answer is None and turns[-1].error is None else "false"
        body = "".join(turn_html(turn, prefs) for turn in turns)
        return f'<div class="vb-chat" role="log" aria-live="polite" aria-busy="{busy}">{body}</div>'
    if documents == 0:
        return f'<div class="vb-chat">{empty_index_html(prefs.language)}</div>'
    welcome = esc(t(prefs.language, "welcome", documents=f"{documents:,}"))
    return f'<div class="vb-chat"><div class="vb-empty"><p>{welcome}</p></div></div>'


def window(length: int, start: int, end: int, limit: int = PANEL_CHARS) -> tuple[int, int]:
    """The span of a ``length``-long text to show so that ``[start, end)`` is inside it and centred."""
    if length <= limit:
        return 0, length
    room = max(limit - (end - start), 0)
    lo = max(0, start - room // 2)
    hi = min(length, max(end, lo + limit))
    return max(0, min(lo, hi - limit)), hi


def highlight(text: str, start: int, end: int, mark_id: str = MARK_ID,
              quotes: Sequence[tuple[int, int]] = ()) -> str:
    """``text`` escaped, ``text[start:end]`` in ``<mark id=mark_id>``, its ``quotes`` in a stronger mark."""
    if not 0 <= start <= end <= len(text):
        raise ValueError(f"span [{start}, {end}) is outside a text of {len(text)} characters")
    inner = marked(text[start:end], [(a - start, b - start) for a, b in quotes])
    return f'{esc(text[:start])}<mark id="{esc(mark_id)}">{inner}</mark>{esc(text[end:])}'


def marked(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` escaped, each of ``spans`` (inside it, not overlapping) in ``<mark class="vb-quote">``."""
    out, at = [], 0
    for a, b in sorted(spans):
        if not at <= a < b <= len(text):
            continue  # outside the text or overlapping the previous one: not marked
        out.append(f'{esc(text[at:a])}<mark class="vb-quote">{esc(text[a:b])}</mark>')
        at = b
    out.append(esc(text[at:]))
    return "".join(out)


@dataclass(frozen=True)
class DocumentView:
    """What the side panel shows: one document's text, the span to highlight, its neighbours."""

    source: str
    title: str
    text: str
    start: int | None = None
    end: int | None = None
    page: int | None = None
    previous: Passage | None = None
    following: Passage | None = None
    passage: Passage | None = None
    quotes: tuple[tuple[int, int], ...] = ()  # the sentences an answer took, inside [start, end)


def _context_card(label: str, passage: Passage, language: str) -> str:
    snippet = shorten(passage.text, 280)
    return (f'<button type="button" class="vb-context-card" '
            f'{click_target("open", passage.source, passage.start, passage.end)}>'
            f'<span class="vb-context-label">{esc(label)} · {esc(location(passage, language))}</span>'
            f'<span class="vb-context-text">{esc(snippet)}</span></button>')


def panel_html(view: DocumentView, language: str) -> str:
    """The side panel: title, path, location, link to the original, the text with the passage marked."""
    length = len(view.text)
    if view.start is not None and view.end is not None:
        lo, hi = window(length, view.start, view.end)
        body = highlight(view.text[lo:hi], view.start - lo, view.end - lo,
                         quotes=[(a - lo, b - lo) for a, b in view.quotes])
    else:
        lo, hi = window(length, 0, 0)
        body = esc(view.text[lo:hi])
    body = ("… " if lo > 0 else "") + body + (" …" if hi < length else "")
    note = f'<p class="vb-note">{esc(t(language, "excerpt"))}</p>' if lo > 0 or hi < length else ""
    where = [location(view.passage, language)] if view.passage else []
    if view.page and not (view.passage and view.passage.page):
        where.insert(0, t(language, "page", page=view.page))
    where_html = f'<div class="vb-where">{esc(" · ".join(where))}</div>' if where else ""
    context = "".join(_context_card(t(language, key), p, language) for key, p in (
        ("context_before", view.previous), ("context_after", view.following)) if p is not None)
    context_html = f'<div class="vb-context">{context}</div>' if context else ""
    return (
        f'<section class="vb-panel" aria-label="{esc(t(language, "panel_title"))}">'
        f'<header class="vb-panel-head"><h3>{esc(view.title)}</h3>'
        f'<div class="vb-path">{esc(view.source)}</div>{where_html}'
        f'<a class="vb-original" href="{esc(file_url(view.source, view.page))}" target="_blank" '
        f'rel="noopener noreferrer">{esc(t(language, "open_original"))} ↗</a></header>'
        f'{note}<div class="vb-doc" tabindex="0">{body}</div>{context_html}</section>'
    )


def panel_message(message: str, language: str) -> str:
    """The side panel with a note instead of a document (nothing chosen yet, or an error)."""
    return (f'<section class="vb-panel" aria-label="{esc(t(language, "panel_title"))}">'
            f'<p class="vb-panel-empty">{esc(message)}</p></section>')


def header_html(language: str, documents: int | None = None, passages: int = 0, backend: str = "") -> str:
    """The page header: name, what it does, and (once the session has loaded) what is indexed."""
    head = f'<h1>Vraagbaak</h1><p class="vb-tagline">{esc(t(language, "tagline"))}</p>'
    if documents is None:
        return head
    status = esc(t(language, "status", documents=f"{documents:,}", passages=f"{passages:,}"))
    return (f'{head}<div class="vb-status">{status} · {esc(t(language, "backend"))}: '
            f'<b>{esc(backend)}</b></div>')


def report_html(report: Mapping[str, object] | None, language: str) -> str:
    """An ingest run's report: counts, passages, time, and each failure with its reason."""
    title = f'<h4>{esc(t(language, "report_title"))}</h4>'
    if not report:
        return f'<div class="vb-report">{title}<p>{esc(t(language, "report_none"))}</p></div>'
    failed = report.get("failed") or []
    assert isinstance(failed, list)
    counts = {key: len(failed) if key == "failed" else report.get(key, 0) for key in _COUNTS}
    chips = "".join(
        f'<span class="vb-chip vb-chip-{key}{" vb-chip-zero" if not value else ""}">'
        f'<b>{esc(value)}</b> {esc(t(language, "removed_count" if key == "removed" else key))}</span>'
        for key, value in counts.items())
    when = f'<span class="vb-when">{esc(report["started_at"])}</span>' if report.get("started_at") else ""
    seconds = report.get("seconds", 0)
    totals = esc(t(language, "report_totals", passages=f'{report.get("passages", 0):,}',
                   seconds=f"{seconds:.1f}" if isinstance(seconds, int | float) else seconds))
    rows = "".join(f'<tr><td class="vb-path">{esc(f.get("source", ""))}</td><td>{esc(f.get("reason", ""))}</td></tr>'
                   for f in failed)
    table = (f'<table class="vb-failed"><thead><tr><th>{esc(t(language, "failed_file"))}</th>'
             f'<th>{esc(t(language, "failed_reason"))}</th></tr></thead><tbody>{rows}</tbody></table>'
             if failed else "")
    return (f'<div class="vb-report">{title}<div class="vb-chips">{chips}</div>'
            f'<p class="vb-totals">{totals} {when}</p>{table}</div>')
