"""The chat page: ``create_app`` lays out and wires the Blocks (``vraagbaak.server`` serves it beside the doors)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.assistant import Assistant
from assistant.scope import years_and_types
from assistant.settings import UPLOAD_MAX_BYTES
from ui.assets import CHAT_JS, CLICK_JS, PANEL_JS
from ui.chat import Chat
from ui.document_table import SORT_KEYS, DocQuery, scope_choices, scope_year_choices, year_choices
from ui.documents import Library
from ui.format import header_html
from ui.i18n import LANGUAGES, pick_language, t
from ui.state import Prefs

THEME = gr.themes.Soft(
    primary_hue=gr.themes.colors.blue, neutral_hue=gr.themes.colors.slate,
    font=("ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"),
    font_mono=("ui-monospace", "SFMono-Regular", "Menlo", "monospace"),
)
PRIVATE: dict[str, Any] = {"api_visibility": "private"}


def detect_language(prefs: Prefs, request: gr.Request) -> tuple[Prefs, str]:
    """This session's language from the browser's Accept-Language header."""
    language = pick_language(request.headers.get("accept-language") if request else None)
    return Chat.set_language(prefs, language), language


def create_app(assistant: Assistant, *, uploads: Path | None = None,
               may_change: Callable[[str | None], bool] | None = None,
               upload_max_bytes: int = UPLOAD_MAX_BYTES) -> gr.Blocks:
    """The chat page over ``assistant``: Ask and Documents tabs, and a source panel beside them.

    Uploaded files are copied into ``uploads`` (default: ``uploads`` in the index's folder) and
    ingested from there; one over ``upload_max_bytes`` is refused. ``may_change`` tells by the
    signed-in user's name whether they may upload, sync and remove (default: everyone may, as on
    a page without sign-in).
    """
    chat = Chat(assistant)
    library = Library(assistant, assistant.data_dir / "uploads" if uploads is None else uploads,
                      may_change or (lambda user: True), max_bytes=upload_max_bytes)
    start = Prefs(k=assistant.top_k)
    lang = start.language
    records = list(assistant.documents().values())  # read once for the initial choices
    labels: list[tuple[gr.components.Component | gr.blocks.BlockContext, Callable[[str], dict[str, Any]]]] = []

    def labelled(component: Any, **keys: str) -> Any:
        """Register a component whose texts follow the session's language (attribute -> text key)."""
        labels.append((component, lambda language: {a: t(language, k) for a, k in keys.items()}))
        return component

    def sort_choices(language: str) -> list[tuple[str, str]]:
        return [(t(language, f"sort_{key}"), key) for key in SORT_KEYS]

    with gr.Blocks(title="Vraagbaak", analytics_enabled=False, fill_width=True) as demo:
        prefs = gr.State(start)
        turns = gr.State([])
        target = gr.State(None)
        docq = gr.State(DocQuery())
        header = gr.HTML(header_html(lang), elem_id="vb-header", js_on_load=None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                with gr.Tabs() as tabs:
                    with labelled(gr.Tab(t(lang, "tab_chat"), id="chat", elem_id="vb-tab-chat"), label="tab_chat"):
                        conversation = gr.HTML(chat.render([], start), js_on_load=CHAT_JS,
                                               elem_id="vb-conversation")
                        question = labelled(gr.Textbox(
                            label=t(lang, "question"), placeholder=t(lang, "question_placeholder"), lines=1,
                            max_lines=8, autofocus=True, elem_id="vb-question"),
                            label="question", placeholder="question_placeholder")
                        with gr.Row():
                            send = labelled(gr.Button(t(lang, "send"), variant="primary", scale=3,
                                                      elem_id="vb-send"), value="send")
                            clear = labelled(gr.Button(t(lang, "new_chat"), scale=1, elem_id="vb-clear"),
                                             value="new_chat")
                        scope = labelled(gr.Dropdown(
                            choices=scope_choices(records), value=[], multiselect=True,
                            allow_custom_value=True, label=t(lang, "scope"),
                            info=t(lang, "scope_info"), elem_id="vb-scope"), label="scope", info="scope_info")
                        years, types = years_and_types(records)
                        with gr.Row():
                            scope_years = labelled(gr.Dropdown(
                                choices=scope_year_choices(years), value=[], multiselect=True,
                                label=t(lang, "scope_years"), info=t(lang, "scope_years_info"),
                                visible=bool(years), elem_id="vb-scope-years"),
                                label="scope_years", info="scope_years_info")
                            scope_types = labelled(gr.Dropdown(
                                choices=types, value=[], multiselect=True, label=t(lang, "scope_types"),
                                info=t(lang, "scope_types_info"), elem_id="vb-scope-types"),
                                label="scope_types", info="scope_types_info")
                        with labelled(gr.Accordion(t(lang, "settings"), open=False, elem_id="vb-settings"),
                                      label="settings"):
                            with gr.Row():
                                k = labelled(gr.Slider(1, 20, value=start.k, step=1, label=t(lang, "k"),
                                                       elem_id="vb-k"), label="k")
                                scores = labelled(gr.Checkbox(start.show_scores, label=t(lang, "show_scores"),
                                                              elem_id="vb-scores"), label="show_scores")
                            with gr.Row():
                                language = labelled(gr.Radio(
                                    [(name, code) for code, name in LANGUAGES.items()], value=lang,
                                    label=t(lang, "language"), elem_id="vb-language"), label="language")
                                labelled(gr.Textbox(assistant.backend, label=t(lang, "backend"), interactive=False,
                                                    elem_id="vb-backend"), label="backend")
                    with labelled(gr.Tab(t(lang, "tab_documents"), id="documents", elem_id="vb-tab-documents"),
                                  label="tab_documents"):
                        with gr.Row(equal_height=False):
                            upload = labelled(gr.File(
                                file_count="multiple", file_types=list(assistant.file_types), height=170,
                                label=t(lang, "upload"), elem_id="vb-upload"), label="upload")
                            with gr.Column():
                                sync = labelled(gr.Button(t(lang, "sync"), elem_id="vb-sync"), value="sync")
                                labelled(gr.HTML(t(lang, "sync_info"), elem_id="vb-sync-note", js_on_load=None),
                                         value="sync_info")
                                report = gr.HTML(elem_id="vb-report", js_on_load=None)
                        with gr.Row(equal_height=True):
                            search = labelled(gr.Textbox(label=t(lang, "search"), scale=2, elem_id="vb-search"),
                                              label="search")
                            doc_type = labelled(gr.Dropdown([(t(lang, "all_types"), "")], value="",
                                                            label=t(lang, "doc_type"), scale=1,
                                                            elem_id="vb-type"), label="doc_type")
                            doc_year = labelled(gr.Dropdown(year_choices(years, lang), value="",
                                                            label=t(lang, "doc_year"), scale=1,
                                                            elem_id="vb-year"), label="doc_year")
                            sort = labelled(gr.Dropdown(sort_choices(lang), value="title", label=t(lang, "sort"),
                                                        scale=1, elem_id="vb-sort"), label="sort")
                            descending = labelled(gr.Checkbox(False, label=t(lang, "descending"), scale=1,
                                                              elem_id="vb-descending"), label="descending")
                        table = gr.HTML(js_on_load=CLICK_JS, elem_id="vb-documents")
                        with gr.Row(elem_id="vb-pager"):
                            previous = labelled(gr.Button(t(lang, "previous"), size="sm", scale=0,
                                                          elem_id="vb-previous"), value="previous")
                            pager = gr.HTML(elem_id="vb-page-label", js_on_load=None)
                            following = labelled(gr.Button(t(lang, "next"), size="sm", scale=0,
                                                           elem_id="vb-next"), value="next")
            with gr.Column(scale=2, min_width=360, elem_id="vb-side"):
                panel = gr.HTML(chat.panel(None, start), js_on_load=PANEL_JS, elem_id="vb-panel")

        views = [header, scope, scope_years, scope_types, doc_type, doc_year, report]
        # the steps that read or write the table's query (a State, read when a step runs) run one at
        # a time in the order sent: a redraw begun before the user changed the filter can neither
        # finish over the filtered table nor write its old query back (all cheap; views stay apart)
        redraw: dict[str, Any] = {"concurrency_id": "documents-table", "concurrency_limit": 1, **PRIVATE}

        def relabel(p: Prefs) -> list[Any]:
            updates = [gr.update(**texts(p.language)) for _, texts in labels]
            updates[[c for c, _ in labels].index(sort)]["choices"] = sort_choices(p.language)
            return updates

        def follow_language(event: Any) -> Any:
            """Re-render everything that shows text after the session's language is set."""
            return (event.then(relabel, prefs, [c for c, _ in labels], **PRIVATE)
                    .then(chat.render, [turns, prefs], conversation, **PRIVATE)
                    .then(chat.panel, [target, prefs], panel, **PRIVATE)
                    .then(library.views, [prefs, scope], views, **PRIVATE)
                    .then(library.table, [docq, prefs], [table, pager, docq], **redraw))

        def after_index_change(event: Any) -> Any:
            return (event.then(library.views, [prefs, scope], views, **PRIVATE)
                    .then(library.table, [docq, prefs], [table, pager, docq], **redraw)
                    .then(chat.render, [turns, prefs], conversation, **PRIVATE))

        follow_language(demo.load(detect_language, prefs, [prefs, language], **PRIVATE))
        follow_language(language.input(Chat.set_language, [prefs, language], prefs, **PRIVATE))
        k.input(Chat.set_k, [prefs, k], prefs, **PRIVATE)
        scores.input(Chat.set_scores, [prefs, scores], prefs, **PRIVATE).then(
            chat.render, [turns, prefs], conversation, **PRIVATE)

        ask = ([question, turns, prefs, scope, scope_years, scope_types, k, scores], [conversation, question, turns])
        # the conversation shows its own progress ("searching…", then the streaming text)
        send.click(chat.ask, *ask, api_name="ask", concurrency_limit=2, show_progress="hidden")
        question.submit(chat.ask, *ask, concurrency_limit=2, show_progress="hidden", **PRIVATE)
        clear.click(chat.clear, prefs, [conversation, turns], **PRIVATE)
        conversation.click(chat.open, prefs, [panel, target], **PRIVATE)
        panel.click(chat.open, prefs, [panel, target], **PRIVATE)

        after_index_change(table.click(library.click, [prefs, scope], [panel, target, scope, tabs], **PRIVATE))
        after_index_change(upload.upload(library.upload, [upload, prefs], [report, upload], **PRIVATE))
        after_index_change(sync.click(library.sync, prefs, report, **PRIVATE))
        gr.on([search.change, doc_type.input, doc_year.input, sort.input, descending.input], Library.query,
              [search, doc_type, doc_year, sort, descending], docq, trigger_mode="always_last", **redraw).then(
            library.table, [docq, prefs], [table, pager, docq], **redraw)
        for button, step in ((previous, Library.previous_page), (following, Library.next_page)):
            button.click(step, docq, docq, **redraw).then(library.table, [docq, prefs], [table, pager, docq],
                                                           **redraw)
    return demo
